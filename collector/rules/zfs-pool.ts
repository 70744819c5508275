import { severityFor } from './severity';
import type { EvaluationInput, Finding, PoolView } from './types';
import { agentTier, findingKey, humanBytes } from './util';

// ZFS pools of each agent (host facts from `zpool list -H -p` and `zpool status`, whose exit code
// is 0 even for a degraded pool: the agent reads the state from the text).
// 'zfs-pool': a pool not ONLINE, or with READ/WRITE/CKSUM errors or data errors. A pool ZFS
// cannot read (FAULTED, UNAVAIL, SUSPENDED) is as bad as a datastore PBS cannot read (every copy
// on it may be gone) and is scaled as that critical rule is; DEGRADED (redundancy lost, data
// still there), OFFLINE, REMOVED and error counts are warnings, as sanoid's --monitor-health
// ranks them.
// 'zfs-pool-capacity': allocated at or above the capacity threshold (capacityPctByTarget
// ["agent:pool"], then ["pool"], then capacityPct): ZFS slows down and cannot snapshot when full.

const UNREADABLE = new Set(['FAULTED', 'UNAVAIL', 'SUSPENDED']);

function problems(p: PoolView): string[] {
  const out: string[] = [];
  if (p.health !== 'ONLINE') out.push(`state ${p.health}`);
  const { read, write, checksum } = p.errors;
  if (read + write + checksum > 0) out.push(`${read} read, ${write} write, ${checksum} checksum error(s)`);
  if (p.dataErrors) out.push(p.dataErrors);
  return out;
}

export function zfsPool(input: EvaluationInput, now: number): Finding[] {
  const { capacityPct, capacityPctByTarget = {} } = input.config;
  const out: Finding[] = [];
  for (const a of input.agents) {
    const tier = agentTier(input, a.agent);
    for (const p of a.pools ?? []) {
      const found = problems(p);
      if (found.length) {
        const unreadable = UNREADABLE.has(p.health);
        const devices = p.devices.length ? ` Devices: ${p.devices.join('; ')}.` : '';
        out.push({
          key: findingKey('zfs-pool', a.agent, p.name),
          rule: 'zfs-pool',
          severity: unreadable ? severityFor('datastore-unavailable', tier) : severityFor('zfs-pool', tier),
          agent: a.agent,
          target: p.name,
          title: `ZFS pool ${p.name} on ${a.agent} is ${p.health === 'ONLINE' ? 'reporting errors' : p.health}`,
          detail:
            `${found.join('; ')}.${devices}${p.status ? ` ZFS says: ${p.status}` : ''} ` +
            (unreadable
              ? 'Its data cannot be read: make sure every asset on it has a fresh copy elsewhere, then see zpool status -v.'
              : 'Replace or reattach the device (zpool status -v, zpool replace), then zpool clear and a scrub.'),
          since: a.lastSeen ?? now,
        });
      }
      if (p.sizeBytes <= 0) continue;
      const threshold = capacityPctByTarget[`${a.agent}:${p.name}`] ?? capacityPctByTarget[p.name] ?? capacityPct;
      if (p.capacityPct >= threshold) {
        out.push({
          key: findingKey('zfs-pool-capacity', a.agent, p.name),
          rule: 'zfs-pool-capacity',
          severity: severityFor('zfs-pool-capacity', tier),
          agent: a.agent,
          target: p.name,
          title: `ZFS pool ${p.name} on ${a.agent} is ${p.capacityPct}% full`,
          detail: `${humanBytes(p.allocBytes)} of ${humanBytes(p.sizeBytes)} allocated, threshold ${threshold}%. Snapshots hold space too (zfs list -o space); prune them or add a vdev.`,
          since: a.lastSeen ?? now,
        });
      }
    }
  }
  return out;
}
