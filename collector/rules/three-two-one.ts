import { countCopies, freshUntil } from './asset-state';
import { severityFor } from './severity';
import type { EvaluationInput, Finding, JobView, NextCheckAt } from './types';
import { assetTier, copiesByAsset, findingKey, humanDuration } from './util';

/**
 * 3-2-1 per asset, counting only copies fresh within the tier's RPO: copies = the original +
 * distinct targets with a fresh good backup; media = the original's media (default 'disk') and
 * the fresh targets' media; off-site = a fresh copy at an off-site target. Server (maintenance)
 * jobs make no copies and are not counted.
 */
/** A copy going stale, or a never-succeeded job's grace ending (it stops being pending). */
export const threeTwoOneCheckAt: NextCheckAt = (job, input) => (job.lastSuccess === null ? freshUntil(job, input) - 1 : freshUntil(job, input));

export function threeTwoOne(input: EvaluationInput, now: number): Finding[] {
  const out: Finding[] = [];
  for (const [asset, jobs] of copiesByAsset(input.jobs)) {
    const tier = assetTier(input, asset);
    const rpoMs = input.tiers[tier].rpoMs;
    const sourceMedia = input.assets?.find((a) => a.asset === asset)?.sourceMedia ?? 'disk';
    const { missing, freshTargets, stale, offsite } = countCopies(jobs, rpoMs, now, sourceMedia);
    if (missing.length === 0) continue;
    // A job not yet succeeded and seen less than an RPO ago is pending, not missing: if its first
    // run would complete 3-2-1, the finding is dated when its grace ends (a future `since` keeps
    // the incident closed until then); if 3-2-1 fails even with it, the problem is here already.
    const pending = stale.filter((j) => j.lastSuccess === null && j.knownSince + rpoMs > now);
    const since = pending.length && countCopies(jobs.map((j) => (pending.includes(j) ? { ...j, lastSuccess: now } : j)), rpoMs, now, sourceMedia).ok
      ? Math.max(...pending.map((j) => j.knownSince + rpoMs))
      : lapsedSince(stale.filter((j) => !pending.includes(j)), jobs, rpoMs);
    out.push({
      key: findingKey('three-two-one', asset),
      rule: 'three-two-one',
      severity: severityFor('three-two-one', tier),
      asset,
      title: `${asset} does not meet 3-2-1: ${missing.join(', ')}`,
      detail:
        `Fresh copies (within ${humanDuration(rpoMs)}): original on ${sourceMedia}` +
        (freshTargets.length ? `, ${freshTargets.map((t) => `${t.name} (${t.location} ${t.media})`).join(', ')}` : '') +
        '.' +
        (stale.length ? ` Stale or never succeeded: ${stale.map((j) => `${j.job} on ${j.agent} → ${j.target.name} (${j.target.location})`).join(', ')}.` : '') +
        (offsite < 1 && !jobs.some((j) => j.target.location === 'offsite') ? ' No job writes to an off-site target.' : ''),
      since,
    });
  }
  return out;
}

/** When the copies that are missing went missing: the latest lapse, or when the asset was first seen. */
function lapsedSince(lapsed: readonly JobView[], jobs: readonly JobView[], rpoMs: number): number {
  const lapses = lapsed.map((j) => (j.lastSuccess ?? j.knownSince) + rpoMs);
  return lapses.length ? Math.max(...lapses) : Math.min(...jobs.map((j) => j.knownSince));
}
