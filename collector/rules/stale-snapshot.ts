import { shellQuote } from '../runbook/shell';
import { guestAsset, guestLabel, judgedGuests, scaleTier } from './proxmox';
import { severityFor } from './severity';
import type { EvaluationInput, Finding, GuestSnapshotView } from './types';
import { findingKey, humanDuration, localDateTime } from './util';

const LISTED = 5;

/**
 * 'stale-snapshot': a Proxmox guest snapshot older than rules.snapshotMaxAge (ADR-003: a
 * snapshot is taken before a risky change and removed after it, never a backup; an old one keeps
 * every block changed since, eating storage and slowing the guest's disks). One finding per
 * guest. Exactly snapshotMaxAge old is not stale yet. A snapshot Proxmox gives no time for is
 * never raised on its own; the finding names it when the guest has a stale one too.
 */
export function staleSnapshot(input: EvaluationInput, now: number): Finding[] {
  const out: Finding[] = [];
  const maxAge = input.config.snapshotMaxAgeMs;
  for (const { view, guest } of judgedGuests(input)) {
    const stale = guest.snapshots.filter((s): s is GuestSnapshotView & { time: number } => s.time !== null && now - s.time > maxAge).sort((a, b) => a.time - b.time);
    if (stale.length === 0) continue;
    const undated = guest.snapshots.filter((s) => s.time === null);
    const label = guestLabel(guest);
    const tool = guest.type === 'lxc' ? 'pct' : 'qm';
    const listed = stale
      .slice(0, LISTED)
      .map((s) => `${s.name} (${localDateTime(s.time, view.timezone)}, ${humanDuration(now - s.time)} old${s.description ? `: ${s.description.split('\n')[0]}` : ''})`);
    const more = stale.length > LISTED ? ` and ${stale.length - LISTED} more` : '';
    const unknown = undated.length
      ? ` ${undated.map((s) => s.name).join(', ')} ${undated.length > 1 ? 'have' : 'has'} no time in Proxmox: check ${undated.length > 1 ? 'them' : 'it'} by hand.`
      : '';
    out.push({
      key: findingKey('stale-snapshot', view.agent, guestAsset(guest)),
      rule: 'stale-snapshot',
      severity: severityFor('stale-snapshot', scaleTier(guest)),
      agent: view.agent,
      asset: guestAsset(guest),
      title:
        stale.length === 1
          ? `${label} on ${view.agent} has a snapshot older than ${humanDuration(maxAge)}: ${stale[0].name}`
          : `${label} on ${view.agent} has ${stale.length} snapshots older than ${humanDuration(maxAge)}`,
      detail:
        `${listed.join(', ')}${more}. A snapshot is for the moments around a risky change, never a backup: kept, it holds every block changed since, ` +
        `eating storage and slowing the guest's disks. Once the change is proven, remove it: ${tool} delsnapshot ${guest.vmid} ${shellQuote(stale[0].name)}.${unknown}`,
      since: stale[0].time + maxAge,
      tier: scaleTier(guest),
    });
  }
  return out;
}
