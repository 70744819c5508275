import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { test } from 'node:test';
import { syncConfigAgents } from '../collector/agents';
import { collectorConfig, rulesConfig, tierPolicies } from '../collector/config';
import { openDb } from '../collector/db';
import { createGatherer, type JobRow } from '../collector/evaluate/gather';
import { createIngest } from '../collector/ingest';
import type { HostMessage } from '../shared/protocol';
import { TestAgent, catalogJob, count, heartbeat, hello, run, runStart, tempDb } from './collector-helpers';

function setup() {
  const agent = new TestAgent();
  const { db } = tempDb();
  syncConfigAgents(db, [{ name: agent.name, publicKey: agent.publicKey }], 0);
  const ingest = createIngest(db);
  const agentId = (db.prepare('SELECT id FROM agents').get() as { id: number }).id;
  // Received after every time the fixtures report: the collector believes no time from its future.
  const receivedAt = Date.parse('2025-01-03T00:00:00Z');
  return { agent, db, ingest: (...m: Parameters<typeof agent.msg>[0][]) => ingest(agentId, m.map((x) => agent.msg(x, new Date(receivedAt - 1000))), receivedAt) };
}

const jobs = (db: ReturnType<typeof tempDb>['db']) => db.prepare('SELECT name, active, tier FROM jobs ORDER BY name').all();

test('a hello replaces the job catalog; jobs it no longer lists become inactive, not deleted', () => {
  const { db, ingest } = setup();
  ingest(hello([catalogJob('etc'), catalogJob('pg', { tier: 2 })]));
  ingest(hello([catalogJob('pg', { tier: 1 }), catalogJob('vols')]));
  assert.deepEqual(jobs(db), [
    { name: 'etc', active: 0, tier: 1 },
    { name: 'pg', active: 1, tier: 1 },
    { name: 'vols', active: 1, tier: 1 },
  ]);
  ingest(hello([catalogJob('etc')]));
  assert.deepEqual(jobs(db).filter((j) => (j as { active: number }).active), [{ name: 'etc', active: 1, tier: 1 }]);
});

test("the gatherer's job list sees a catalog change made in the same millisecond as the one before", () => {
  const { agent, db, ingest } = setup(); // every ingest here is received at the same ms
  const names = () => createGatherer(db).listJobs().map((j) => `${j.agent}/${j.job} ${j.schedule}`).sort();
  ingest(hello([catalogJob('etc'), catalogJob('pg')]));
  assert.deepEqual(names(), ['pve1/etc 0 2 * * *', 'pve1/pg 0 2 * * *']);
  // A job retired at the same ms: the count of jobs and the newest change time stay the same.
  ingest(hello([catalogJob('etc')]));
  assert.deepEqual(names(), ['pve1/etc 0 2 * * *']);
  // Another agent's catalog changed at the ms the first one last changed.
  const other = new TestAgent('pbs1');
  syncConfigAgents(db, [{ name: agent.name, publicKey: agent.publicKey }, { name: other.name, publicKey: other.publicKey }], 0);
  const otherId = (db.prepare(`SELECT id FROM agents WHERE name = 'pbs1'`).get() as { id: number }).id;
  const at = Date.parse('2025-01-03T00:00:00Z');
  createIngest(db)(otherId, [other.msg(hello([catalogJob('vols')]), new Date(at - 2000))], at - 1000);
  assert.deepEqual(names(), ['pbs1/vols 0 2 * * *', 'pve1/etc 0 2 * * *']);
  createIngest(db)(otherId, [other.msg(hello([catalogJob('vols', { schedule: '0 4 * * *' })]), new Date(at - 1000))], at);
  assert.deepEqual(names(), ['pbs1/vols 0 4 * * *', 'pve1/etc 0 2 * * *']);
  // One agent taken out of the config as another is put in: as many agents as before.
  syncConfigAgents(db, [{ name: agent.name, publicKey: agent.publicKey }, { name: 'pbs2', publicKey: new TestAgent('pbs2').publicKey }], 0);
  assert.deepEqual(names(), ['pve1/etc 0 2 * * *']);
});

test('a hello that arrives after a newer one does not roll the catalog back', () => {
  const { agent, db } = setup();
  const ingest = createIngest(db);
  const older = agent.msg(hello([catalogJob('old')]));
  const newer = agent.msg({ ...hello([catalogJob('new')]), version: '0.2.0' } as never);
  ingest(1, [newer], 1000);
  ingest(1, [older], 2000);
  assert.deepEqual(jobs(db), [{ name: 'new', active: 1, tier: 1 }]);
  assert.equal((db.prepare('SELECT version FROM agents').get() as { version: string }).version, '0.2.0');
});

test('messages in a batch are applied in seq order', () => {
  const { agent, db } = setup();
  const first = agent.msg(hello([catalogJob('a')]));
  const second = agent.msg(hello([catalogJob('b')]));
  createIngest(db)(1, [second, first], 1000);
  assert.deepEqual(jobs(db), [{ name: 'a', active: 0, tier: 1 }, { name: 'b', active: 1, tier: 1 }]);
});

test('a heartbeat records the spool backlog', () => {
  const { db, ingest } = setup();
  ingest(heartbeat(7, 2));
  assert.deepEqual(db.prepare('SELECT spool_pending, spool_dropped, last_seen FROM agents').get(), { spool_pending: 7, spool_dropped: 2, last_seen: Date.parse('2025-01-03T00:00:00Z') });
});

test('a run-start opens a running run that its run message completes', () => {
  const { db, ingest } = setup();
  const id = randomUUID();
  ingest(runStart('etc', id, new Date('2025-01-01T02:00:00Z')));
  assert.deepEqual(db.prepare('SELECT status, started_at, finished_at FROM runs').get(), { status: 'running', started_at: Date.parse('2025-01-01T02:00:00Z'), finished_at: null });
  ingest(run('etc', id, { status: 'failure', exitCode: 2, error: 'tar: /etc: Cannot open' }));
  assert.deepEqual(db.prepare('SELECT status, exit_code, error, duration_ms FROM runs').get(), { status: 'failure', exit_code: 2, error: 'tar: /etc: Cannot open', duration_ms: 300_000 });
});

test('a run without its run-start is stored, and a late run-start does not reopen it', () => {
  const { db, ingest } = setup();
  const id = randomUUID();
  ingest(run('etc', id));
  ingest(runStart('etc', id));
  assert.equal(count(db, 'runs'), 1);
  assert.equal((db.prepare('SELECT status FROM runs').get() as { status: string }).status, 'success');
});

test('an inventory replaces the snapshot list of its job and target only', () => {
  const { db, ingest } = setup();
  const snap = (id: string) => ({ id, time: '2025-01-01T02:00:00Z' });
  ingest({ kind: 'inventory', job: 'etc', target: 'usb', snapshots: [snap('a'), snap('b')] });
  ingest({ kind: 'inventory', job: 'etc', target: 'cloud', snapshots: [snap('x')] });
  ingest({ kind: 'inventory', job: 'etc', target: 'usb', snapshots: [snap('c')] });
  const rows = db.prepare('SELECT target, snapshots FROM inventory ORDER BY target').all() as { target: string; snapshots: string }[];
  assert.deepEqual(rows.map((r) => [r.target, JSON.parse(r.snapshots).map((s: { id: string }) => s.id)]), [['cloud', ['x']], ['usb', ['c']]]);
});

test('an inventory stores its times as numbers; the evaluator reads them back with the snapshot ids', () => {
  const { db, ingest } = setup();
  db.prepare(
    `INSERT INTO jobs (agent_id, name, asset, tier, driver, target_name, target_location, target_media, schedule, timeout_ms, retention, updated_at)
     VALUES (1, 'etc', 'etc', 1, 'restic', 'usb', 'onsite', 'usb', '0 2 * * *', 0, '{"daily":7}', 0)`,
  ).run();
  const snapshots = [
    { id: 'a', time: '2025-01-01T02:00:00Z' },
    { id: 'b', time: '2025-01-02T03:00:00.250+01:00' },
  ];
  ingest({ kind: 'inventory', job: 'etc', target: 'usb', snapshots });
  const times = [Date.parse('2025-01-01T02:00:00Z'), Date.parse('2025-01-02T02:00:00.250Z')];
  assert.deepEqual(JSON.parse((db.prepare('SELECT times FROM inventory').get() as { times: string }).times), times);
  // Each read on a fresh connection: nothing parsed before.
  const view = () => {
    const fresh = openDb(db.name);
    const inv = createGatherer(fresh).gather(tierPolicies(collectorConfig({})), rulesConfig(collectorConfig({}))).jobs[0].inventory!;
    const out = { times: inv.times, ids: inv.ids() };
    fresh.close();
    return out;
  };
  assert.deepEqual(view(), { times, ids: ['a', 'b'] });
});

test('a host message replaces the host facts without the envelope fields', () => {
  const { db, ingest } = setup();
  const fs = { mount: '/', fs: '/dev/sda1', type: 'ext4', sizeBytes: 100, usedBytes: 50 };
  ingest({ kind: 'host', filesystems: [fs], load1: 0.5 } as Omit<HostMessage, 'agent' | 'seq' | 'sentAt'>);
  ingest({ kind: 'host', filesystems: [{ ...fs, usedBytes: 60 }] } as Omit<HostMessage, 'agent' | 'seq' | 'sentAt'>);
  const facts = JSON.parse((db.prepare('SELECT facts FROM host_facts').get() as { facts: string }).facts);
  assert.deepEqual(facts, { filesystems: [{ ...fs, usedBytes: 60 }] });
});

test("the gatherer's agent view follows each host message and each heartbeat", () => {
  const { agent, db } = setup();
  const ingest = createIngest(db);
  const view = () => createGatherer(db).gather(tierPolicies(collectorConfig({})), rulesConfig(collectorConfig({}))).agents[0];
  const fs = { mount: '/', fs: '/dev/sda1', type: 'ext4', sizeBytes: 100, usedBytes: 50 };
  const at = Date.parse('2025-01-03T00:00:00Z');
  ingest(1, [agent.msg({ kind: 'host', filesystems: [fs] } as Omit<HostMessage, 'agent' | 'seq' | 'sentAt'>, new Date(at - 1000))], at);
  assert.deepEqual(view().filesystems, [{ mount: '/', sizeBytes: 100, usedBytes: 50, history: [{ at: at - 1000, usedBytes: 50 }] }]);
  ingest(1, [agent.msg(heartbeat(3, 0), new Date(at + 59_000))], at + 60_000);
  assert.equal(view().lastSeen, at + 60_000);
  assert.deepEqual(view().spool, undefined);
  ingest(1, [agent.msg({ kind: 'host', filesystems: [{ ...fs, usedBytes: 60 }], disks: [{ device: '/dev/sda', smartOk: false }] } as Omit<HostMessage, 'agent' | 'seq' | 'sentAt'>, new Date(at + 119_000))], at + 120_000);
  const later = view();
  assert.deepEqual(later.filesystems[0].history, [{ at: at - 1000, usedBytes: 50 }, { at: at + 119_000, usedBytes: 60 }]);
  assert.deepEqual(later.disks, [{ device: '/dev/sda', smartOk: false }]);
  assert.equal(later.lastSeen, at + 120_000);
  // An asset page asks for no agent views (a fleet has thousands); the next whole gather still has them.
  const gatherer = createGatherer(db);
  assert.deepEqual(gatherer.gather(tierPolicies(collectorConfig({})), rulesConfig(collectorConfig({})), { hosts: false }).agents, []);
  assert.deepEqual(view(), later);
});

test('a whole gather in which no job changed hands the same job list; a stored run, a gather of a few or a new hello make a new one', () => {
  const { db, ingest } = setup();
  const gather = (wanted?: (job: JobRow) => boolean) =>
    createGatherer(db).gather(tierPolicies(collectorConfig({})), rulesConfig(collectorConfig({})), { wanted }).jobs;
  ingest(hello([catalogJob('etc'), catalogJob('pg')]));
  const first = gather();
  assert.equal(gather(), first);
  ingest(run('etc', randomUUID(), { startedAt: '2025-01-02T02:00:00Z', finishedAt: '2025-01-02T02:01:00Z', status: 'success' }));
  const afterRun = gather((j) => j.job === 'etc'); // an incremental gather reads the run first
  assert.notEqual(afterRun, first);
  const whole = gather();
  assert.notEqual(whole, first);
  assert.equal(whole.find((j) => j.job === 'etc')!.lastBackup?.status, 'success');
  assert.equal(gather(), whole);
  ingest(hello([catalogJob('etc')]));
  assert.deepEqual(gather().map((j) => j.job), ['etc']);
});

test("a gather of some jobs (an asset page's) leaves the other jobs' views for the next whole gather", () => {
  const { db, ingest } = setup();
  const gatherer = createGatherer(db);
  const cfg = collectorConfig({});
  const gather = (rows?: ReturnType<typeof gatherer.listJobs>) => gatherer.gather(tierPolicies(cfg), rulesConfig(cfg), { rows }).jobs;
  ingest(hello([catalogJob('etc', { asset: 'etc' }), catalogJob('pg', { asset: 'pg' })]));
  const whole = gather();
  gather(gatherer.listJobs().filter((j) => j.asset === 'etc'));
  const again = gather();
  assert.equal(again, whole, 'the same list');
  assert.equal(again.find((j) => j.job === 'pg'), whole.find((j) => j.job === 'pg'), 'the same view, not read again');
});

test('the same seq twice in one batch is stored once', () => {
  const { agent, db } = setup();
  const m = agent.msg(heartbeat());
  assert.deepEqual(createIngest(db)(1, [m, m], 1000), { accepted: 1, duplicates: 1 });
});
