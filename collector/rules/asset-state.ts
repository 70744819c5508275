import type { EvaluationInput, JobView, TargetView, Tier } from './types';
import { assetTier, copiesByAsset, isCopyJob } from './util';

/**
 * The state of one asset's copies at `now`: what the RPO and 3-2-1 rules judge, as numbers the
 * status page, the JSON API and the metrics show. One function, so the page never disagrees
 * with the alerts.
 */
export interface AssetState {
  asset: string;
  tier: Tier;
  rpoMs: number;
  rtoMs: number;
  /** The job whose last success is the newest good copy; null when none ever succeeded. */
  newest: JobView | null;
  /** now − newest good copy; null when none. */
  ageMs: number | null;
  /** Newest good copy within the RPO (exactly at the RPO still counts). */
  rpoOk: boolean;
  copies: CopyCount;
  /** Every job of the asset given, server (maintenance) jobs included; only copy jobs count above. */
  jobs: readonly JobView[];
}

export interface CopyCount {
  /** The original plus distinct targets holding a fresh (within RPO) good copy. */
  copies: number;
  /** Distinct media kinds among the original and the fresh copies. */
  media: string[];
  /** Fresh copies at off-site targets. */
  offsite: number;
  /** 3 copies, 2 media, 1 off-site. */
  ok: boolean;
  /** What is missing, in words ("2 of 3 copies", "no off-site copy"). */
  missing: string[];
  /** Targets with a fresh copy. */
  freshTargets: TargetView[];
  /** Jobs whose copy is stale or never succeeded. */
  stale: JobView[];
}

export function isFresh(job: JobView, rpoMs: number, now: number): boolean {
  return job.lastSuccess !== null && now - job.lastSuccess <= rpoMs;
}

/**
 * When the job's copy goes past its asset's RPO (or, never having succeeded, when the RPO has
 * passed since the job became known): the moment isFresh and the RPO rules change their answer.
 */
export function freshUntil(job: JobView, input: EvaluationInput): number {
  return (job.lastSuccess ?? job.knownSince) + input.tiers[assetTier(input, job.asset)].rpoMs + 1;
}

/** 3-2-1 counting for one asset's jobs; only copies fresh within `rpoMs` count. */
export function countCopies(jobs: readonly JobView[], rpoMs: number, now: number, sourceMedia = 'disk'): CopyCount {
  const fresh = jobs.filter((j) => isFresh(j, rpoMs, now));
  const targets = new Map(fresh.map((j) => [j.target.name, j.target]));
  const freshTargets = [...targets.values()];
  const copies = 1 + targets.size;
  const media = [...new Set([sourceMedia, ...freshTargets.map((t) => t.media)])];
  const offsite = freshTargets.filter((t) => t.location === 'offsite').length;
  const missing: string[] = [];
  if (copies < 3) missing.push(`${copies} of 3 copies`);
  if (media.length < 2) missing.push(`only one media kind (${media.join(', ')})`);
  if (offsite < 1) missing.push('no off-site copy');
  return { copies, media, offsite, ok: missing.length === 0, missing, freshTargets, stale: jobs.filter((j) => !fresh.includes(j)) };
}

/** The newest good copy among the jobs (the job whose lastSuccess is largest). */
export function newestCopy(jobs: readonly JobView[]): JobView | null {
  let best: JobView | null = null;
  for (const j of jobs) if (j.lastSuccess !== null && (best === null || j.lastSuccess > (best.lastSuccess as number))) best = j;
  return best;
}

/**
 * Every asset's state, in first-seen order. An asset only server jobs keep (a PBS datastore's
 * GC and verify jobs) is no asset here: it has no copies to count.
 */
export function assetStates(input: EvaluationInput, now: number): AssetState[] {
  const out: AssetState[] = [];
  for (const [asset, jobs] of copiesByAsset(input.jobs)) out.push(assetState(input, asset, jobs, now));
  return out;
}

export function assetState(input: EvaluationInput, asset: string, all: readonly JobView[], now: number): AssetState {
  const tier = assetTier(input, asset);
  const { rpoMs, rtoMs } = input.tiers[tier];
  const jobs = all.every(isCopyJob) ? all : all.filter(isCopyJob);
  const newest = newestCopy(jobs);
  // Never negative: a copy stored with a time after `now` (the collector's clock stepped back)
  // is as fresh as can be, not fresher.
  const ageMs = newest ? Math.max(0, now - (newest.lastSuccess as number)) : null;
  const sourceMedia = input.assets?.find((a) => a.asset === asset)?.sourceMedia ?? 'disk';
  return {
    asset,
    tier,
    rpoMs,
    rtoMs,
    newest,
    ageMs,
    rpoOk: ageMs !== null && ageMs <= rpoMs,
    copies: countCopies(jobs, rpoMs, now, sourceMedia),
    jobs: all,
  };
}
