import type { EvaluationInput, Finding, JobView, NextCheckAt } from './types';
import { CHECK_DRIVER } from './types';
import { humanDuration, isCopyJob, isDerived, jobFinding, lastSuccessText, localDateTime, localTime, nextDue } from './util';

/** The job's own grace (a check's `grace`), else the collector's. */
const graceOf = (job: JobView, input: EvaluationInput) => job.graceMs ?? input.config.graceMs;

/** The run due after the last start, once its grace has passed. */
export const missedRunCheckAt: NextCheckAt = (job, input) => {
  if (isDerived(job)) return Infinity;
  const due = nextDue(job.schedule, job.lastBackup?.startedAt ?? job.knownSince, job.timezone);
  return due === null ? Infinity : due + graceOf(job, input) + 1;
};

/**
 * The dead man's switch: the run due after the last run start (or after the collector first
 * saw the job) has not started within the grace. It fires for a dead agent too, because it
 * needs nothing from the agent. Strictly after the grace: a run at due + grace is on time.
 */
export function missedRun(input: EvaluationInput, now: number): Finding[] {
  const out: Finding[] = [];
  for (const job of input.jobs) {
    if (isDerived(job)) continue; // the link job is judged itself
    const from = job.lastBackup?.startedAt ?? job.knownSince;
    const due = nextDue(job.schedule, from, job.timezone);
    const grace = graceOf(job, input);
    if (due === null || now <= due + grace) continue;
    const last = job.lastBackup
      ? `The last run started ${localDateTime(job.lastBackup.startedAt, job.timezone)} (${job.lastBackup.status}); ${lastSuccessText(job, now)}.`
      : `It has never run since the collector first saw it at ${localDateTime(job.knownSince, job.timezone)}.`;
    out.push(
      jobFinding('missed-run', job, {
        title: `${job.job} on ${job.agent} missed its ${localTime(due, job.timezone)} run`,
        detail: `Due ${localDateTime(due, job.timezone)} (schedule "${job.schedule}"), nothing started within the ${humanDuration(grace)} grace. ${last} ${whatToCheck(job)}`,
        since: due,
      }),
    );
  }
  return out;
}

function whatToCheck(job: JobView): string {
  // A check has no agent: whatever pings it (cron, borgmatic, a NAS task) stopped, or cannot reach us.
  if (job.driver === CHECK_DRIVER) return `Check that whatever pings ${job.job} still runs and can reach the collector.`;
  return `Check that the agent ${job.agent} is running and can reach the collector` + (isCopyJob(job) ? '.' : `, and that the server still runs this ${job.driver} job (its task list).`);
}
