import type { EvaluationInput, Finding } from './types';
import { humanDuration, isGood, jobFinding, localDateTime, median } from './util';

/**
 * A backup still 'running' past min(timeout, runningFactor × median successful duration).
 * The median is trusted only with minRunsForAnomaly runs; before that only the timeout counts.
 * A timeout of 0 means none.
 */
export function runningTooLong(input: EvaluationInput, now: number): Finding[] {
  const { runningFactor, minRunsForAnomaly } = input.config;
  const out: Finding[] = [];
  for (const job of input.jobs) {
    const run = job.lastBackup;
    if (!run || run.status !== 'running') continue;
    const durations = job.recentBackups.filter(isGood).flatMap((r) => (r.durationMs === null ? [] : [r.durationMs]));
    const med = durations.length >= minRunsForAnomaly ? median(durations) : null;
    const timeout = job.timeoutMs > 0 ? job.timeoutMs : Number.POSITIVE_INFINITY;
    const limit = Math.min(timeout, med === null ? Number.POSITIVE_INFINITY : runningFactor * med);
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
