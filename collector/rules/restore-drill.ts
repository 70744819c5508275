import type { EvaluationInput, Finding, NextCheckAt } from './types';
import { nextOverdueAt, overdueFinding, overdueSince } from './verification';
import { humanDuration, isCopyJob, isFailed, jobFinding, localDateTime } from './util';

/**
 * The newest restore drill failed ('restore-drill-failed'), succeeded but took longer than the
 * tier's RTO ('restore-drill-slow'; exactly the RTO is within), or none ran since its last due
 * time + verifyGraceMs ('restore-drill-overdue'). Server (maintenance) jobs have no copy to restore.
 */
export const restoreDrillCheckAt: NextCheckAt = (job, input, now) => nextOverdueAt(job, job.restoreTestSchedule, input.config.verifyGraceMs, now);

export function restoreDrill(input: EvaluationInput, now: number): Finding[] {
  const out: Finding[] = [];
  for (const job of input.jobs) {
    if (!job.restoreTestSchedule || !isCopyJob(job)) continue;
    const last = job.lastRestoreTest;
    const rtoMs = input.tiers[job.tier].rtoMs;
    if (last && last.finishedAt !== null) {
      if (isFailed(last)) {
        out.push(
          jobFinding('restore-drill-failed', job, {
            title: `Restore drill of ${job.job} on ${job.agent} failed`,
            detail: `Restoring from ${job.target.name} ${last.status === 'timeout' ? 'timed out' : 'failed'} at ${localDateTime(last.finishedAt, job.timezone)}: this backup may not be restorable. ${last.error ? `Error: ${last.error}` : 'See the run log.'}`,
            since: last.finishedAt,
          }),
        );
      } else if (last.durationMs !== null && last.durationMs > rtoMs && (last.status === 'success' || last.status === 'warning')) {
        out.push(
          jobFinding('restore-drill-slow', job, {
            title: `Restore drill of ${job.job} on ${job.agent} took longer than its RTO`,
            detail: `The drill from ${job.target.name} at ${localDateTime(last.finishedAt, job.timezone)} took ${humanDuration(last.durationMs)}; tier ${job.tier} RTO is ${humanDuration(rtoMs)}. Consider a faster or closer target.`,
            since: last.finishedAt,
          }),
        );
      }
    }
    const due = overdueSince(job, job.restoreTestSchedule, last, input.config.verifyGraceMs, now);
    if (due !== null) out.push(overdueFinding('restore-drill-overdue', 'Restore drill', job, job.restoreTestSchedule, last, due, input.config.verifyGraceMs));
  }
  return out;
}
