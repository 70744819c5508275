import { countCopies } from './asset-state';
import { severityFor } from './severity';
import type { EvaluationInput, Finding } from './types';
import { assetTier, copyJobs, findingKey, humanDuration, jobsByAsset } from './util';

/**
 * 3-2-1 per asset, counting only copies fresh within the tier's RPO: copies = the original +
 * distinct targets with a fresh good backup; media = the original's media (default 'disk') and
 * the fresh targets' media; off-site = a fresh copy at an off-site target. Server (maintenance)
 * jobs make no copies and are not counted.
 */
export function threeTwoOne(input: EvaluationInput, now: number): Finding[] {
  const out: Finding[] = [];
  for (const [asset, jobs] of jobsByAsset(copyJobs(input.jobs))) {
    const tier = assetTier(input, asset);
    const rpoMs = input.tiers[tier].rpoMs;
    const sourceMedia = input.assets?.find((a) => a.asset === asset)?.sourceMedia ?? 'disk';
    const { missing, freshTargets, stale, offsite } = countCopies(jobs, rpoMs, now, sourceMedia);
    if (missing.length === 0) continue;
    const lapses = stale.map((j) => (j.lastSuccess ?? j.knownSince) + rpoMs);
    // Never later than now: a job not yet succeeded, seen less than an RPO ago, would put it in
    // the future, and an incident is opened only once its finding's `since` has passed.
    const since = Math.min(now, lapses.length ? Math.max(...lapses) : Math.min(...jobs.map((j) => j.knownSince)));
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
