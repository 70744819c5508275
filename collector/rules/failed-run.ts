import type { EvaluationInput, Finding, JobView, NextCheckAt, RunView } from './types';
import { isCopyJob, isDerived, isFailed, jobFinding, lastSuccessText, localDateTime } from './util';

function errorText(run: RunView): string {
  return run.error ? `Error: ${run.error}` : 'The tool gave no error text; see the run log.';
}

/**
 * Until when a failed backup waits for the retry its agent planned (the retry's time + grace),
 * or null when it does not wait: no retry planned, or waiting would break the RPO (the newest
 * good copy goes past it before the retry is due). Past that moment the failure is raised.
 */
export function retryWaitUntil(job: JobView, input: Pick<EvaluationInput, 'tiers' | 'config'>): number | null {
  const failed = job.lastOutcome;
  if (!failed || !isFailed(failed) || failed.retryAt === null || failed.retryAt === undefined) return null;
  const rpoBreaksAt = (job.lastSuccess ?? job.knownSince) + input.tiers[job.tier].rpoMs;
  if (rpoBreaksAt <= failed.retryAt) return null;
  return failed.retryAt + input.config.graceMs;
}

/**
 * The newest finished backup failed or timed out ('failed-run'), or ended with a warning
 * ('backup-warning', lower severity); the newest prune failed ('prune-failed': retention is
 * not applied). Skipped runs (e.g. a lock held) neither raise nor clear a failure. A failed
 * attempt with a planned retry raises nothing until the retry is overdue (see retryWaitUntil):
 * the operator hears of a failure when the last attempt has failed.
 */
/** A failure waiting for its retry is raised once the wait is over. */
export const failedRunCheckAt: NextCheckAt = (job, input) => (retryWaitUntil(job, input) ?? Infinity) + 1;

export function failedRun(input: EvaluationInput, now: number): Finding[] {
  const out: Finding[] = [];
  for (const job of input.jobs) {
    if (isDerived(job)) continue; // the link job is judged itself
    const newest = job.lastOutcome;
    if (newest && newest.finishedAt !== null && (isFailed(newest) || newest.status === 'warning')) {
      const when = localDateTime(newest.finishedAt, job.timezone);
      const wait = retryWaitUntil(job, input);
      if (isFailed(newest) && (wait === null || now > wait)) {
        const verb = newest.status === 'timeout' ? 'timed out' : 'failed';
        const attempts = (newest.attempt ?? 1) > 1 ? ` (attempt ${newest.attempt}: the earlier attempts failed too)` : '';
        const overdue = wait !== null ? ` A retry was planned for ${localDateTime(newest.retryAt!, job.timezone)} and has not reported.` : '';
        out.push(
          jobFinding('failed-run', job, {
            title: `${job.job} on ${job.agent} ${verb}`,
            detail: `${runText(job)} ${verb} at ${when}${attempts}.${overdue} ${errorText(newest)} ${capitalize(lastSuccessText(job, now))}.`,
            since: newest.finishedAt,
          }),
        );
      } else if (newest.status === 'warning') {
        out.push(
          jobFinding('backup-warning', job, {
            title: `${job.job} on ${job.agent} finished with warnings`,
            detail: `${runText(job)} at ${when} completed with warnings${isCopyJob(job) ? ' (some files may be missing)' : ''}. ${newest.error ? `Tool said: ${newest.error}` : 'See the run log.'}`,
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

/** "The backup to usb-ssd", or for a server job "The pbs-verify job on datastore-store1 (target pbs1)". */
function runText(job: JobView): string {
  return isCopyJob(job) ? `The backup to ${job.target.name}` : `The ${job.driver} job on ${job.asset} (target ${job.target.name})`;
}

function capitalize(s: string): string {
  return s.charAt(0).toUpperCase() + s.slice(1);
}
