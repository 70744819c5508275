import type { BackupSummaries, BackupSummary, EvaluationInput, Finding } from './types';
import { humanBytes, humanDuration, isCopyJob, isGood, jobFinding, localDateTime, median } from './util';

/**
 * The newest good backup compared with the median of the previous good ones (at least
 * minRunsForAnomaly of them): size (bytesTotal, else bytesAdded) changed by more than
 * sizeChangeShare in either direction — a drop suggests a broken source, growth ransomware
 * or a new data dump — or duration above durationFactor × median. Exactly at the share is fine.
 * A server (maintenance) job's size is no backup's: only its duration is judged.
 */
export function anomalies(input: EvaluationInput, now: number): Finding[] {
  const { sizeChangeShare, durationFactor, minRunsForAnomaly } = input.config;
  const out: Finding[] = [];
  for (const job of input.jobs) {
    const m = mediansOf(job.recentBackups, minRunsForAnomaly);
    if (!m) continue;
    const { newest, field, sizes, sizeMedian: med, durationMedian: medDur } = m;
    const at = newest.finishedAt ?? newest.startedAt;
    if (field && med !== null && med > 0 && isCopyJob(job)) {
      const value = newest[field] as number;
      if (Math.abs(value - med) / med > sizeChangeShare) {
        const grew = value > med;
        const share = Math.round((Math.abs(value - med) / med) * 100);
        out.push(
          jobFinding('size-anomaly', job, {
            title: `${job.job} on ${job.agent} ${grew ? 'grew' : 'shrank'} by ${share}%`,
            detail:
              `The backup at ${localDateTime(at, job.timezone)} ${field === 'bytesTotal' ? 'is' : 'added'} ${humanBytes(value)}, against a median of ${humanBytes(med)} over the previous ${sizes} runs. ` +
              (grew ? 'Look for mass-changed files (ransomware encrypts everything) or a new large data set.' : 'Look for an empty or unmounted source, or excluded paths.'),
            since: at,
          }),
        );
      }
    }
    if (newest.durationMs !== null && medDur !== null && medDur > 0 && newest.durationMs > durationFactor * medDur) {
      out.push(
        jobFinding('duration-anomaly', job, {
          title: `${job.job} on ${job.agent} took ${humanDuration(newest.durationMs)}`,
          detail: `The ${isCopyJob(job) ? 'backup' : 'run'} at ${localDateTime(at, job.timezone)} took ${humanDuration(newest.durationMs)}, more than ${durationFactor}× the median ${humanDuration(medDur)}. Check the target ${job.target.name} and the network.`,
          since: at,
        }),
      );
    }
  }
  return out;
}

interface Medians {
  newest: BackupSummary;
  field: 'bytesTotal' | 'bytesAdded' | null;
  /** Previous runs with a size. */
  sizes: number;
  /** Trusted medians (enough runs), else null. */
  sizeMedian: number | null;
  durationMedian: number | null;
}

// The medians depend only on the run list (the gatherer hands the same one again until the
// job's history changes): remembered with the minimum they were taken for (one setting), so an
// unchanged job costs a lookup per pass.
const medians = new WeakMap<BackupSummaries, { minRuns: number; m: Medians | null }>();

function mediansOf(recent: BackupSummaries, minRuns: number): Medians | null {
  const known = medians.get(recent);
  if (known?.minRuns === minRuns) return known.m;
  const m = computeMedians(recent, minRuns);
  medians.set(recent, { minRuns, m });
  return m;
}

function computeMedians(recent: BackupSummaries, minRuns: number): Medians | null {
  const good = [...recent].filter(isGood);
  const newest = good[0];
  if (!newest || good.length - 1 < minRuns) return null;
  const field = newest.bytesTotal !== null ? 'bytesTotal' : newest.bytesAdded !== null ? 'bytesAdded' : null;
  // Plain loops: a first pass computes this for every job.
  const sizes: number[] = [];
  const durations: number[] = [];
  for (let k = 1; k < good.length; k++) {
    const size = field ? good[k][field] : null;
    if (size !== null) sizes.push(size);
    if (good[k].durationMs !== null) durations.push(good[k].durationMs!);
  }
  return {
    newest,
    field,
    sizes: sizes.length,
    sizeMedian: sizes.length >= minRuns ? median(sizes) : null,
    durationMedian: durations.length >= minRuns ? median(durations) : null,
  };
}
