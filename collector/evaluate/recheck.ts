import { nextRunMs } from '../../shared/schedule';
import { retryWaitUntil } from '../rules/failed-run';
import type { JobView, RulesConfig, Tier, TierPolicyView } from '../rules/types';

const HOUR = 3_600_000;

const next = (schedule: string | null, after: number, tz: string): number => {
  if (!schedule) return Infinity;
  try {
    return nextRunMs(schedule, after, tz) ?? Infinity;
  } catch {
    return Infinity;
  }
};

/**
 * When a job's findings can next change with no new report: its next run's deadline, its copy
 * going past the RPO, a running backup hitting its limit, a check or drill falling due — or
 * within `maxWaitMs` at the latest (anomalies, retention and 3-2-1 of other copies). Pure.
 */
export function recheckAt(job: JobView, tiers: Record<Tier, TierPolicyView>, config: RulesConfig, now: number, maxWaitMs = HOUR): number {
  const lastStart = job.lastBackup?.startedAt ?? job.knownSince;
  const candidates = [
    next(job.schedule, lastStart, job.timezone) + config.graceMs + 1,
    (job.lastSuccess ?? job.knownSince) + tiers[job.tier].rpoMs + 1,
    job.lastBackup?.status === 'running' && job.timeoutMs > 0 ? job.lastBackup.startedAt + job.timeoutMs + 1 : Infinity,
    (retryWaitUntil(job, { tiers, config }) ?? Infinity) + 1,
    next(job.verifySchedule, job.lastVerify?.startedAt ?? job.knownSince, job.timezone) + config.verifyGraceMs + 1,
    next(job.restoreTestSchedule, job.lastRestoreTest?.startedAt ?? job.knownSince, job.timezone) + config.verifyGraceMs + 1,
    now + maxWaitMs,
  ];
  // A deadline already behind us is re-checked on the next pass.
  return Math.max(now + 1, Math.min(...candidates));
}
