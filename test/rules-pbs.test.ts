import assert from 'node:assert/strict';
import { test } from 'node:test';
import { anomalies } from '../collector/rules/anomalies';
import { assetStates, countCopies } from '../collector/rules/asset-state';
import { datastoreCapacity } from '../collector/rules/datastore-capacity';
import { failedRun } from '../collector/rules/failed-run';
import { guestCoverage } from '../collector/rules/guest-coverage';
import { missedRun } from '../collector/rules/missed-run';
import { restoreDrill } from '../collector/rules/restore-drill';
import { retentionAudit } from '../collector/rules/retention-audit';
import { rpo } from '../collector/rules/rpo';
import { snapshotVerifyFailed } from '../collector/rules/snapshot-verify';
import { threeTwoOne } from '../collector/rules/three-two-one';
import type { DatastoreView, JobView, PbsView, SnapshotView, TargetView } from '../collector/rules/types';
import { verification } from '../collector/rules/verification';
import { withVerifiedCopies } from '../collector/rules/verified-copies';
import { DAY, HOUR, MIN, at, input, job, run, inventoryOf } from './helpers/rules-fixtures';

// Proxmox Backup Server in the rules: datastore capacity and forecast, server (maintenance) jobs
// judged for their runs but never as copies, and snapshots whose verification failed no longer
// counting as copies. Tables at the boundaries.

const NOW = at('2026-02-01T12:00:00Z');
const GIB = 2 ** 30;

const datastore = (over: Partial<DatastoreView> = {}): DatastoreView => ({
  name: 'store1',
  target: 'pbs1',
  totalBytes: 100 * GIB,
  usedBytes: 50 * GIB,
  availBytes: 50 * GIB,
  estimatedFullAt: null,
  gc: null,
  error: null,
  maintenance: null,
  history: [],
  ...over,
});
const pbsView = (...datastores: DatastoreView[]): PbsView => ({ agent: 'pbs', datastores, updatedAt: NOW - MIN });
const judge = (ds: DatastoreView, config = {}) => datastoreCapacity(input({ pbs: [pbsView(ds)], config: { ...input().config, ...config } }), NOW);

// ---- datastore capacity ----

const USAGE: [string, number, string[]][] = [
  ['a datastore at 79 % is below the default threshold', 79, []],
  ['a datastore at exactly 80 % reaches the threshold', 80, ['capacity|pbs|datastore store1']],
  ['a datastore at 85 % is over the threshold', 85, ['capacity|pbs|datastore store1']],
];
for (const [behaviour, pct, keys] of USAGE) {
  test(behaviour, () => {
    assert.deepEqual(judge(datastore({ usedBytes: pct * GIB })).map((f) => f.key), keys);
  });
}

test('the capacity finding names the datastore and the PBS host, and dates from the first sample over the threshold', () => {
  const history = [
    { at: NOW - 3 * DAY, usedBytes: 70 * GIB },
    { at: NOW - 2 * DAY, usedBytes: 81 * GIB },
    { at: NOW - DAY, usedBytes: 84 * GIB },
  ];
  const [f] = judge(datastore({ usedBytes: 85 * GIB, history, estimatedFullAt: NOW - DAY }));
  assert.equal(f.rule, 'capacity');
  assert.equal(f.title, 'datastore store1 on pbs is 85% full');
  assert.equal(f.agent, 'pbs');
  assert.equal(f.target, 'pbs1');
  assert.equal(f.since, NOW - 2 * DAY);
  assert.match(f.detail, /85\.0 GiB of 100\.0 GiB used \(85\.0%\), threshold 80%/);
});

const OVERRIDES: [string, Record<string, number>, boolean][] = [
  ['"agent:store" raises the threshold of that datastore', { 'pbs:store1': 90 }, false],
  ['the datastore name raises its threshold', { store1: 90 }, false],
  ["the datastore's target name raises its threshold", { pbs1: 90 }, false],
  ['"agent:store" wins over the target name', { 'pbs:store1': 85, pbs1: 90 }, true],
  ["another datastore's override changes nothing", { store2: 90 }, true],
];
for (const [behaviour, byTarget, fires] of OVERRIDES) {
  test(`capacityPctByTarget: ${behaviour}`, () => {
    const found = judge(datastore({ usedBytes: 85 * GIB }), { capacityPctByTarget: byTarget }).some((f) => f.rule === 'capacity');
    assert.equal(found, fires);
  });
}

// ---- the fill forecast: PBS's own estimate first ----

const ESTIMATES: [string, number | null, string | null][] = [
  ['no estimate and no history: no forecast', null, null],
  ["PBS's 0 (an infinite estimate, epoch 0) gives none", 0, null],
  ['an estimate in the past (usage flat or declining) gives none', NOW - DAY, null],
  ['an estimate 10 days away gives a forecast finding', NOW + 10 * DAY, "datastore store1 on pbs will be full in 10 days (PBS's estimate)"],
  ['an estimate exactly 14 days away is within the horizon', NOW + 14 * DAY, "datastore store1 on pbs will be full in 14 days (PBS's estimate)"],
  ['an estimate 15 days away is beyond a 14-day horizon', NOW + 15 * DAY, null],
];
for (const [behaviour, estimate, title] of ESTIMATES) {
  test(behaviour, () => {
    const found = judge(datastore({ estimatedFullAt: estimate }), { fullWithinDays: 14 }).filter((f) => f.rule === 'capacity-forecast');
    assert.deepEqual(found.map((f) => f.title), title === null ? [] : [title]);
    if (title) assert.equal(found[0].key, 'capacity-forecast|pbs|datastore store1');
  });
}

test("without PBS's estimate the collector's own line through the usage samples forecasts", () => {
  // +5 GiB a day from 50 GiB: full in 10 days.
  const history = [1, 2, 3, 4].map((d) => ({ at: NOW - d * DAY, usedBytes: (50 - 5 * d) * GIB }));
  const [f] = judge(datastore({ history }));
  assert.equal(f.rule, 'capacity-forecast');
  assert.equal(f.title, 'datastore store1 on pbs will be full in 10 days');
  assert.match(f.detail, /at the current growth it is projected full/);
});

test("a past estimate from PBS is trusted over the collector's own line (PBS sees a month of history)", () => {
  const history = [1, 2, 3, 4].map((d) => ({ at: NOW - d * DAY, usedBytes: (50 - 5 * d) * GIB }));
  assert.deepEqual(judge(datastore({ history, estimatedFullAt: NOW - HOUR })), []);
});

test('a datastore PBS cannot read opens datastore-unavailable with its error, and no usage findings', () => {
  const findings = judge(datastore({ totalBytes: null, usedBytes: null, availBytes: null, error: 'unable to open chunk store at "/mnt/store1/.chunks"' }));
  assert.deepEqual(findings.map((f) => [f.key, f.severity, f.title]), [
    // No copy there is known: the PBS agent's tier (2 without jobs), at which a critical rule stays critical.
    ['datastore-unavailable|pbs|datastore store1', 'critical', 'PBS cannot read datastore store1 on pbs'],
  ]);
  assert.match(findings[0].detail, /Proxmox Backup Server reports: unable to open chunk store/);
});

test('datastore findings take the most critical tier among the copies stored at its target', () => {
  const copy = job({ agent: 'pve1', job: 'vzdump-100-pbs1', asset: 'vm-100', tier: 1, target: { name: 'pbs1', location: 'onsite', media: 'pbs' } });
  const [f] = datastoreCapacity(input({ jobs: [copy], pbs: [pbsView(datastore({ error: 'offline' }))] }), NOW);
  assert.equal(f.tier, 1);
  assert.equal(f.severity, 'critical');
});

// ---- server (maintenance) jobs ----

const PBS1: TargetView = { name: 'pbs1', location: 'onsite', media: 'pbs' };
const server = (name: string, over: Partial<JobView> = {}) =>
  job({ agent: 'pbs', job: name, asset: 'datastore-store1', driver: name.startsWith('gc-') ? 'pbs-gc' : 'pbs-verify', role: 'maintenance', target: PBS1, timezone: 'UTC', ...over });

test('a failed verify job raises failed-run, titled like any job', () => {
  const failed = run({ startedAt: NOW - 2 * HOUR, status: 'failure', error: 'verification failed - please check the log for details' });
  const [f] = failedRun(input({ jobs: [server('verify-weekly', { lastBackup: failed, lastOutcome: failed, recentBackups: [failed] })] }), NOW);
  assert.equal(f.key, 'failed-run|pbs|verify-weekly');
  assert.equal(f.title, 'verify-weekly on pbs failed');
  assert.match(f.detail, /^The pbs-verify job on datastore-store1 \(target pbs1\) failed at /);
  assert.match(f.detail, /Error: verification failed/);
});

test('a GC that has not run within its schedule raises missed-run, naming its local time', () => {
  const gc = server('gc-store1', { schedule: '0 2 * * *', knownSince: at('2026-01-30T00:00:00Z'), lastBackup: run({ startedAt: at('2026-01-31T02:00:00Z') }) });
  const [f] = missedRun(input({ jobs: [gc] }), NOW);
  assert.equal(f.title, 'gc-store1 on pbs missed its 02:00 run');
  assert.match(f.detail, /that the server still runs this pbs-gc job/);
});

test('a server job without a cron schedule (none, or a PBS event with no cron form) is never missed', () => {
  for (const schedule of ['', 'sat 02:00']) assert.deepEqual(missedRun(input({ jobs: [server('verify-weekly', { schedule, knownSince: NOW - 30 * DAY })] }), NOW), []);
});

test('server jobs make no copies: no RPO, 3-2-1, retention, size, verify or drill findings, and no asset of their own', () => {
  const runs = [1, 2, 3, 4, 5, 6].map((d) => run({ startedAt: NOW - d * DAY, bytesTotal: d === 1 ? 10 * GIB : GIB }));
  const gc = server('gc-store1', {
    schedule: '0 2 * * *',
    lastSuccess: NOW - 60 * DAY,
    knownSince: NOW - 90 * DAY,
    recentBackups: runs,
    lastBackup: runs[0],
    lastOutcome: runs[0],
    retention: { daily: 7 },
    inventory: inventoryOf([], NOW - DAY),
    verifySchedule: '0 3 * * 0',
    restoreTestSchedule: '0 4 1 * *',
  });
  const i = input({ jobs: [gc] });
  for (const rule of [rpo, threeTwoOne, retentionAudit, verification, restoreDrill, anomalies]) assert.deepEqual(rule(i, NOW), [], rule.name);
  assert.deepEqual(assetStates(i, NOW), []);
});

test("a server job's duration is still judged", () => {
  const runs = [1, 2, 3, 4, 5, 6].map((d) => run({ startedAt: NOW - d * DAY, durationMs: d === 1 ? 3 * HOUR : 10 * MIN }));
  const gc = server('gc-store1', { recentBackups: runs, lastBackup: runs[0], lastOutcome: runs[0] });
  const [f] = anomalies(input({ jobs: [gc] }), NOW);
  assert.equal(f.rule, 'duration-anomaly');
  assert.equal(f.title, 'gc-store1 on pbs took 3h');
  assert.match(f.detail, /^The run at /);
});

// ---- verification-aware copies ----

const T1 = at('2026-01-30T01:00:00Z');
const T2 = at('2026-01-31T01:00:00Z');
const T3 = at('2026-02-01T01:00:00Z');
const snaps = (...states: (SnapshotView['verified'] | 'none')[]): SnapshotView[] =>
  [T1, T2, T3].slice(0, states.length).map((time, i) => ({ id: `pbs1:backup/vm/100/${new Date(time).toISOString().replace('.000', '')}`, time, ...(states[i] !== 'none' ? { verified: states[i] as 'ok' | 'failed' } : {}) }));
const vzdump = (lastSuccess: number | null, listed: SnapshotView[] | null, listedAt = NOW - HOUR, over: Partial<JobView> = {}) =>
  job({ agent: 'pve1', job: 'vzdump-100-pbs1', asset: 'vm-100', driver: 'vzdump', target: PBS1, timezone: 'UTC', lastSuccess, inventory: listed && inventoryOf(listed, listedAt), ...over });

const VERIFIED: [string, JobView, number | null][] = [
  ['the newest snapshot verified ok: the copy stands', vzdump(T3 + 5 * MIN, snaps('ok', 'ok', 'ok')), T3 + 5 * MIN],
  ['the newest snapshot not verified yet: the copy stands', vzdump(T3 + 5 * MIN, snaps('ok', 'ok', 'none')), T3 + 5 * MIN],
  ['the newest snapshot failed: the copy is the one before it', vzdump(T3 + 5 * MIN, snaps('ok', 'ok', 'failed')), T2],
  ['the newest two failed: the newest good one is older still', vzdump(T3 + 5 * MIN, snaps('none', 'failed', 'failed')), T1],
  ['every snapshot failed: no good copy at all', vzdump(T3 + 5 * MIN, snaps('failed', 'failed', 'failed')), null],
  ['a backup newer than the listing is kept (not listed yet)', vzdump(T3 + 5 * MIN, snaps('ok', 'failed'), T3), T3 + 5 * MIN],
  ['a listing without any verification state changes nothing', vzdump(T3 + 5 * MIN, snaps('none', 'none', 'none')), T3 + 5 * MIN],
  ['a job that never succeeded stays so', vzdump(null, snaps('ok', 'ok', 'failed')), null],
];
for (const [behaviour, j, expected] of VERIFIED) {
  test(`verified copies: ${behaviour}`, () => {
    const [out] = withVerifiedCopies([j]);
    assert.equal(out.lastSuccess, expected);
    if (expected === j.lastSuccess) assert.equal(out, j, 'an unchanged job is the same view');
  });
}

test('every listed snapshot failed verification: the RPO counts from the oldest one, not from when the collector first saw the job', () => {
  const fresh = vzdump(T3 + 5 * MIN, snaps('failed', 'failed', 'failed'), NOW - HOUR, { knownSince: NOW - HOUR });
  const [out] = withVerifiedCopies([fresh]);
  assert.deepEqual([out.lastSuccess, out.knownSince], [null, T1]);
  assert.deepEqual(rpo(input({ jobs: [out] }), NOW).map((f) => [f.key, f.since]), [['rpo|vm-100', T1 + DAY]]);
  assert.deepEqual(rpo(input({ jobs: [fresh] }), NOW), [], 'before: the last success looked fresh');
});

test('verified copies: the newest listing of a target speaks for every job of the asset there, of any agent', () => {
  // The PBS agent lists the group after its verify job ran; the PVE host's listing is older.
  const pve = vzdump(T3 + 5 * MIN, snaps('ok', 'ok', 'none'), T3 + HOUR);
  const group = job({ agent: 'pbs', job: 'pbs-store1-vm-100', asset: 'vm-100', driver: 'pbs-group', target: PBS1, schedule: '', lastSuccess: T3 + 5 * MIN, inventory: inventoryOf(snaps('ok', 'ok', 'failed'), NOW - HOUR) });
  const jobs = [pve, group];
  const out = withVerifiedCopies(jobs);
  assert.deepEqual(out.map((j) => j.lastSuccess), [T2, T2]);
  assert.deepEqual(jobs.map((j) => j.lastSuccess), [T3 + 5 * MIN, T3 + 5 * MIN], 'the input views are not changed');
});

test("a vm-100 whose only fresh copy at pbs1 failed verification: rpo and three-two-one follow", () => {
  // The copy before (T2) is 1d 11h old at NOW: beyond the tier-1 RPO of 24 h.
  const offsite = job({ agent: 'pve1', job: 'vzdump-100-cloud', asset: 'vm-100', target: { name: 'cloud', location: 'offsite', media: 'cloud' }, lastSuccess: NOW - 3 * DAY });
  const before = input({ jobs: [vzdump(T3 + 5 * MIN, snaps('ok', 'ok', 'ok')), offsite] });
  assert.deepEqual(rpo(before, NOW).map((f) => f.key), ['rpo-target|pve1|vzdump-100-cloud']);
  const i = input({ jobs: withVerifiedCopies([vzdump(T3 + 5 * MIN, snaps('ok', 'ok', 'failed')), offsite]) });
  assert.deepEqual(rpo(i, NOW).map((f) => f.key).sort(), ['rpo-target|pve1|vzdump-100-cloud', 'rpo-target|pve1|vzdump-100-pbs1', 'rpo|vm-100']);
  assert.deepEqual(threeTwoOne(i, NOW).map((f) => f.title), ['vm-100 does not meet 3-2-1: 1 of 3 copies, only one media kind (disk), no off-site copy']);
  assert.deepEqual(snapshotVerifyFailed(i).map((f) => [f.key, f.severity, f.title]), [
    ['snapshot-verify-failed|vm-100|pbs1', 'warning', 'The newest snapshot of vm-100 at pbs1 failed verification: pbs1:backup/vm/100/2026-02-01T01:00:00Z'],
  ]);
  assert.match(snapshotVerifyFailed(i)[0].detail, /The newest one there that did not fail is pbs1:backup\/vm\/100\/2026-01-31T01:00:00Z \(verified ok/);
});

const NEWEST: [string, SnapshotView[], boolean][] = [
  ['snapshot-verify-failed is raised while the newest snapshot failed', snaps('ok', 'failed'), true],
  ['snapshot-verify-failed resolves once a newer snapshot is verified ok', snaps('ok', 'failed', 'ok'), false],
  ['snapshot-verify-failed resolves once a newer snapshot is listed, not yet verified', snaps('ok', 'failed', 'none'), false],
];
for (const [behaviour, listed, fires] of NEWEST) {
  test(behaviour, () => {
    assert.equal(snapshotVerifyFailed(input({ jobs: [vzdump(T3, listed)] })).length, fires ? 1 : 0);
  });
}

// ---- a PBS backup group is a copy of the PVE guest's asset ----

const group = (lastSuccess: number | null) =>
  job({ agent: 'pbs', job: 'pbs-store1-vm-100', asset: 'vm-100', driver: 'pbs-group', target: PBS1, schedule: '', lastSuccess, knownSince: NOW - 30 * DAY });

test('a PBS group job pbs-store1-vm-100 alone counts as the copy of vm-100 at pbs1', () => {
  const i = input({ jobs: [group(NOW - HOUR)] });
  assert.deepEqual(rpo(i, NOW), []);
  const [state] = assetStates(i, NOW);
  assert.equal(state.asset, 'vm-100');
  assert.deepEqual(state.copies.freshTargets.map((t) => t.name), ['pbs1']);
  assert.equal(state.copies.copies, 2);
});

test("beside the PVE job of the same target, the PBS group is the same copy: no double count", () => {
  const c = countCopies([vzdump(NOW - HOUR, null), group(NOW - HOUR)], DAY, NOW);
  assert.equal(c.copies, 2);
  assert.deepEqual(c.media, ['disk', 'pbs']);
});

test('one fresh job at a target keeps the other job there from being called stale (rpo-target judges targets)', () => {
  const offsite = job({ agent: 'pve1', job: 'vzdump-100-cloud', asset: 'vm-100', target: { name: 'cloud', location: 'offsite', media: 'cloud' }, lastSuccess: NOW - HOUR });
  assert.deepEqual(rpo(input({ jobs: [vzdump(NOW - HOUR, null), group(NOW - 3 * DAY), offsite] }), NOW), []);
  assert.deepEqual(rpo(input({ jobs: [vzdump(NOW - 3 * DAY, null), group(NOW - 3 * DAY), offsite] }), NOW).map((f) => f.key), [
    'rpo-target|pve1|vzdump-100-pbs1',
    'rpo-target|pbs|pbs-store1-vm-100',
  ]);
});

test('an asset whose jobs all write to one target gets only the asset RPO finding', () => {
  assert.deepEqual(rpo(input({ jobs: [vzdump(NOW - 3 * DAY, null), group(NOW - 3 * DAY)] }), NOW).map((f) => f.key), ['rpo|vm-100']);
});

test('a PBS group does not stand for an enabled Proxmox backup job in the coverage audit', () => {
  const proxmox = [{
    agent: 'pve1', timezone: 'UTC', node: 'pve1', updatedAt: NOW, storages: [], backupJobs: [],
    guests: [{ vmid: 100, type: 'qemu' as const, name: 'web01', node: 'pve1', tags: [], template: false, tier: 1 as const, tierFrom: 'pool' as const, excluded: false, snapshots: [] }],
  }];
  assert.deepEqual(guestCoverage(input({ jobs: [group(NOW - HOUR)], proxmox }), NOW).map((f) => f.key), ['guest-not-covered|pve1|vm-100']);
});
