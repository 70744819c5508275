import assert from 'node:assert/strict';
import { test } from 'node:test';
import { zfsPool } from '../collector/rules/zfs-pool';
import type { PoolView } from '../collector/rules/types';
import { restoreRunbook, type RunbookInput } from '../collector/runbook/index';
import { agent, at, input, job } from './helpers/rules-fixtures';

// The collector's side of ZFS: the zfs-pool rule over the pools an agent reported (parsed by
// agent/zfs from `zpool list -H -p` and `zpool status`), and the restore runbook of a zfs job.

const NOW = at('2026-11-30T12:00:00Z');
const pool = (over: Partial<PoolView> = {}): PoolView => ({
  name: 'tank',
  sizeBytes: 1000,
  allocBytes: 500,
  capacityPct: 50,
  health: 'ONLINE',
  errors: { read: 0, write: 0, checksum: 0 },
  devices: [],
  ...over,
});
const findings = (p: PoolView, tier: 1 | 2 | 3 | 4 = 1) => zfsPool(input({ agents: [agent({ pools: [p] })], jobs: [job({ tier })] }), NOW).map((f) => [f.rule, f.severity, f.title]);

const TABLE: [string, PoolView, 1 | 2 | 3 | 4, [string, string, string][]][] = [
  ['a healthy pool at 79% raises nothing', pool({ capacityPct: 79 }), 1, []],
  ['a DEGRADED pool is a warning for tier 1', pool({ health: 'DEGRADED', devices: ['sdc UNAVAIL'] }), 1, [['zfs-pool', 'warning', 'ZFS pool tank on pve1 is DEGRADED']]],
  ['a FAULTED pool is critical for tier 1', pool({ health: 'FAULTED' }), 1, [['zfs-pool', 'critical', 'ZFS pool tank on pve1 is FAULTED']]],
  ['an UNAVAIL pool is critical', pool({ health: 'UNAVAIL' }), 2, [['zfs-pool', 'critical', 'ZFS pool tank on pve1 is UNAVAIL']]],
  ['an ONLINE pool with checksum errors is reported', pool({ errors: { read: 0, write: 0, checksum: 3 } }), 1, [['zfs-pool', 'warning', 'ZFS pool tank on pve1 is reporting errors']]],
  ['a pool at exactly 80% is over the capacity threshold', pool({ capacityPct: 80, allocBytes: 800 }), 1, [['zfs-pool-capacity', 'warning', 'ZFS pool tank on pve1 is 80% full']]],
  ['a degraded full pool of a tier 4 host is info, twice', pool({ health: 'DEGRADED', capacityPct: 97 }), 4, [['zfs-pool', 'info', 'ZFS pool tank on pve1 is DEGRADED'], ['zfs-pool-capacity', 'info', 'ZFS pool tank on pve1 is 97% full']]],
];
for (const [behaviour, p, tier, want] of TABLE) {
  test(behaviour, () => assert.deepEqual(findings(p, tier), want));
}

test('the pool finding names the faulty devices and what ZFS says', () => {
  const [f] = zfsPool(input({ agents: [agent({ pools: [pool({ health: 'DEGRADED', devices: ['sdc UNAVAIL'], status: 'One or more devices could not be used.' })] })] }), NOW);
  assert.equal(f.key, 'zfs-pool|pve1|tank');
  assert.match(f.detail, /Devices: sdc UNAVAIL\. ZFS says: One or more devices could not be used\./);
});

test('a per-pool threshold ("agent:pool", then "pool") overrides capacityPct', () => {
  const i = input({ agents: [agent({ pools: [pool({ capacityPct: 85 })] })] });
  i.config.capacityPctByTarget = { tank: 90 };
  assert.deepEqual(zfsPool(i, NOW), []);
  i.config.capacityPctByTarget = { tank: 90, 'pve1:tank': 85 };
  assert.equal(zfsPool(i, NOW).length, 1);
});

test('an agent without pools (an older agent, no ZFS) raises nothing', () => {
  assert.deepEqual(zfsPool(input({ agents: [agent()] }), NOW), []);
});

const rb = (restore: Record<string, string>, snapshotId: string | null): RunbookInput => ({
  driver: 'zfs',
  agent: 'nas1',
  job: 'data-snap',
  asset: 'data',
  restore,
  snapshot: snapshotId ? { id: snapshotId, time: NOW } : null,
});

test('the runbook of a snapshot job clones the newest snapshot and names rollback as the destructive alternative', () => {
  const book = restoreRunbook(rb({ dataset: 'tank/data', snapshots: 'take' }, 'tank/data@lifeline-2026-11-30_02:00:00Z'));
  assert.deepEqual(book.commands, ['zfs list -t snapshot -o name,creation,used -s creation -d 1 tank/data', 'zfs clone tank/data@lifeline-2026-11-30_02:00:00Z tank/data-restore']);
  assert.ok(book.notes.some((n) => n.includes('zfs rollback -r tank/data@lifeline-2026-11-30_02:00:00Z')));
  assert.ok(book.notes.some((n) => n.includes('.zfs/snapshot/lifeline-2026-11-30_02:00:00Z/')));
});

test('the runbook of a replica sends its newest common snapshot back over ssh', () => {
  const book = restoreRunbook(rb({ dataset: 'tank/data', recursive: 'true', replicaHost: 'root@nas2', replicaDataset: 'backup/data' }, 'backup/data@autosnap_2026-11-30_02:00:03_daily'));
  assert.deepEqual(book.commands, [
    'ssh root@nas2 zfs list -t snapshot -o name,creation,used -s creation -d 1 backup/data',
    'ssh root@nas2 zfs send -R backup/data@autosnap_2026-11-30_02:00:03_daily | zfs receive -u tank/data-restored',
  ]);
});

test('without an inventory (or an id of another dataset) the runbook writes SNAPSHOT for the operator to fill in', () => {
  const book = restoreRunbook(rb({ dataset: 'tank/data' }, 'other/ds@x'));
  assert.equal(book.commands[1], 'zfs clone tank/data@SNAPSHOT tank/data-restore');
});
