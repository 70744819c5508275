import { severityFor } from './severity';
import type { EvaluationInput, Finding } from './types';
import { assetTier, findingKey, humanDuration, jobsByAsset } from './util';

/**
 * 3-2-1 per asset, counting only copies fresh within the tier's RPO: copies = the original +
 * distinct targets with a fresh good backup; media = the original's media (default 'disk') and
 * the fresh targets' media; off-site = a fresh copy at an off-site target.
 */
export function threeTwoOne(input: EvaluationInput, now: number): Finding[] {
  const out: Finding[] = [];
  for (const [asset, jobs] of jobsByAsset(input.jobs)) {
    const tier = assetTier(input, asset);
    const rpoMs = input.tiers[tier].rpoMs;
    const sourceMedia = input.assets?.find((a) => a.asset === asset)?.sourceMedia ?? 'disk';
    const fresh = jobs.filter((j) => j.lastSuccess !== null && now - j.lastSuccess <= rpoMs);
    const targets = new Map(fresh.map((j) => [j.target.name, j.target]));
    const copies = 1 + targets.size;
    const media = new Set([sourceMedia, ...[...targets.values()].map((t) => t.media)]);
    const offsite = [...targets.values()].filter((t) => t.location === 'offsite');
    const missing: string[] = [];
    if (copies < 3) missing.push(`${copies} of 3 copies`);
    if (media.size < 2) missing.push(`only one media kind (${[...media].join(', ')})`);
    if (offsite.length < 1) missing.push('no off-site copy');
    if (missing.length === 0) continue;
    const stale = jobs.filter((j) => !fresh.includes(j));
    const freshAt = [...targets.keys()];
    // Since: when the last copy to go stale went stale; if none did, when the asset became known.
    const lapses = stale.map((j) => (j.lastSuccess ?? j.knownSince) + rpoMs);
    const since = lapses.length ? Math.max(...lapses) : Math.min(...jobs.map((j) => j.knownSince));
    out.push({
      key: findingKey('three-two-one', asset),
      rule: 'three-two-one',
      severity: severityFor('three-two-one', tier),
      asset,
      title: `${asset} does not meet 3-2-1: ${missing.join(', ')}`,
      detail:
        `Fresh copies (within ${humanDuration(rpoMs)}): original on ${sourceMedia}` +
        (freshAt.length ? `, ${[...targets.values()].map((t) => `${t.name} (${t.location} ${t.media})`).join(', ')}` : '') +
        '.' +
        (stale.length ? ` Stale or never succeeded: ${stale.map((j) => `${j.job} on ${j.agent} → ${j.target.name} (${j.target.location})`).join(', ')}.` : '') +
        (offsite.length < 1 && !jobs.some((j) => j.target.location === 'offsite') ? ' No job writes to an off-site target.' : ''),
      since,
    });
  }
  return out;
}
