import type { EvaluationInput, Finding, NextCheckAt } from './types';
import { humanDuration, isCopyJob, isDerived, jobFinding, lastSuccessText, localDateTime, localTime, nextDue } from './util';

/**
 * The dead man's switch: the run due after the last run start (or after the collector first
 * saw the job) has not started within the grace. It fires for a dead agent too, because it
 * needs nothing from the agent. Strictly after the grace: a run at due + grace is on time.
 */
/** The run due after the last start, once its grace has passed. */
export const missedRunCheckAt: NextCheckAt = (job, input) => {
  if (isDerived(job)) return Infinity;
  const due = nextDue(job.schedule, job.lastBackup?.startedAt ?? job.knownSince, job.timezone);
  return due === null ? Infinity : due + input.config.graceMs + 1;
};

export function missedRun(input: EvaluationInput, now: number): Finding[] {
  const out: Finding[] = [];
  for (const job of input.jobs) {
    if (isDerived(job)) continue; // the link job is judged itself
    const from = job.lastBackup?.startedAt ?? job.knownSince;
    const due = nextDue(job.schedule, from, job.timezone);
    if (due === null || now <= due + input.config.graceMs) continue;
    const last = job.lastBackup
      ? `The last run started ${localDateTime(job.lastBackup.startedAt, job.timezone)} (${job.lastBackup.status}); ${lastSuccessText(job, now)}.`
      : `It has never run since the collector first saw it at ${localDateTime(job.knownSince, job.timezone)}.`;
    out.push(
      jobFinding('missed-run', job, {
        title: `${job.job} on ${job.agent} missed its ${localTime(due, job.timezone)} run`,
        detail:
          `Due ${localDateTime(due, job.timezone)} (schedule "${job.schedule}"), nothing started within the ` +
          `${humanDuration(input.config.graceMs)} grace. ${last} Check that the agent ${job.agent} is running and can reach the collector` +
          (isCopyJob(job) ? '.' : `, and that the server still runs this ${job.driver} job (its task list).`),
        since: due,
      }),
    );
  }
  return out;
}
