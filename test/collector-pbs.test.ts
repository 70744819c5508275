import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { test } from 'node:test';
import { collectorConfig, rulesConfig, tierPolicies } from '../collector/config';
import { Evaluator } from '../collector/evaluate/evaluator';
import { migrate } from '../collector/migrations';
import type { CatalogJob, PbsDatastore, Unsequenced } from '../shared/protocol';
import { TestAgent, catalogJob, count, databaseAt, heartbeat, hello, run, testCollector } from './collector-helpers';

// Proxmox Backup Server through the collector's real HTTP ingest: the agent's 'pbs' message stored
// (newest seq wins, nothing half-stored), its server jobs judged by the evaluator, snapshots whose
// verification failed no longer counting, and what the overview, the asset page, /api/v1/status
// and /metrics show. The messages are built as the PBS agent sends them (shared/protocol.ts).

const DAY = 86_400_000;
const GIB = 2 ** 30;
const PBS1 = { name: 'pbs1', location: 'onsite', media: 'pbs' } as const;

const store = (over: Partial<PbsDatastore> = {}): PbsDatastore => ({
  name: 'store1',
  target: 'pbs1',
  totalBytes: 100 * GIB,
  usedBytes: 85 * GIB,
  availBytes: 15 * GIB,
  estimatedFullAt: '2025-01-11T03:00:00Z',
  gc: { upid: 'UPID:pbs:00004F37:0039E469:00000000:67748B83:garbage_collection:store1:root@pam:', startedAt: '2025-01-01T00:30:00Z', removedBytes: 2 * GIB, pendingBytes: GIB, stillBad: 0 },
  // The protocol's counts record has all four keys (the agent counts zeros too).
  counts: { vm: { groups: 1, snapshots: 3 }, ct: { groups: 0, snapshots: 0 }, host: { groups: 0, snapshots: 0 }, other: { groups: 0, snapshots: 0 } },
  ...over,
});
const pbs = (...datastores: PbsDatastore[]): Unsequenced => ({ kind: 'pbs', datastores }) as Unsequenced;

// The server jobs of a PBS agent (role 'maintenance'), asset the datastore, target its target.
const serverJob = (name: string, driver: string, schedule: string): CatalogJob =>
  catalogJob(name, { asset: 'datastore-store1', driver, target: PBS1, schedule, retention: {}, role: 'maintenance' });
const SERVER_JOBS = [serverJob('gc-store1', 'pbs-gc', '0 2 * * *'), serverJob('verify-weekly', 'pbs-verify', '0 3 * * 0'), serverJob('prune-daily', 'pbs-prune', '')];

const vzdumpJob = catalogJob('vzdump-100-pbs1', {
  asset: 'vm-100',
  driver: 'vzdump',
  target: PBS1,
  restore: { vmtype: 'qemu', vmid: '100', storage: 'pbs1', storageType: 'pbs', node: 'pve1' },
});
const groupJob = catalogJob('pbs-store1-vm-100', {
  asset: 'vm-100',
  driver: 'pbs-group',
  target: PBS1,
  schedule: '',
  restore: { store: 'store1', backupType: 'vm', backupId: '100', pbsHost: 'pbs.lan' },
});
const snapshot = (iso: string, verified?: 'ok' | 'failed') => ({ id: `pbs1:backup/vm/100/${iso}`, time: iso, ...(verified ? { verified } : {}) });

function setup() {
  const pve1 = new TestAgent('pve1');
  const pbsAgent = new TestAgent('pbs');
  const c = testCollector([pve1, pbsAgent], { incidents: { flap: '0s' } });
  const cfg = collectorConfig({});
  const evaluator = new Evaluator({ db: c.db, tiers: tierPolicies(cfg), rules: rulesConfig(cfg), channels: [], reminderMs: DAY, flapMs: 0 });
  const sendAs = (agent: TestAgent) => async (...messages: Unsequenced[]) => {
    const res = await c.app.inject(agent.report({ messages: messages.map((m) => agent.msg(m, new Date(c.clock.now))) }));
    assert.equal(res.statusCode, 200, res.body);
  };
  const open = () => (c.db.prepare('SELECT key FROM incidents WHERE resolved_at IS NULL ORDER BY key').all() as { key: string }[]).map((r) => r.key);
  const get = async (url: string) => (await c.app.inject({ method: 'GET', url })).json();
  return { c, pve1, pbsAgent, evaluator, pve: sendAs(pve1), pbs: sendAs(pbsAgent), open, get };
}

test("the newest pbs message per agent is kept whole: a higher seq replaces it, an older one does not, and usage samples are kept", async () => {
  const { c, pbsAgent, pbs: send } = setup();
  const stored = () => JSON.parse((c.db.prepare('SELECT body FROM pbs').get() as { body: string }).body);
  const second = pbsAgent.msg(pbs(store(), store({ name: 'store2', target: 'pbs2' })), new Date(c.clock.now));
  const first = { ...pbsAgent.msg(pbs(store({ usedBytes: GIB })), new Date(c.clock.now - 60_000)), seq: second.seq - 1 };
  pbsAgent.seq = second.seq + 10;
  assert.equal((await c.app.inject(pbsAgent.report({ messages: [second] }))).statusCode, 200);
  assert.equal((await c.app.inject(pbsAgent.report({ messages: [first] }))).json().accepted, 1);
  assert.deepEqual(stored().datastores.map((d: PbsDatastore) => d.name), ['store1', 'store2'], 'the older message does not roll it back');
  assert.deepEqual(Object.keys(stored()), ['datastores'], 'without the envelope');

  c.clock.now += 60_000;
  await send(pbs(store({ usedBytes: 86 * GIB })));
  assert.deepEqual(stored().datastores.map((d: PbsDatastore) => [d.name, d.usedBytes]), [['store1', 86 * GIB]], 'replaced whole: store2 is gone');
  assert.equal(count(c.db, 'pbs'), 1);
  const samples = c.db.prepare(`SELECT mount, used_bytes AS used FROM fs_usage ORDER BY at, mount`).all();
  assert.deepEqual(samples, [
    { mount: 'datastore store1', used: GIB },
    { mount: 'datastore store1', used: 85 * GIB },
    { mount: 'datastore store2', used: 85 * GIB },
    { mount: 'datastore store1', used: 86 * GIB },
  ]);
});

test('a malformed pbs message is refused with 400 and nothing of its batch is stored', async () => {
  const { c, pbsAgent } = setup();
  const bad = { ...pbsAgent.msg(pbs(store())), datastores: [{ ...store(), totalBytes: -1 }] };
  const res = await c.app.inject(pbsAgent.report({ messages: [pbsAgent.msg(hello(SERVER_JOBS)), bad] }));
  assert.equal(res.statusCode, 400);
  assert.match(res.body, /messages\.1\.datastores\.0\.totalBytes/);
  for (const table of ['pbs', 'messages', 'jobs', 'fs_usage']) assert.equal(count(c.db, table), 0, table);
});

test('server jobs: a failed verify and a missed GC open incidents like any job; the datastore is no asset', async () => {
  const { c, evaluator, pbs: send, open, get } = setup();
  c.clock.now = Date.parse('2025-01-01T01:00:00Z');
  await send(hello(SERVER_JOBS), pbs(store({ estimatedFullAt: null, usedBytes: 50 * GIB })));
  const roles = c.db.prepare('SELECT name, role FROM jobs ORDER BY name').all();
  assert.deepEqual(roles, [{ name: 'gc-store1', role: 'maintenance' }, { name: 'prune-daily', role: 'maintenance' }, { name: 'verify-weekly', role: 'maintenance' }]);
  c.clock.now = Date.parse('2025-01-01T03:30:00Z');
  await send(
    run('verify-weekly', randomUUID(), {
      startedAt: '2025-01-01T03:00:00.000Z',
      finishedAt: '2025-01-01T03:20:00.000Z',
      status: 'failure',
      exitCode: null,
      error: 'verification failed - please check the log for details',
    }),
  );
  evaluator.pass(c.clock.now, true);
  assert.deepEqual(open(), ['failed-run|pbs|verify-weekly'], 'the GC is not due before the next 02:00 (Europe/Berlin, the agent zone)');
  assert.equal((c.db.prepare("SELECT title FROM incidents WHERE key = 'failed-run|pbs|verify-weekly'").get() as { title: string }).title, 'verify-weekly on pbs failed');

  c.clock.now = Date.parse('2025-01-02T03:01:00Z');
  await send(heartbeat());
  evaluator.pass(c.clock.now);
  assert.deepEqual(open(), ['failed-run|pbs|verify-weekly', 'missed-run|pbs|gc-store1']);
  assert.equal((c.db.prepare("SELECT title FROM incidents WHERE key = 'missed-run|pbs|gc-store1'").get() as { title: string }).title, 'gc-store1 on pbs missed its 02:00 run');

  const v = await get('/api/v1/overview');
  assert.equal(v.counts.assets, 0, 'a datastore kept by server jobs only is no asset');
  assert.equal(v.verdict.text, 'No assets reported yet: nothing is known to be recoverable');
  assert.deepEqual(v.pbs[0].jobs.map((j: { job: string; lastRun: { status: string } | null }) => [j.job, j.lastRun?.status ?? null]), [
    ['gc-store1', null],
    ['prune-daily', null],
    ['verify-weekly', 'failure'],
  ]);
  const asset = await get('/api/v1/assets/datastore-store1');
  assert.equal(asset.serverJobsOnly, true);
  assert.deepEqual(asset.risks, []);
  assert.deepEqual(asset.runbooks, []);
  const status = await get('/api/v1/status');
  assert.deepEqual(status.jobs.map((j: { name: string; role: string }) => [j.name, j.role]), [['gc-store1', 'maintenance'], ['prune-daily', 'maintenance'], ['verify-weekly', 'maintenance']]);
});

test("a datastore at 85 % and PBS's estimate 10 days away open capacity and capacity-forecast; one PBS cannot read opens datastore-unavailable", async () => {
  const { c, evaluator, pbs: send, open } = setup();
  await send(hello([]), pbs(store(), store({ name: 'store2', target: 'pbs2', totalBytes: undefined, usedBytes: undefined, availBytes: undefined, estimatedFullAt: null, gc: null, error: 'datastore is not mounted' })));
  evaluator.pass(c.clock.now, true);
  assert.deepEqual(open(), ['capacity-forecast|pbs|datastore store1', 'capacity|pbs|datastore store1', 'datastore-unavailable|pbs|datastore store2']);
  const titles = c.db.prepare('SELECT title FROM incidents ORDER BY key').all().map((r) => (r as { title: string }).title);
  assert.deepEqual(titles, [
    "datastore store1 on pbs will be full in 10 days (PBS's estimate)",
    'datastore store1 on pbs is 85% full',
    'PBS cannot read datastore store2 on pbs',
  ]);
  // An incremental pass replaces the host findings whole: a new report without the trouble resolves them.
  c.clock.now += 60_000;
  await send(pbs(store({ usedBytes: 50 * GIB, estimatedFullAt: null })));
  evaluator.pass(c.clock.now);
  assert.deepEqual(open(), []);
});

test('the overview shows each PBS agent: datastore usage, the estimate, the last GC, maintenance and error, escaped', async () => {
  const { c, pbs: send, get } = setup();
  await send(
    hello(SERVER_JOBS),
    pbs(store(), store({ name: 'store2', target: 'pbs2', estimatedFullAt: '2024-12-01T00:00:00Z', gc: null, maintenance: 'read-only', usedBytes: 10 * GIB }), store({ name: 'store3', target: 'pbs3', totalBytes: undefined, usedBytes: undefined, error: '<script>alert(1)</script>' })),
  );
  const v = await get('/api/v1/overview');
  assert.deepEqual(v.pbs[0].datastores, [
    {
      name: 'store1',
      target: 'pbs1',
      totalBytes: 100 * GIB,
      usedBytes: 85 * GIB,
      usedPct: 85,
      estimatedFullAt: '2025-01-11T03:00:00.000Z',
      gc: { startedAt: '2025-01-01T00:30:00.000Z', removedBytes: 2 * GIB, pendingBytes: GIB },
      error: null,
      maintenance: null,
    },
    { name: 'store2', target: 'pbs2', totalBytes: 100 * GIB, usedBytes: 10 * GIB, usedPct: 10, estimatedFullAt: null, gc: null, error: null, maintenance: 'read-only' },
    { name: 'store3', target: 'pbs3', totalBytes: null, usedBytes: null, usedPct: null, estimatedFullAt: '2025-01-11T03:00:00.000Z', gc: v.pbs[0].datastores[2].gc, error: '<script>alert(1)</script>', maintenance: null },
  ]);
  assert.equal(v.pbs[0].agent, 'pbs');
  assert.equal(v.pbs[0].updatedAt, '2025-01-01T03:00:00.000Z');

  const html = (await c.app.inject({ method: 'GET', url: '/' })).body;
  assert.match(html, /<h2 id="pbs-h">Proxmox Backup Server<\/h2>/);
  assert.match(html, /<th scope="row">store1 <small>→ pbs1<\/small><\/th><td><meter value="0\.850" high="0\.8" aria-label="store1 used"><\/meter> 85 % of 100\.0 GiB<\/td>/);
  assert.match(html, /<time datetime="2025-01-11T03:00:00\.000Z">2025-01-11 03:00 UTC<\/time> \(in 10d\)/);
  assert.match(html, /<td>2h 30m ago: 2\.0 GiB removed, 1\.0 GiB pending<\/td>/);
  assert.match(html, /<td class="warn">⚠ maintenance: read-only<\/td>/);
  assert.match(html, /<td class="bad">✖ PBS cannot read it: &lt;script&gt;alert\(1\)&lt;\/script&gt;<\/td>/);
  assert.ok(!html.includes('<script>alert(1)'));
  assert.match(html, /<a href="\/assets\/datastore-store1">gc-store1<\/a><\/th><td>pbs-gc<\/td><td>0 2 \* \* \*<\/td>/);
});

test('/api/v1/status lists the datastores; /metrics has their gauges and passes promtool', async () => {
  const { c, pbs: send, get } = setup();
  await send(hello([]), pbs(store(), store({ name: 'store2', target: 'pbs2', totalBytes: undefined, usedBytes: undefined, availBytes: undefined, estimatedFullAt: null, gc: null, error: 'not mounted' })));
  const status = await get('/api/v1/status');
  assert.deepEqual(status.datastores[0], {
    agent: 'pbs',
    name: 'store1',
    target: 'pbs1',
    totalBytes: 100 * GIB,
    usedBytes: 85 * GIB,
    availBytes: 15 * GIB,
    estimatedFullAt: '2025-01-11T03:00:00.000Z',
    gc: { startedAt: '2025-01-01T00:30:00.000Z', removedBytes: 2 * GIB, pendingBytes: GIB, stillBad: 0 },
    error: null,
    maintenance: null,
    updatedAt: '2025-01-01T03:00:00.000Z',
  });
  assert.equal(status.datastores[1].error, 'not mounted');

  const text = (await c.app.inject({ method: 'GET', url: '/metrics' })).body;
  assert.match(text, /^lifeline_pbs_datastore_size_bytes\{agent="pbs",datastore="store1"\} 107374182400$/m);
  assert.match(text, /^lifeline_pbs_datastore_used_bytes\{agent="pbs",datastore="store1"\} 91268055040$/m);
  assert.match(text, /^lifeline_pbs_datastore_estimated_full_timestamp_seconds\{agent="pbs",datastore="store1"\} 1736564400$/m);
  assert.match(text, /^lifeline_pbs_datastore_up\{agent="pbs",datastore="store1"\} 1$/m);
  assert.match(text, /^lifeline_pbs_datastore_up\{agent="pbs",datastore="store2"\} 0$/m);
  assert.ok(!text.includes('lifeline_pbs_datastore_size_bytes{agent="pbs",datastore="store2"}'), 'no size while PBS cannot read it');
  const r = spawnSync('/usr/bin/promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
  assert.equal(r.status, 0, `${r.stdout}${r.stderr}`);
  assert.equal(`${r.stdout}${r.stderr}`.trim(), '');
});

test('a snapshot whose verification failed stops counting: rpo and snapshot-verify-failed open, and resolve with a newer verified one', async () => {
  const { c, evaluator, pve, open, get } = setup();
  c.clock.now = Date.parse('2025-01-02T06:00:00Z');
  await pve(
    hello([vzdumpJob]),
    run('vzdump-100-pbs1', randomUUID(), { startedAt: '2025-01-01T01:00:00.000Z', finishedAt: '2025-01-01T01:10:00.000Z' }),
    run('vzdump-100-pbs1', randomUUID(), { startedAt: '2025-01-02T01:00:00.000Z', finishedAt: '2025-01-02T01:10:00.000Z' }),
    { kind: 'inventory', job: 'vzdump-100-pbs1', target: 'pbs1', snapshots: [snapshot('2025-01-01T01:00:00Z', 'ok'), snapshot('2025-01-02T01:00:00Z', 'failed')] } as Unsequenced,
  );
  assert.equal((c.db.prepare('SELECT verified FROM inventory').get() as { verified: string }).verified, 'of');
  evaluator.pass(c.clock.now, true);
  // The copy counts from the snapshot verified ok, 29 h old: beyond the tier-1 RPO.
  assert.deepEqual(open(), ['rpo|vm-100', 'snapshot-verify-failed|vm-100|pbs1', 'three-two-one|vm-100']);
  const v = await get('/api/v1/overview');
  assert.equal(v.tiers[0].assets[0].newestAt, '2025-01-01T01:00:00.000Z', 'the page judges the same copies');
  const metrics = (await c.app.inject({ method: 'GET', url: '/metrics' })).body;
  assert.match(metrics, /^lifeline_asset_rpo_ok\{asset="vm-100",tier="1"\} 0$/m);

  const asset = await get('/api/v1/assets/vm-100');
  assert.deepEqual(asset.copies[0].snapshot.verified, 'failed');
  assert.deepEqual(asset.copies[0].verification, { ok: 1, failed: 1, unverified: 0, newestOk: { id: 'pbs1:backup/vm/100/2025-01-01T01:00:00Z', time: '2025-01-01T01:00:00.000Z' } });
  assert.deepEqual(asset.snapshots.map((s: { id: string; verified: string | null }) => [s.id, s.verified]), [
    ['pbs1:backup/vm/100/2025-01-02T01:00:00Z', 'failed'],
    ['pbs1:backup/vm/100/2025-01-01T01:00:00Z', 'ok'],
  ]);
  assert.deepEqual(asset.runbooks[0].commands, ['qmrestore pbs1:backup/vm/100/2025-01-01T01:00:00Z 100'], 'the runbook restores the newest verified snapshot');
  const html = (await c.app.inject({ method: 'GET', url: '/assets/vm-100' })).body;
  assert.match(html, /<td class="bad">✖ verification failed<\/td>/);
  assert.match(html, /<td class="ok">✔ verified ok<\/td>/);

  // A new backup, listed and not yet verified: the copy counts again.
  c.clock.now = Date.parse('2025-01-02T08:00:00Z');
  await pve(
    run('vzdump-100-pbs1', randomUUID(), { startedAt: '2025-01-02T07:00:00.000Z', finishedAt: '2025-01-02T07:10:00.000Z' }),
    { kind: 'inventory', job: 'vzdump-100-pbs1', target: 'pbs1', snapshots: [snapshot('2025-01-01T01:00:00Z', 'ok'), snapshot('2025-01-02T01:00:00Z', 'failed'), snapshot('2025-01-02T07:00:00Z')] } as Unsequenced,
  );
  evaluator.pass(c.clock.now);
  assert.deepEqual(open(), ['three-two-one|vm-100'], 'one on-site copy is still no 3-2-1');
});

test('a PBS group pbs-store1-vm-100 counts as the copy of vm-100 at pbs1, once beside the PVE job there', async () => {
  const { c, evaluator, pve, pbs: send, open, get } = setup();
  // The PBS agent lists the group's snapshots by their PBS path.
  await send(
    hello([groupJob]),
    run('pbs-store1-vm-100', randomUUID(), { startedAt: '2025-01-01T01:00:00.000Z', finishedAt: '2025-01-01T01:10:00.000Z' }),
    { kind: 'inventory', job: 'pbs-store1-vm-100', target: 'pbs1', snapshots: [{ id: 'vm/100/2025-01-01T01:00:00Z', time: '2025-01-01T01:00:00Z', verified: 'ok' }] } as Unsequenced,
  );
  evaluator.pass(c.clock.now, true);
  let row = (await get('/api/v1/overview')).tiers[0].assets[0];
  assert.deepEqual([row.asset, row.rpoOk, row.badge.copies], ['vm-100', true, 2]);
  assert.ok(!open().includes('rpo|vm-100'));

  await pve(hello([vzdumpJob]), run('vzdump-100-pbs1', randomUUID(), { startedAt: '2025-01-01T01:00:00.000Z', finishedAt: '2025-01-01T01:09:00.000Z' }));
  evaluator.pass(c.clock.now, true);
  row = (await get('/api/v1/overview')).tiers[0].assets[0];
  assert.equal(row.badge.copies, 2, 'the same target: one copy');
  assert.deepEqual(row.badge.media, ['disk', 'pbs']);
  const asset = await get('/api/v1/assets/vm-100');
  const group = asset.runbooks.find((b: { job: string }) => b.job === 'pbs-store1-vm-100');
  assert.deepEqual(group.commands, ['qmrestore pbs1:backup/vm/100/2025-01-01T01:00:00Z 100']);
  assert.match(group.notes[0], /take the PBS storage there to be named pbs1/);
});

test('migration 10 fills the verification states of listings stored before it', () => {
  const db = databaseAt(9);
  const insert = db.prepare('INSERT INTO inventory (agent_id, job, target, snapshots, seq, updated_at) VALUES (1, ?, ?, ?, 1, 0)');
  insert.run('with', 'pbs1', JSON.stringify([{ id: 'a', time: '2025-01-01T00:00:00Z', verified: 'ok' }, { id: 'b', time: '2025-01-02T00:00:00Z' }, { id: 'c', time: '2025-01-03T00:00:00Z', verified: 'failed' }]));
  insert.run('without', 'usb', JSON.stringify([{ id: 'a', time: '2025-01-01T00:00:00Z' }]));
  insert.run('unreadable', 'usb', '[{"id": "a", "verified": "ok"');
  migrate(db);
  assert.deepEqual(db.prepare('SELECT job, verified FROM inventory ORDER BY job').all(), [
    { job: 'unreadable', verified: null },
    { job: 'with', verified: 'o-f' },
    { job: 'without', verified: null },
  ]);
  assert.equal((db.prepare(`SELECT role FROM jobs`).all() as unknown[]).length, 0);
  db.prepare(`INSERT INTO jobs (agent_id, name, asset, tier, driver, target_name, target_location, target_media, schedule, timeout_ms, retention, updated_at) VALUES (1, 'j', 'a', 1, 'restic', 't', 'onsite', 'usb', '', 0, '{}', 0)`).run();
  assert.equal((db.prepare('SELECT role FROM jobs').get() as { role: string }).role, 'backup', 'jobs stored before are backups');
});
