import type { EvaluationInput, Finding, JobView, NextCheckAt, RulesConfig } from './types';
import { humanDuration, isGood, jobFinding, localDateTime, median } from './util';

/**
 * A backup still 'running' past min(timeout, runningFactor × median successful duration).
 * The median is trusted only with minRunsForAnomaly runs; before that only the timeout counts.
 * A timeout of 0 means none.
 */
/** How long the job's running backup may run: its timeout, or runningFactor × its median, if lower. */
function runningLimit(job: JobView, config: RulesConfig): { limit: number; med: number | null; timeout: number } {
  const durations = [...job.recentBackups].filter(isGood).flatMap((r) => (r.durationMs === null ? [] : [r.durationMs]));
  const med = durations.length >= config.minRunsForAnomaly ? median(durations) : null;
  const timeout = job.timeoutMs > 0 ? job.timeoutMs : Number.POSITIVE_INFINITY;
  return { limit: Math.min(timeout, med === null ? Number.POSITIVE_INFINITY : config.runningFactor * med), med, timeout };
}

export const runningTooLongCheckAt: NextCheckAt = (job, input) =>
  job.lastBackup?.status === 'running' ? job.lastBackup.startedAt + runningLimit(job, input.config).limit + 1 : Infinity;

export function runningTooLong(input: EvaluationInput, now: number): Finding[] {
  const { runningFactor } = input.config;
  const out: Finding[] = [];
  for (const job of input.jobs) {
    const run = job.lastBackup;
    if (!run || run.status !== 'running') continue;
    const { limit, med, timeout } = runningLimit(job, input.config);
    if (!Number.isFinite(limit) || now - run.startedAt <= limit) continue;
    const why =
      med !== null && runningFactor * med < timeout
        ? `${runningFactor}× its median duration of ${humanDuration(med)}`
        : `its timeout of ${humanDuration(job.timeoutMs)}`;
    out.push(
      jobFinding('running-too-long', job, {
        title: `${job.job} on ${job.agent} has been running for ${humanDuration(now - run.startedAt)}`,
        detail: `Run ${run.runId} started ${localDateTime(run.startedAt, job.timezone)} and is still running, longer than ${why}. Look for a hung process, a lock or a slow target (${job.target.name}).`,
        since: run.startedAt + limit,
      }),
    );
  }
  return out;
}
