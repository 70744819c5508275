import type { EvaluationInput, Finding, RunView } from './types';
import { isFailed, jobFinding, lastSuccessText, localDateTime } from './util';

function errorText(run: RunView): string {
  return run.error ? `Error: ${run.error}` : 'The tool gave no error text; see the run log.';
}

/**
 * The newest finished backup failed or timed out ('failed-run'), or ended with a warning
 * ('backup-warning', lower severity); the newest prune failed ('prune-failed': retention is
 * not applied). Skipped runs (e.g. a lock held) neither raise nor clear a failure.
 */
export function failedRun(input: EvaluationInput, now: number): Finding[] {
  const out: Finding[] = [];
  for (const job of input.jobs) {
    const newest = job.lastOutcome;
    if (newest && newest.finishedAt !== null && (isFailed(newest) || newest.status === 'warning')) {
      const when = localDateTime(newest.finishedAt, job.timezone);
      if (isFailed(newest)) {
        const verb = newest.status === 'timeout' ? 'timed out' : 'failed';
        out.push(
          jobFinding('failed-run', job, {
            title: `${job.job} on ${job.agent} ${verb}`,
            detail: `The backup to ${job.target.name} ${verb} at ${when}. ${errorText(newest)} ${capitalize(lastSuccessText(job, now))}.`,
            since: newest.finishedAt,
          }),
        );
      } else if (newest.status === 'warning') {
        out.push(
          jobFinding('backup-warning', job, {
            title: `${job.job} on ${job.agent} finished with warnings`,
            detail: `The backup to ${job.target.name} at ${when} completed with warnings (some files may be missing). ${newest.error ? `Tool said: ${newest.error}` : 'See the run log.'}`,
            since: newest.finishedAt,
          }),
        );
      }
    }
    const prune = job.lastPrune;
    if (prune && isFailed(prune) && prune.finishedAt !== null) {
      out.push(
        jobFinding('prune-failed', job, {
          title: `Prune of ${job.job} on ${job.agent} failed`,
          detail: `Retention was not applied at ${job.target.name} (${localDateTime(prune.finishedAt, job.timezone)}): old snapshots pile up. ${errorText(prune)}`,
          since: prune.finishedAt,
        }),
      );
    }
  }
  return out;
}

function capitalize(s: string): string {
  return s.charAt(0).toUpperCase() + s.slice(1);
}
