import assert from 'node:assert/strict';
import { test } from 'node:test';
import { backupTaskGroup, buildPbsScan, estimatedFullAt, groupAsset, keepRetention, maintenanceOf, pbsSchedule, safeName, taskJob, upidStartTime, type PbsScanConfig } from '../agent/pbs/scan';
import { LOST_TASK, planRuns, runStatusOf, snapshotRunId, taskRunId, type PbsReportedState } from '../agent/pbs/runs';
import type { PbsJobConfig } from '../agent/pbs/types';
import { catalogJobSchema, inventorySchema, pbsSchema, runSchema, runStartSchema } from '../shared/protocol';
import { inventoryOf, sampleWorld, upid } from './helpers/pbs';

// The PBS scan's pure decisions, as tables. No PBS can run here: the inventories are built from
// the stand-ins' world (test/fixtures/pbs), which replays REFERENCE-INTEGRATIONS.md §5 — kebab-case
// API items, snake_case tasks, UPIDs with hex start times, `WARNINGS: n` / `unknown` statuses.

const NOW_S = 1_780_000_000; // 2026-05-28
const NOW = NOW_S * 1000;
const DAY = 86_400;
const config = (pbs: Partial<PbsScanConfig['pbs']> = {}, targets: PbsScanConfig['targets'] = [{ name: 'store1', location: 'onsite', media: 'pbs' }]): PbsScanConfig => ({
  targets,
  pbs: { tier: 2, groupTier: 4, datastores: {}, groups: {}, exclude: ['scratch'], ...pbs },
});
const meta = { agent: 'pbs1', seq: 1, sentAt: new Date(NOW).toISOString() };

test('estimated-full-date: 0 (infinite), a past date (flat or declining) and none are no forecast; a future date is one', () => {
  const cases: [number | undefined, string | null][] = [
    [0, null],
    [NOW_S - 1, null],
    [NOW_S, null],
    [undefined, null],
    [Number.NaN, null],
    [NOW_S + 10 * DAY, new Date((NOW_S + 10 * DAY) * 1000).toISOString()],
  ];
  for (const [value, want] of cases) assert.equal(estimatedFullAt(value, NOW), want, String(value));
});

test('task status strings become run statuses: OK, WARNINGS: n, unknown (PBS lost the task), else the error text', () => {
  const cases: [string | undefined, { status: string; error?: string }][] = [
    ['OK', { status: 'success' }],
    ['WARNINGS: 3', { status: 'warning' }],
    ['unknown', { status: 'failure', error: LOST_TASK }],
    [undefined, { status: 'failure', error: LOST_TASK }],
    ['verification failed - please check the log for details', { status: 'failure', error: 'verification failed - please check the log for details' }],
    ['WARNINGS: lots', { status: 'failure', error: 'WARNINGS: lots' }],
  ];
  for (const [status, want] of cases) assert.deepEqual(runStatusOf(status), want, String(status));
});

test('worker ids map tasks to their jobs: GC by store, verify and sync by the trailing job id, prune by store and namespace', () => {
  const job = (id: string, store: string, ns?: string): PbsJobConfig => ({ id, store, ...(ns ? { ns } : {}) });
  const ctx = {
    stores: new Set(['store1', 'store2', 'old']),
    verify: [job('v-weekly', 'store1')],
    sync: [job('s-offsite', 'store2')],
    prune: [job('p-daily', 'store1'), job('p-ns', 'store2', 'lab'), job('p-a', 'store3'), job('p-b', 'store3')],
    ownPrune: new Set(['old']),
  };
  const cases: [string, string, string | null][] = [
    ['garbage_collection', 'store1', 'gc-store1'],
    ['garbage_collection', 'elsewhere', null],
    ['verificationjob', 'store1:v-weekly', 'verify-v-weekly'],
    ['verificationjob', 'store1:v-gone', null],
    ['verify', 'store1', null], // a manual verify is no job's run
    ['syncjob', 'pbs0:main:store2:s-offsite', 'sync-s-offsite'],
    ['syncjob', 'pbs0:main:store2:lab:s-offsite', 'sync-s-offsite'],
    ['syncjob', '-:other:store2:s-offsite', 'sync-s-offsite'],
    ['prunejob', 'store1', 'prune-p-daily'],
    ['prunejob', 'store2:lab', 'prune-p-ns'],
    ['prunejob', 'store2', null],
    ['prunejob', 'store3', null], // two prune jobs on one store: which one ran cannot be told
    ['prunejob', 'old', 'prune-old'], // older PBS: the datastore's own prune-schedule
    ['prunejob', 'p-daily', 'prune-p-daily'],
    ['prune', 'store1', null],
    ['backup', 'store1:vm/100', null],
  ];
  for (const [type, id, want] of cases) assert.equal(taskJob({ worker_type: type, worker_id: id }, ctx), want, `${type} ${id}`);
  assert.deepEqual(backupTaskGroup({ worker_type: 'backup', worker_id: 'store1:vm/100' }), { store: 'store1', group: 'vm/100' });
  assert.deepEqual(backupTaskGroup({ worker_type: 'backup', worker_id: 'store1:host/elsa.lan' }), { store: 'store1', group: 'host/elsa.lan' });
  assert.equal(backupTaskGroup({ worker_type: 'backup', worker_id: 'store1:lab:vm/100' }), null, 'a namespace other than the root is not watched');
  assert.equal(backupTaskGroup({ worker_type: 'reader', worker_id: 'store1:vm/100' }), null);
});

test('names are sanitized to what the collector accepts, or refused', () => {
  const cases: [string, string | null][] = [
    ['gc-store1', 'gc-store1'],
    ['pbs-store1-host-elsa.lan', 'pbs-store1-host-elsa.lan'],
    ['pbs-store1-host-my pc', 'pbs-store1-host-my_pc'],
    ['_hidden', null],
    [`pbs-store1-host-${'x'.repeat(60)}`, null],
    ['', null],
  ];
  for (const [raw, want] of cases) assert.equal(safeName(raw), want, raw);
  assert.deepEqual([groupAsset('vm', '100'), groupAsset('ct', '101'), groupAsset('host', 'elsa'), groupAsset('host', '_x'), groupAsset('host', 'y'.repeat(80))], ['vm-100', 'ct-101', 'elsa', 'host-_x', null]);
});

test('PBS calendar events become cron; one without a cron form stays as written; none is empty', () => {
  const cases: [string | undefined, string][] = [
    ['daily', '0 0 * * *'],
    ['sat 06:00', '0 6 * * 6'],
    ['mon..fri 21:30', '30 21 * * 1-5'],
    ['*:0/15', '*/15 * * * *'],
    ['2027-*-* 02:00', '2027-*-* 02:00'],
    ['', ''],
    [undefined, ''],
  ];
  for (const [event, want] of cases) assert.equal(pbsSchedule(event), want, String(event));
  assert.equal(upidStartTime(upid({ starttime: 0x5ca78b83, type: 'garbage_collection', id: 'store1' })), 0x5ca78b83);
  assert.equal(upidStartTime('UPID:elsa:00004F37:0039E469:00000000:5CA78B83:garbage_collection::root@pam:'), 0x5ca78b83, 'the reference example');
  assert.equal(upidStartTime('not a upid'), null);
  assert.deepEqual(keepRetention({ 'keep-daily': 7, 'keep-weekly': 4, 'keep-last': 0 }), { daily: 7, weekly: 4 });
  assert.equal(keepRetention({}), null);
  assert.deepEqual([maintenanceOf('type=read-only,message=moving disks'), maintenanceOf('offline'), maintenanceOf(undefined)], ['read-only', 'offline', undefined]);
});

test('catalog: server jobs per datastore (GC schedule as cron, disabled job left out with a note) and one job per backup group with its overrides', () => {
  const world = sampleWorld(NOW_S);
  const scan = buildPbsScan(inventoryOf(world), config({ datastores: { store2: { target: 'pbs-offsite', tier: 1 } }, groups: { 'host/elsa': { asset: 'elsa-etc', tier: 1 } } }), NOW);
  for (const j of scan.jobs) catalogJobSchema.parse(j);
  const byName = new Map(scan.jobs.map((j) => [j.name, j]));
  assert.deepEqual(
    [...byName.keys()],
    ['gc-store1', 'gc-store2', 'verify-v-store2', 'verify-v-weekly', 'prune-p-daily', 'sync-s-offsite', 'pbs-store1-ct-101', 'pbs-store1-host-elsa', 'pbs-store1-vm-100', 'pbs-store2-vm-100'],
  );
  const gc = byName.get('gc-store1')!;
  assert.deepEqual(
    { role: gc.role, driver: gc.driver, asset: gc.asset, tier: gc.tier, schedule: gc.schedule, target: gc.target, timeoutMs: gc.timeoutMs, retention: gc.retention },
    { role: 'maintenance', driver: 'pbs-gc', asset: 'datastore-store1', tier: 2, schedule: '0 0 * * *', target: { name: 'store1', location: 'onsite', media: 'pbs' }, timeoutMs: 0, retention: {} },
  );
  assert.deepEqual([byName.get('gc-store2')!.schedule, byName.get('gc-store2')!.tier, byName.get('gc-store2')!.target], ['30 3 * * 6', 1, { name: 'pbs-offsite', location: 'onsite', media: 'pbs' }]);
  assert.deepEqual([byName.get('verify-v-weekly')!.driver, byName.get('verify-v-weekly')!.schedule], ['pbs-verify', '0 6 * * 6']);
  assert.deepEqual([byName.get('sync-s-offsite')!.driver, byName.get('sync-s-offsite')!.schedule, byName.get('prune-p-daily')!.driver], ['pbs-sync', '0 * * * *', 'pbs-prune']);
  assert.ok(!byName.has('verify-v-off'));
  assert.ok(scan.notes.some((n) => /verify job v-off is disabled/.test(n)), scan.notes.join('\n'));
  assert.ok(scan.notes.some((n) => /target pbs-offsite is not declared.*name it like the PVE storage/.test(n)), 'the undeclared target is explained');

  const vm = byName.get('pbs-store1-vm-100')!;
  assert.deepEqual(
    { role: vm.role, driver: vm.driver, asset: vm.asset, tier: vm.tier, schedule: vm.schedule, retention: vm.retention, restore: vm.restore },
    { role: undefined, driver: 'pbs-group', asset: 'vm-100', tier: 4, schedule: '', retention: { daily: 7, weekly: 4 }, restore: { store: 'store1', backupType: 'vm', backupId: '100', pbsHost: 'pbs1' } },
  );
  assert.deepEqual([byName.get('pbs-store1-host-elsa')!.asset, byName.get('pbs-store1-host-elsa')!.tier], ['elsa-etc', 1], 'the group override');
  assert.deepEqual([byName.get('pbs-store1-ct-101')!.asset, byName.get('pbs-store2-vm-100')!.tier, byName.get('pbs-store2-vm-100')!.retention], ['ct-101', 4, {}], 'groups take pbs.groupTier (4: the PVE host decides), not the datastore\'s tier; store2 has no prune job: keep all');
  assert.ok(![...byName.keys()].some((n) => n.includes('scratch')), 'the excluded datastore is not watched');
});

test('inventories list every snapshot of a group with its path, size, verification and protection; the pbs message carries usage, forecast and GC', () => {
  const world = sampleWorld(NOW_S);
  const scan = buildPbsScan(inventoryOf(world), config(), NOW);
  const inv = scan.inventories.find((i) => i.job === 'pbs-store1-vm-100')!;
  inventorySchema.parse({ ...inv, ...meta });
  assert.equal(inv.target, 'store1');
  assert.deepEqual(
    inv.snapshots.map((s) => [s.id.replace(/\d\d:\d\d:\d\dZ$/, ''), s.verified, s.protected ?? false]),
    [
      [`vm/100/${new Date((world.snapshots.store1[0]['backup-time']) * 1000).toISOString().slice(0, 11)}`, 'ok', true],
      [`vm/100/${new Date((world.snapshots.store1[1]['backup-time']) * 1000).toISOString().slice(0, 11)}`, 'ok', false],
      [`vm/100/${new Date((world.snapshots.store1[2]['backup-time']) * 1000).toISOString().slice(0, 11)}`, 'failed', false],
    ],
  );
  assert.match(inv.snapshots[2].id, /^vm\/100\/\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
  assert.equal(inv.snapshots[2].bytes, 32 * 2 ** 30);
  assert.equal(scan.inventories.find((i) => i.job === 'pbs-store1-host-elsa')!.snapshots[0].verified, undefined, 'never verified');

  const msg = pbsSchema.parse({ ...scan.message, ...meta });
  const [s1, s2] = msg.datastores;
  assert.deepEqual(msg.datastores.map((d) => d.name), ['store1', 'store2']);
  assert.equal(s1.usedBytes! / s1.totalBytes!, 0.85);
  assert.equal(s1.estimatedFullAt, null, 'estimated-full-date 0: infinite');
  assert.equal(s2.estimatedFullAt, new Date((NOW_S + 10 * DAY) * 1000).toISOString());
  assert.deepEqual(s1.gc, {
    upid: world.datastores[0]['gc-status']!.upid,
    startedAt: new Date((NOW_S - (NOW_S % DAY) - DAY + 2 * 3600) * 1000).toISOString(),
    removedBytes: 3 * 2 ** 30,
    pendingBytes: 2 ** 30,
    diskBytes: 300 * 2 ** 30,
    indexDataBytes: 900 * 2 ** 30,
    stillBad: 0,
  });
  assert.equal(s2.gc && s2.gc.upid, undefined, 'store2 never collected: no upid');
  assert.deepEqual(s1.counts, { vm: { groups: 1, snapshots: 3 }, ct: { groups: 1, snapshots: 1 }, host: { groups: 1, snapshots: 1 }, other: { groups: 0, snapshots: 0 } });
});

test('a datastore whose snapshots cannot be listed keeps its group jobs from the last scan and sends no inventory', () => {
  const world = sampleWorld(NOW_S);
  const first = buildPbsScan(inventoryOf(world), config(), NOW);
  const inv = inventoryOf(world);
  inv.snapshots.delete('store1');
  const later = buildPbsScan(inv, config(), NOW, first.jobs);
  assert.deepEqual(later.jobs.map((j) => j.name).sort(), first.jobs.map((j) => j.name).sort());
  assert.ok(!later.inventories.some((i) => i.job.startsWith('pbs-store1-')));
  assert.equal(later.message.datastores[0].counts, undefined);
});

test('runs: failed verify, GC, prune and backups become runs with statuses and sizes; a synced or task-less snapshot is a run at its time; a running task a run-start', () => {
  const world = sampleWorld(NOW_S);
  const scan = buildPbsScan(inventoryOf(world), config(), NOW);
  const state: PbsReportedState = { tasks: {}, groups: {} };
  const plan = planRuns(inventoryOf(world), scan, state, 'pbs1', NOW);
  for (const r of plan.reports) (r.message.kind === 'run' ? runSchema : runStartSchema).parse({ ...r.message, ...meta });
  const runs = plan.reports.map((r) => r.message);
  const of = (job: string) => runs.filter((m) => m.job === job);
  const gc = of('gc-store1');
  assert.equal(gc.length, 1, 'the GC nine days ago is outside the window');
  assert.deepEqual([gc[0].kind, gc[0].kind === 'run' && gc[0].status, gc[0].kind === 'run' && gc[0].durationMs], ['run', 'success', 600_000]);
  const verify = of('verify-v-weekly')[0];
  assert.ok(verify.kind === 'run');
  assert.deepEqual([verify.status, verify.error, verify.operation, verify.trigger], ['failure', 'verification failed - please check the log for details', 'backup', 'schedule']);
  assert.equal(verify.runId, taskRunId('pbs1', world.tasks[1].upid));
  assert.ok(of('prune-p-daily')[0].kind === 'run');
  const running = of('verify-v-store2');
  assert.deepEqual(running.map((m) => m.kind), ['run-start']);

  const vm = of('pbs-store1-vm-100');
  assert.equal(vm.length, 1, 'the backup task made the newest snapshot: one run, not two');
  assert.ok(vm[0].kind === 'run');
  assert.deepEqual([vm[0].status, vm[0].bytesTotal, vm[0].durationMs], ['success', 32 * 2 ** 30, 900_000]);
  assert.match(vm[0].snapshotId!, /^vm\/100\//);
  const ct = of('pbs-store1-ct-101')[0];
  assert.ok(ct.kind === 'run');
  assert.deepEqual([ct.status, ct.bytesTotal], ['warning', 2 * 2 ** 30]);
  const synced = of('pbs-store2-vm-100')[0];
  assert.ok(synced.kind === 'run');
  assert.deepEqual([synced.status, synced.durationMs, synced.bytesTotal, synced.runId], ['success', 0, 31 * 2 ** 30, snapshotRunId('pbs1', 'store2', 'vm/100', world.snapshots.store2[0]['backup-time'])]);
  assert.equal(synced.startedAt, new Date(world.snapshots.store2[0]['backup-time'] * 1000).toISOString());
  assert.equal(of('pbs-store1-host-elsa').length, 1, 'a task-less group: its newest snapshot');
  assert.ok(!runs.some((m) => m.job.includes('scratch')));
  assert.deepEqual(runs.map((m) => m.startedAt), [...runs.map((m) => m.startedAt)].sort(), 'oldest first');

  // Everything remembered: the next scan reports nothing; the running task's end is one run.
  for (const r of plan.reports) {
    if (r.task) state.tasks[r.task.upid] = { t: r.task.starttime, done: r.task.done };
    if (r.group) state.groups[r.group.key] = r.group.time;
  }
  Object.assign(state.groups, plan.highWater);
  assert.deepEqual(planRuns(inventoryOf(world), scan, state, 'pbs1', NOW).reports, []);
  const done = structuredClone(world);
  const t = done.tasks.find((x) => x.worker_id === 'store2:v-store2')!;
  Object.assign(t, { endtime: NOW_S + 60, status: 'unknown' });
  const after = planRuns(inventoryOf(done), buildPbsScan(inventoryOf(done), config(), NOW), state, 'pbs1', NOW + 60_000).reports.map((r) => r.message);
  assert.equal(after.length, 1);
  assert.ok(after[0].kind === 'run');
  assert.deepEqual([after[0].job, after[0].status, after[0].error, after[0].runId], ['verify-v-store2', 'failure', LOST_TASK, running[0].runId], 'the same run id as its start');
});

test('first scan limits: only the newest snapshot per group and tasks ended within 7 days; later snapshots newer than the reported ones follow', () => {
  const world = sampleWorld(NOW_S);
  world.tasks = [
    { upid: upid({ starttime: NOW_S - 8 * DAY, type: 'garbage_collection', id: 'store1' }), node: 'pbs1', pid: 1, pstart: 1, starttime: NOW_S - 8 * DAY, endtime: NOW_S - 8 * DAY + 60, worker_type: 'garbage_collection', worker_id: 'store1', user: 'root@pam', status: 'OK' },
    { upid: upid({ starttime: NOW_S - 6 * DAY, type: 'garbage_collection', id: 'store1' }), node: 'pbs1', pid: 1, pstart: 1, starttime: NOW_S - 6 * DAY, endtime: NOW_S - 6 * DAY + 60, worker_type: 'garbage_collection', worker_id: 'store1', user: 'root@pam', status: 'OK' },
  ];
  world.snapshots.store1 = Array.from({ length: 200 }, (_, i) => ({ 'backup-type': 'vm' as const, 'backup-id': '100', 'backup-time': NOW_S - (200 - i) * DAY, files: [], size: 1000 + i }));
  const scan = buildPbsScan(inventoryOf(world), config(), NOW);
  const state: PbsReportedState = { tasks: {}, groups: {} };
  const plan = planRuns(inventoryOf(world), scan, state, 'pbs1', NOW);
  const runs = plan.reports.map((r) => r.message);
  assert.deepEqual(runs.filter((m) => m.job === 'pbs-store1-vm-100').map((m) => m.startedAt), [new Date((NOW_S - DAY) * 1000).toISOString()]);
  assert.deepEqual(runs.filter((m) => m.job === 'gc-store1').map((m) => m.startedAt), [new Date((NOW_S - 6 * DAY) * 1000).toISOString()]);
  for (const r of plan.reports) if (r.task) state.tasks[r.task.upid] = { t: r.task.starttime, done: r.task.done };
  Object.assign(state.groups, plan.highWater);

  world.snapshots.store1.push({ 'backup-type': 'vm', 'backup-id': '100', 'backup-time': NOW_S + 3600, files: [], size: 5000 }, { 'backup-type': 'vm', 'backup-id': '100', 'backup-time': NOW_S + 7200, files: [], size: 6000 });
  const later = planRuns(inventoryOf(world), buildPbsScan(inventoryOf(world), config(), NOW + 8000_000), state, 'pbs1', NOW + 8000_000).reports.map((r) => r.message);
  assert.deepEqual(later.map((m) => [m.job, m.kind === 'run' && m.bytesTotal]), [['pbs-store1-vm-100', 5000], ['pbs-store1-vm-100', 6000]]);
});
