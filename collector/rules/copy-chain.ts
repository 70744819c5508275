import { freshUntil, isFresh } from './asset-state';
import { linkBroken, linkCycle, linkJobs } from './derived-copies';
import type { EvaluationInput, Finding, JobView, NextCheckAt, Tier } from './types';
import { DAY_MS, assetTier, humanDuration, isCopyJob, isFailed, jobFinding, localDateTime } from './util';

/**
 * Per link job ('copy-chain-broken'): the assets that hold a fresh good copy at the link's source
 * but, through the link, none at its target (the link failed, went stale or failed verification),
 * named in one finding: "cloud-restic has not run for 9 days: vm-100, vm-101 and ct-105 have no
 * fresh off-site copy". Fresh is within each asset's RPO, as for 3-2-1. And 'copy-chain-cycle':
 * links of several agents copying into each other (each agent refuses its own cycles at load).
 * Reads the derived copies the gatherer added (derived-copies.ts).
 */
export const copyChainCheckAt: NextCheckAt = (job, input) => (isCopyJob(job) ? freshUntil(job, input) : Infinity);

export function copyChain(input: EvaluationInput, now: number): Finding[] {
  const links = linkJobs(input.jobs);
  if (links.length === 0) return [];
  const out: Finding[] = [];
  const rpoOf = (asset: string) => input.tiers[assetTier(input, asset)].rpoMs;
  const freshAt = new Set<string>();
  for (const j of input.jobs) if (isCopyJob(j) && isFresh(j, rpoOf(j.asset), now)) freshAt.add(`${j.asset}\0${j.target.name}`);
  for (const link of links) {
    const lost: { asset: string; tier: Tier; since: number }[] = [];
    for (const d of input.jobs) {
      const last = d.derivedVia?.at(-1);
      if (!last || last.agent !== link.agent || last.job !== link.job) continue;
      if (freshAt.has(`${d.asset}\0${link.target.name}`) || !freshAt.has(`${d.asset}\0${link.sourceTarget}`)) continue;
      lost.push({ asset: d.asset, tier: assetTier(input, d.asset), since: (d.lastSuccess ?? link.knownSince) + rpoOf(d.asset) });
    }
    if (lost.length === 0) continue;
    lost.sort((a, b) => a.tier - b.tier || (a.asset < b.asset ? -1 : a.asset > b.asset ? 1 : 0));
    const names = lost.map((l) => l.asset);
    const list = names.length === 1 ? names[0] : `${names.slice(0, -1).join(', ')} and ${names.at(-1)}`;
    const where = link.target.location === 'offsite' ? 'off-site copy' : `copy at ${link.target.name}`;
    out.push(
      jobFinding('copy-chain-broken', link, {
        tier: lost[0].tier,
        title: `${link.job} ${why(link, now)}: ${list} ${names.length === 1 ? 'has' : 'have'} no fresh ${where}`,
        detail: `${link.job} on ${link.agent} copies what ${link.sourceTarget} holds to ${link.target.name} (${link.target.location}, ${link.target.media}); ${sinceText(link, now)}. Assets with a fresh copy at ${link.sourceTarget} but none at ${link.target.name} through it: ${names.join(', ')}.`,
        since: Math.min(...lost.map((l) => l.since)),
      }),
    );
  }
  const cycle = linkCycle(input.jobs);
  if (cycle) {
    const closing = cycle.links.at(-1) as JobView;
    out.push(
      jobFinding('copy-chain-cycle', closing, {
        tier: 2,
        title: `Copies form a cycle: ${cycle.path.join(' → ')}`,
        detail: `These jobs copy into each other's source: ${cycle.links.map((l) => `${l.agent}/${l.job} (${l.sourceTarget} → ${l.target.name})`).join(', ')}. A copy of a copy of itself is no copy: the chain is cut where it would come back; change one job's source.`,
        since: Math.max(...cycle.links.map((l) => l.knownSince)),
      }),
    );
  }
  return out;
}

/** "failed verification 3h ago", "failed 2h ago", "has not run for 9 days", "has never run". */
function why(link: JobView, now: number): string {
  if (linkBroken(link) === 'verify-failed') return `failed verification ${ago(now - (link.lastVerify?.startedAt ?? now))} ago`;
  if (link.lastOutcome && isFailed(link.lastOutcome)) return `failed ${ago(now - link.lastOutcome.startedAt)} ago`;
  const ran = link.lastBackup?.startedAt;
  return ran === undefined ? 'has never run' : `has not run for ${ago(now - ran)}`;
}

function sinceText(link: JobView, now: number): string {
  return link.lastSuccess === null ? 'it has never succeeded' : `its last success was ${localDateTime(link.lastSuccess, link.timezone)} (${humanDuration(now - link.lastSuccess)} ago)`;
}

/** "9 days" from two days on, else "5h 3m". */
const ago = (ms: number): string => (ms >= 2 * DAY_MS ? `${Math.floor(ms / DAY_MS)} days` : humanDuration(ms));
