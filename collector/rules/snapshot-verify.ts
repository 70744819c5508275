import { severityFor } from './severity';
import type { EvaluationInput, Finding } from './types';
import { assetTier, findingKey, localDateTime } from './util';
import { newestAtOrBefore, verifiedListings } from './verified-copies';

/**
 * 'snapshot-verify-failed', per asset and target: the newest snapshot there, in the newest
 * listing that carries verification states, failed its last verification (PBS verify). It no
 * longer counts as a copy (verified-copies.ts), so the RPO and 3-2-1 rules raise what that costs;
 * this finding says why. It resolves when a newer snapshot is listed, verified ok or not yet.
 */
export function snapshotVerifyFailed(input: EvaluationInput): Finding[] {
  const out: Finding[] = [];
  for (const l of verifiedListings(input.jobs).values()) {
    const { inventory: inv, states, job } = l;
    const newest = newestAtOrBefore(inv.times);
    if (newest < 0 || states[newest] !== 'failed') continue;
    const good = newestAtOrBefore(inv.times, Infinity, (i) => states[i] === 'failed');
    const ids = inv.ids();
    const tz = job.timezone;
    const tier = assetTier(input, l.asset);
    out.push({
      key: findingKey('snapshot-verify-failed', l.asset, l.target),
      rule: 'snapshot-verify-failed',
      severity: severityFor('snapshot-verify-failed', tier),
      agent: job.agent,
      asset: l.asset,
      target: l.target,
      title: `The newest snapshot of ${l.asset} at ${l.target} failed verification: ${ids[newest]}`,
      detail:
        `${ids[newest]} (taken ${localDateTime(inv.times[newest], tz)}) failed its last verification, as ${job.job} on ${job.agent} listed it at ${localDateTime(inv.updatedAt, tz)}: ` +
        `its data may be damaged, and it no longer counts as a copy. ` +
        (good < 0
          ? `No other snapshot of ${l.asset} there is good or awaits verification. `
          : `The newest one there that did not fail is ${ids[good]} (${states[good] === 'ok' ? 'verified ok' : 'not verified yet'}, taken ${localDateTime(inv.times[good], tz)}). `) +
        `Read the verify task's log on the Proxmox Backup Server and check its disks, then back ${l.asset} up again so that a good copy exists.`,
      since: inv.times[newest],
      tier,
    });
  }
  return out;
}
