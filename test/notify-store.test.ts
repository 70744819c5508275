import assert from 'node:assert/strict';
import { afterEach, beforeEach, test } from 'node:test';
import type { Db } from '../collector/db';
import { IncidentStore } from '../collector/incidents/store';
import type { ChannelConfig } from '../collector/notify/routing';
import { HOUR, MIN, T0, finding, tempDir, type TempDir } from './fixtures/notify-helpers';

const channels: ChannelConfig[] = [
  { name: 'phone', type: 'ntfy', options: { url: 'http://127.0.0.1:9/t' }, minSeverity: 'warning' },
  { name: 'log', type: 'webhook', options: { url: 'http://127.0.0.1:9/h' } },
];
const policy = { reminderMs: 6 * HOUR, flapMs: 10 * MIN, tierOf: () => 1 as const };

let tmp: TempDir;
let db: Db;
let store: IncidentStore;
beforeEach(() => {
  tmp = tempDir();
  db = tmp.db();
  store = new IncidentStore(db, { channels, publicUrl: 'https://lifeline.lan/' });
});
afterEach(() => tmp.cleanup());

const outbox = () => db.prepare('SELECT incident_id, channel, event, payload FROM outbox ORDER BY id').all() as { incident_id: number; channel: string; event: string; payload: string }[];

test('opening an incident queues one outbox row per routed channel', () => {
  const r = store.evaluate([finding()], T0 + HOUR, policy);
  assert.equal(r.opened.length, 1);
  const rows = outbox();
  assert.deepEqual(
    rows.map((o) => [o.incident_id, o.channel, o.event]),
    [
      [r.opened[0], 'phone', 'open'],
      [r.opened[0], 'log', 'open'],
    ],
  );
  const m = JSON.parse(rows[0].payload);
  assert.equal(m.title, '[home] restic-home missed its 02:00 run');
  assert.equal(m.severity, 'critical');
  assert.equal(m.clickUrl, 'https://lifeline.lan/');
  assert.deepEqual(m.tags, ['missed-run', 'home', 'tier1']);
});

test('an info finding is queued only for channels whose minSeverity admits it', () => {
  store.evaluate([finding({ severity: 'info' })], T0 + HOUR, policy);
  assert.deepEqual(
    outbox().map((o) => o.channel),
    ['log'],
  );
});

test('the incident change and its outbox rows commit together or not at all', () => {
  db.exec(`CREATE TRIGGER outbox_fails BEFORE INSERT ON outbox BEGIN SELECT RAISE(ABORT, 'disk full'); END;`);
  assert.throws(() => store.evaluate([finding()], T0 + HOUR, policy), /disk full/);
  assert.deepEqual(store.listIncidents({ state: 'all' }), []);
  assert.deepEqual(outbox(), []);
});

test('a second evaluation with the same finding queues nothing new', () => {
  store.evaluate([finding()], T0 + HOUR, policy);
  store.evaluate([finding()], T0 + HOUR + MIN, policy);
  assert.equal(outbox().length, 2);
  assert.equal(store.listIncidents({ state: 'open' }).length, 1);
});

test('reminds at the cadence and counts reminders', () => {
  store.evaluate([finding()], T0 + HOUR, policy);
  store.evaluate([finding()], T0 + 7 * HOUR - 1, policy);
  const r = store.evaluate([finding()], T0 + 7 * HOUR, policy);
  assert.equal(r.reminded.length, 1);
  assert.deepEqual(
    outbox().map((o) => o.event),
    ['open', 'open', 'reminder', 'reminder'],
  );
  const [inc] = store.listIncidents({ state: 'open' });
  assert.equal(inc.reminders, 1);
  assert.equal(inc.lastNotifiedAt, T0 + 7 * HOUR);
  assert.match(JSON.parse(outbox()[2].payload).title, /^Still failing: /);
});

test('resolves after the flap window and queues "resolved"', () => {
  const { opened } = store.evaluate([finding()], T0 + HOUR, policy);
  assert.deepEqual(store.evaluate([], T0 + HOUR + 10 * MIN - 1, policy).resolved, []);
  assert.deepEqual(store.evaluate([], T0 + HOUR + 10 * MIN, policy).resolved, opened);
  const resolved = outbox().filter((o) => o.event === 'resolved');
  assert.equal(resolved.length, 2);
  assert.match(JSON.parse(resolved[0].payload).title, /^Resolved: /);
  assert.equal(store.getIncident(opened[0])!.resolvedAt, T0 + HOUR + 10 * MIN);
});

test('a key that comes back after resolving opens a new incident', () => {
  store.evaluate([finding()], T0 + HOUR, policy);
  store.evaluate([], T0 + 2 * HOUR, policy);
  const r = store.evaluate([finding({ since: T0 + 3 * HOUR })], T0 + 4 * HOUR, policy);
  assert.equal(r.opened.length, 1);
  assert.equal(store.listIncidents({ state: 'all' }).length, 2);
});

test('acknowledging stops reminders', () => {
  const { opened } = store.evaluate([finding()], T0 + HOUR, policy);
  assert.equal(store.acknowledge(opened[0], 'ana', T0 + 2 * HOUR), true);
  store.evaluate([finding()], T0 + 30 * HOUR, policy);
  assert.deepEqual(
    outbox().map((o) => o.event),
    ['open', 'open'],
  );
  assert.equal(store.getIncident(opened[0])!.ackedBy, 'ana');
});

test('acknowledging an unknown or resolved incident returns false', () => {
  assert.equal(store.acknowledge(999, 'ana', T0), false);
  const { opened } = store.evaluate([finding()], T0 + HOUR, policy);
  store.evaluate([], T0 + 2 * HOUR, policy);
  assert.equal(store.acknowledge(opened[0], 'ana', T0 + 3 * HOUR), false);
});

test('a mute tracks the incident silently until it ends, then announces it', () => {
  store.mute('home', T0 + 3 * HOUR, 'disk swap', T0);
  store.evaluate([finding()], T0 + HOUR, policy);
  assert.equal(store.listIncidents({ state: 'open' }).length, 1);
  assert.deepEqual(outbox(), []);
  store.evaluate([finding()], T0 + 3 * HOUR - 1, policy);
  assert.deepEqual(outbox(), []);
  store.evaluate([finding()], T0 + 3 * HOUR, policy);
  assert.deepEqual(
    outbox().map((o) => o.event),
    ['open', 'open'],
  );
});

test('a global mute (asset null) silences every asset', () => {
  store.mute(null, T0 + 10 * HOUR, 'holiday', T0);
  store.evaluate([finding(), finding({ key: 'k2', asset: 'photos' })], T0 + HOUR, policy);
  assert.deepEqual(outbox(), []);
});

test('a maintenance window silences its asset only between its start and end', () => {
  store.addMaintenance({ startsAt: T0 + HOUR, endsAt: T0 + 2 * HOUR, asset: 'home', reason: 'upgrade' });
  const silent = store.lifecyclePolicy(T0 + HOUR, policy);
  assert.equal(silent.inMaintenance('home'), true);
  assert.equal(silent.inMaintenance('photos'), false);
  assert.equal(store.lifecyclePolicy(T0 + HOUR - 1, policy).inMaintenance('home'), false);
  assert.equal(store.lifecyclePolicy(T0 + 2 * HOUR, policy).inMaintenance('home'), false);
});

test('listIncidents returns open ones, or all newest first', () => {
  store.evaluate([finding({ key: 'a' })], T0 + HOUR, policy);
  store.evaluate([finding({ key: 'b' })], T0 + 2 * HOUR, policy);
  store.evaluate([finding({ key: 'b' })], T0 + 3 * HOUR, policy);
  assert.deepEqual(
    store.listIncidents({ state: 'open' }).map((i) => i.key),
    ['b'],
  );
  assert.deepEqual(
    store.listIncidents({ state: 'all' }).map((i) => i.key),
    ['b', 'a'],
  );
});

test('the default tier is the lowest tier among the asset\'s jobs', () => {
  db.prepare(`INSERT INTO agents (name, public_key, source, created_at) VALUES ('nas', 'k', 'config', 0)`).run();
  const job = db.prepare(`INSERT INTO jobs (agent_id, name, asset, tier, driver, target_name, target_location, target_media, schedule, timeout_ms, retention, updated_at)
    VALUES (1, ?, 'home', ?, 'restic', 'b2', 'offsite', 'cloud', '0 2 * * *', 1, '{}', 0)`);
  job.run('a', 3);
  job.run('b', 2);
  assert.equal(store.tierOfAsset('home'), 2);
  assert.equal(store.tierOfAsset('unknown'), 1);
  const { opened } = store.evaluate([finding()], T0 + HOUR, { reminderMs: HOUR, flapMs: 0 });
  assert.equal(store.getIncident(opened[0])!.tier, 2);
});

test('enqueue writes a report for the channels that take reports', () => {
  const n = store.enqueue({ event: 'report', severity: 'info', title: 'Weekly', body: 'all good', tags: [] }, T0);
  assert.equal(n, 1);
  assert.deepEqual(
    outbox().map((o) => [o.incident_id, o.channel, o.event]),
    [[null, 'log', 'report']],
  );
});
