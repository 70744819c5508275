import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parsePoolList, parsePoolStatus } from '../agent/zfs/pool-status';
import { mergePools } from '../agent/zfs/pools';
import { classCounts, describeCounts, freshness, onePerSecond, lifelineSnapshotName, parseSnapshotList, replicaLag, snapshotClass, snapshotsToDestroy, type ZfsSnapshot } from '../agent/zfs/snapshots';

// The pure readers of zfs/zpool output and the decisions over snapshots. The texts below are in
// the documented formats of REFERENCE-INTEGRATIONS §7 (openzfs zfs-list.8, zpool_main.c; sanoid
// and syncoid names): ZFS cannot run here, so they are written from those sources, not recorded.

const DAY = 86_400_000;

test('zfs list -H -p lines become snapshots with epoch creation and exact used bytes', () => {
  const text = 'tank/data@autosnap_2024-01-31_02:00:03_daily\t1706662803\t0\ntank/data/sub@lifeline-2024-01-31_03:00:00Z\t1706670000\t4096\n';
  assert.deepEqual(parseSnapshotList(text), [
    { dataset: 'tank/data', name: 'autosnap_2024-01-31_02:00:03_daily', creation: 1706662803, used: 0 },
    { dataset: 'tank/data/sub', name: 'lifeline-2024-01-31_03:00:00Z', creation: 1706670000, used: 4096 },
  ]);
  assert.deepEqual(parseSnapshotList(''), []);
});

const BAD_LISTS: [string, string][] = [
  ['human-readable creation (no -p)', 'tank/data@a\tWed Jan 31 2:00 2024\t0'],
  ['spaces instead of tabs (no -H)', 'tank/data@a 1706662803 0'],
  ['a dataset, not a snapshot', 'tank/data\t1706662803\t0'],
];
for (const [what, line] of BAD_LISTS) {
  test(`zfs list output with ${what} is refused with the line`, () => {
    assert.throws(() => parseSnapshotList(line), /zfs list: line 1 is not/);
  });
}

const CLASSES: [string, string][] = [
  ['autosnap_2024-01-31_02:00:03_daily', 'daily'],
  ['autosnap_2024-01-31_02:00:03_hourly', 'hourly'],
  ['autosnap_2024-01-01_00:00:01_yearly', 'yearly'],
  ['autosnap_2024-01-31_02:15:00_frequently', 'frequently'],
  ['autosnap_2024-01-31_02:00:03_quarterly', 'other'],
  ['syncoid_nas1_2024-01-31_02:00:03-GMT01:00', 'syncoid'],
  ['syncoid_offsite_nas1_2024-01-31_02:00:03-GMT-05:00', 'syncoid'],
  ['lifeline-2024-01-31_02:00:03Z', 'lifeline'],
  ['lifeline-manual', 'other'],
  ['before-upgrade', 'other'],
];
for (const [name, cls] of CLASSES) {
  test(`snapshot ${name} is of class ${cls}`, () => assert.equal(snapshotClass(name), cls));
}

test('class counts read as a sentence in a fixed order', () => {
  const names = ['autosnap_2024-01-30_02:00:03_daily', 'autosnap_2024-01-31_02:00:03_daily', 'autosnap_2024-01-31_02:00:03_monthly', 'lifeline-2024-01-31_02:00:03Z', 'x'];
  assert.equal(describeCounts(classCounts(names.map((name) => ({ name })))), '1 lifeline, 2 daily, 1 monthly, 1 other');
  assert.equal(describeCounts({}), 'no snapshots');
});

test("Lifeline's snapshot names are UTC and recognised as its own", () => {
  const name = lifelineSnapshotName(new Date('2026-11-30T06:14:05.123Z'));
  assert.equal(name, 'lifeline-2026-11-30_06:14:05Z');
  assert.equal(snapshotClass(name), 'lifeline');
});

const snap = (dataset: string, name: string, creationMs: number): ZfsSnapshot => ({ dataset, name, creation: Math.floor(creationMs / 1000), used: 0 });
const NOW = Date.parse('2026-11-30T12:00:00Z');

test('freshness judges each dataset by its newest snapshot; exactly at the limit is fresh, a dataset with none is stale', () => {
  const list = [snap('tank/a', 'old', NOW - 3 * DAY), snap('tank/a', 'new', NOW - DAY), snap('tank/b', 'x', NOW - DAY - 1000)];
  const judged = freshness(['tank/a', 'tank/b', 'tank/c'], list, DAY, NOW);
  assert.deepEqual(judged.map((f) => [f.dataset, f.newest?.name ?? null, f.stale]), [['tank/a', 'new', false], ['tank/b', 'x', true], ['tank/c', null, true]]);
});

test("prune picks only Lifeline's own snapshots of the job's dataset beyond the retention, never sanoid's or a child's", () => {
  const list: ZfsSnapshot[] = [];
  for (let d = 0; d < 5; d++) {
    const t = NOW - d * DAY;
    list.push(snap('tank/data', lifelineSnapshotName(new Date(t)), t), snap('tank/data', `autosnap_2026-11-${30 - d}_02:00:00_daily`, t), snap('tank/data/child', lifelineSnapshotName(new Date(t)), t));
  }
  list.push(snap('tank/data', 'before-upgrade', NOW - 30 * DAY));
  const doomed = snapshotsToDestroy(list, 'tank/data', { daily: 3 }, 'UTC');
  assert.deepEqual(doomed.map((s) => `${s.dataset}@${s.name}`), [`tank/data@${lifelineSnapshotName(new Date(NOW - 4 * DAY))}`, `tank/data@${lifelineSnapshotName(new Date(NOW - 3 * DAY))}`]);
});

const LAG: [string, ZfsSnapshot[], ZfsSnapshot[], { common: string | null; lagMs: number | null; ageMs: number | null }][] = [
  ['a replica in step', [snap('tank/d', 'a', NOW - 2 * DAY), snap('tank/d', 'b', NOW - DAY)], [snap('bk/d', 'a', NOW - 2 * DAY), snap('bk/d', 'b', NOW - DAY)], { common: 'b', lagMs: 0, ageMs: DAY }],
  ['a replica two snapshots behind', [snap('tank/d', 'a', NOW - 3 * DAY), snap('tank/d', 'b', NOW - 2 * DAY), snap('tank/d', 'c', NOW - DAY)], [snap('bk/d', 'a', NOW - 3 * DAY)], { common: 'a', lagMs: 2 * DAY, ageMs: 3 * DAY }],
  ['a replica with nothing in common', [snap('tank/d', 'a', NOW - DAY)], [snap('bk/d', 'z', NOW - DAY)], { common: null, lagMs: null, ageMs: null }],
  ['an empty replica', [snap('tank/d', 'a', NOW - DAY)], [], { common: null, lagMs: null, ageMs: null }],
];
for (const [what, source, replica, want] of LAG) {
  test(`replica lag: ${what}`, () => {
    const lag = replicaLag(source, replica, NOW);
    assert.deepEqual({ common: lag.common?.name ?? null, lagMs: lag.lagMs, ageMs: lag.ageMs }, want);
  });
}

test('zpool list -H -p lines: exact bytes, capacity without "%"', () => {
  assert.deepEqual(parsePoolList('rpool\t1992864825344\t412316860416\t1580547964928\t20\tONLINE\n'), [
    { name: 'rpool', sizeBytes: 1992864825344, allocBytes: 412316860416, freeBytes: 1580547964928, capacityPct: 20, health: 'ONLINE' },
  ]);
  assert.throws(() => parsePoolList('rpool\t1.81T\t384G\t1.44T\t20%\tONLINE'), /zpool list: line 1 is not/);
});

// zpool status of a degraded mirror (zpool_main.c's layout: tab-indented config tree).
const DEGRADED = `  pool: tank
 state: DEGRADED
status: One or more devices could not be used because the label is missing or
\tinvalid.  Sufficient replicas exist for the pool to continue
\tfunctioning in a degraded state.
action: Replace the device using 'zpool replace'.
   see: https://openzfs.github.io/openzfs-docs/msg/ZFS-8000-4J
  scan: scrub repaired 0B in 00:00:05 with 0 errors on Sun Nov 29 00:24:06 2026
config:

\tNAME        STATE     READ WRITE CKSUM
\ttank        DEGRADED     0     0     0
\t  mirror-0  DEGRADED     0     0     0
\t    sdb     ONLINE       0     0    12
\t    sdc     UNAVAIL      0     0     0  was /dev/sdc1

errors: No known data errors

  pool: rpool
 state: ONLINE
  scan: scrub repaired 0B in 00:01:10 with 0 errors on Sun Nov 29 00:25:10 2026
config:

\tNAME        STATE     READ WRITE CKSUM
\trpool       ONLINE       0     0     0
\t  nvme0n1p3 ONLINE       0     0     0

errors: No known data errors
`;

test('zpool status: a degraded pool with checksum errors, its faulty devices and status, beside a healthy one', () => {
  const [tank, rpool] = parsePoolStatus(DEGRADED);
  assert.equal(tank.name, 'tank');
  assert.equal(tank.state, 'DEGRADED');
  assert.deepEqual(tank.errors, { read: 0, write: 0, checksum: 12 });
  assert.deepEqual(tank.devices, ['mirror-0 DEGRADED', 'sdb ONLINE 0 0 12', 'sdc UNAVAIL']);
  assert.match(tank.status ?? '', /^One or more devices could not be used .* functioning in a degraded state\.$/);
  assert.equal(tank.dataErrors, undefined);
  assert.deepEqual({ ...rpool, status: rpool.status ?? null }, { name: 'rpool', state: 'ONLINE', errors: { read: 0, write: 0, checksum: 0 }, devices: [], status: null });
});

test('zpool status: shortened counts (no -p) and a data errors line are read', () => {
  const text = '  pool: z\n state: ONLINE\nconfig:\n\n\tNAME  STATE  READ WRITE CKSUM\n\tz     ONLINE    0     0  1.2K\n\nerrors: 3 data errors, use \'-v\' for a list\n';
  const [z] = parsePoolStatus(text);
  assert.equal(z.errors.checksum, 1200);
  assert.equal(z.dataErrors, "3 data errors, use '-v' for a list");
});

test('zpool status -x with every pool healthy lists no pool (its exit code says nothing either way)', () => {
  assert.deepEqual(parsePoolStatus('all pools are healthy\n'), []);
});

test("mergePools takes the state from zpool status and keeps a pool status did not describe as zpool list had it", () => {
  const list = 'tank\t1000\t950\t50\t95\tDEGRADED\nrpool\t2000\t200\t1800\t10\tONLINE\nlost\t10\t1\t9\t10\tONLINE\n';
  const pools = mergePools(list, DEGRADED);
  assert.deepEqual(pools.map((p) => [p.name, p.health, p.capacityPct, p.errors.checksum, p.devices?.length ?? 0]), [['tank', 'DEGRADED', 95, 12, 3], ['rpool', 'ONLINE', 10, 0, 0], ['lost', 'ONLINE', 10, 0, 0]]);
});

test("sanoid's classes taken in one run are one point in time in the inventory", () => {
  const t = 1706662803;
  const list = [snap('tank/d', 'autosnap_2024-01-31_02:00:03_daily', t * 1000), snap('tank/d', 'autosnap_2024-01-31_02:00:03_monthly', t * 1000), snap('tank/d', 'autosnap_2024-01-31_03:00:03_hourly', (t + 3600) * 1000)];
  assert.deepEqual(onePerSecond(list).map((s) => s.name), ['autosnap_2024-01-31_02:00:03_daily', 'autosnap_2024-01-31_03:00:03_hourly']);
});
