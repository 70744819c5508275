import type { EvaluationInput, Finding } from './types';
import { humanBytes, humanDuration, isGood, jobFinding, localDateTime, median } from './util';

/**
 * The newest good backup compared with the median of the previous good ones (at least
 * minRunsForAnomaly of them): size (bytesTotal, else bytesAdded) changed by more than
 * sizeChangeShare in either direction — a drop suggests a broken source, growth ransomware
 * or a new data dump — or duration above durationFactor × median. Exactly at the share is fine.
 */
export function anomalies(input: EvaluationInput, now: number): Finding[] {
  const { sizeChangeShare, durationFactor, minRunsForAnomaly } = input.config;
  const out: Finding[] = [];
  for (const job of input.jobs) {
    const good = job.recentBackups.filter(isGood);
    const [newest, ...previous] = good;
    if (!newest || previous.length < minRunsForAnomaly) continue;
    const at = newest.finishedAt ?? newest.startedAt;
    const field = newest.bytesTotal !== null ? 'bytesTotal' : newest.bytesAdded !== null ? 'bytesAdded' : null;
    if (field) {
      const sizes = previous.flatMap((r) => (r[field] === null ? [] : [r[field] as number]));
      const med = sizes.length >= minRunsForAnomaly ? median(sizes) : null;
      const value = newest[field] as number;
      if (med !== null && med > 0 && Math.abs(value - med) / med > sizeChangeShare) {
        const grew = value > med;
        const share = Math.round((Math.abs(value - med) / med) * 100);
        out.push(
          jobFinding('size-anomaly', job, {
            title: `${job.job} on ${job.agent} ${grew ? 'grew' : 'shrank'} by ${share}%`,
            detail:
              `The backup at ${localDateTime(at, job.timezone)} ${field === 'bytesTotal' ? 'is' : 'added'} ${humanBytes(value)}, against a median of ${humanBytes(med)} over the previous ${sizes.length} runs. ` +
              (grew ? 'Look for mass-changed files (ransomware encrypts everything) or a new large data set.' : 'Look for an empty or unmounted source, or excluded paths.'),
            since: at,
          }),
        );
      }
    }
    const durations = previous.flatMap((r) => (r.durationMs === null ? [] : [r.durationMs]));
    const medDur = durations.length >= minRunsForAnomaly ? median(durations) : null;
    if (newest.durationMs !== null && medDur !== null && medDur > 0 && newest.durationMs > durationFactor * medDur) {
      out.push(
        jobFinding('duration-anomaly', job, {
          title: `${job.job} on ${job.agent} took ${humanDuration(newest.durationMs)}`,
          detail: `The backup at ${localDateTime(at, job.timezone)} took ${humanDuration(newest.durationMs)}, more than ${durationFactor}× the median ${humanDuration(medDur)}. Check the target ${job.target.name} and the network.`,
          since: at,
        }),
      );
    }
  }
  return out;
}
