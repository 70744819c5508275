import type { EvaluationInput, Finding, JobView, NextCheckAt, RuleName, RunView } from './types';
import { humanDuration, isCopyJob, isFailed, jobFinding, localDateTime, nextDue, previousDue } from './util';

/**
 * When a scheduled check (verify or restore drill) is overdue: the newest scheduled time at or
 * before now − grace that is after the job became known, if no run started at or after it.
 */
export function overdueSince(job: JobView, schedule: string, last: RunView | null, graceMs: number, now: number): number | null {
  // "- 1": a check exactly at due + grace is still on time, as for missed runs.
  const due = previousDue(schedule, now - graceMs - 1, job.timezone);
  if (due === null || due < job.knownSince) return null;
  if (last && last.startedAt >= due) return null;
  return due;
}

/** When overdueSince moves to the next scheduled time (it names the newest due before now − grace). */
export function nextOverdueAt(job: JobView, schedule: string | null, graceMs: number, now: number): number {
  if (!schedule || !isCopyJob(job)) return Infinity;
  const due = nextDue(schedule, now - graceMs - 1, job.timezone);
  return due === null ? Infinity : due + graceMs + 1;
}

export const verificationCheckAt: NextCheckAt = (job, input, now) => nextOverdueAt(job, job.verifySchedule, input.config.verifyGraceMs, now);

export function overdueFinding(rule: RuleName, what: string, job: JobView, schedule: string, last: RunView | null, due: number, graceMs: number): Finding {
  return jobFinding(rule, job, {
    title: `${what} of ${job.job} on ${job.agent} is overdue`,
    detail:
      `Due ${localDateTime(due, job.timezone)} (schedule "${schedule}", grace ${humanDuration(graceMs)}); ` +
      (last ? `the last one started ${localDateTime(last.startedAt, job.timezone)} (${last.status}).` : 'none has ever run.'),
    since: due + graceMs,
  });
}

/**
 * The newest verify failed ('verify-failed'), or none ran since its last due time + verifyGraceMs.
 * A server (maintenance) job is no copy to check: a PBS verify job's own failure is its failed run.
 */
export function verification(input: EvaluationInput, now: number): Finding[] {
  const out: Finding[] = [];
  for (const job of input.jobs) {
    if (!job.verifySchedule || !isCopyJob(job)) continue;
    const last = job.lastVerify;
    if (last && isFailed(last) && last.finishedAt !== null) {
      out.push(
        jobFinding('verify-failed', job, {
          title: `Verification of ${job.job} on ${job.agent} failed`,
          detail: `The integrity check of ${job.target.name} ${last.status === 'timeout' ? 'timed out' : 'failed'} at ${localDateTime(last.finishedAt, job.timezone)}: the repository may be damaged. ${last.error ? `Error: ${last.error}` : 'See the run log.'}`,
          since: last.finishedAt,
        }),
      );
    }
    const due = overdueSince(job, job.verifySchedule, last, input.config.verifyGraceMs, now);
    if (due !== null) out.push(overdueFinding('verify-overdue', 'Verification', job, job.verifySchedule, last, due, input.config.verifyGraceMs));
  }
  return out;
}
