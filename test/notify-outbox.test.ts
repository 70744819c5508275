import assert from 'node:assert/strict';
import { afterEach, beforeEach, test } from 'node:test';
import { openDb, type Db } from '../collector/db';
import { IncidentStore } from '../collector/incidents/store';
import { OutboxSender, backoffMs, claimDue, DEFAULT_RETRY, markSent, type OutboxRow } from '../collector/notify/outbox';
import type { ChannelConfig } from '../collector/notify/routing';
import { HOUR, MIN, T0, finding, ntfyError, ntfyOk, startServer, tempDir, type TempDir, type TestServer } from './fixtures/notify-helpers';
import { join } from 'node:path';

const LEASE = 2 * MIN;
const policy = { reminderMs: 6 * HOUR, flapMs: 0, tierOf: () => 1 as const };

let tmp: TempDir;
let server: TestServer;
let status: (n: number) => number;

beforeEach(async () => {
  tmp = tempDir();
  status = () => 200;
  server = await startServer((r, n) => {
    const s = status(n);
    return s === 200 ? ntfyOk(r) : ntfyError(s, s * 100 + 1, `status ${s}`);
  });
});
afterEach(async () => {
  await server.close();
  tmp.cleanup();
});

const channelsFor = (url: string): ChannelConfig[] => [{ name: 'phone', type: 'ntfy', options: { url: `${url}/backups` } }];

function queueOne(db: Db, now = T0): void {
  new IncidentStore(db, { channels: channelsFor(server.url) }).evaluate([finding()], now, policy);
}

// A stopped clock: no time passes during a drain, so each one happens exactly at the `now` it is
// given and boundaries can be tested to the millisecond (notify-outbox-independence.test.ts runs
// drains on the real clock).
function sender(db: Db, retry: Partial<typeof DEFAULT_RETRY> = {}): OutboxSender {
  return new OutboxSender({ db, channels: channelsFor(server.url), leaseMs: LEASE, clock: () => T0, io: { timeoutMs: 5_000 }, retry: { random: () => 1, ...retry } });
}

const rows = (db: Db) => db.prepare('SELECT * FROM outbox ORDER BY id').all() as OutboxRow[];

test('sends a queued notification once and marks it sent', async () => {
  const db = tmp.db();
  queueOne(db);
  assert.deepEqual(await sender(db).drainOnce(T0), { sent: 1, retried: 0, gaveUp: 0, lost: 0 });
  assert.deepEqual(await sender(db).drainOnce(T0 + HOUR), { sent: 0, retried: 0, gaveUp: 0, lost: 0 });
  assert.equal(server.received.length, 1);
  assert.equal(rows(db)[0].sent_at, T0);
  assert.equal(rows(db)[0].attempts, 1);
});

test('a claim is taken by one connection only', () => {
  const a = tmp.db();
  queueOne(a);
  const b = openDb(join(tmp.dir, 'collector.db'));
  try {
    assert.equal(claimDue(a, T0, 10, LEASE).length, 1);
    assert.equal(claimDue(b, T0, 10, LEASE).length, 0);
  } finally {
    b.close();
  }
});

test('after a crash between claim and send, the row is sent exactly once when its lease expires', async () => {
  const before = tmp.db();
  queueOne(before);
  // The old process claims the row, then dies before sending.
  assert.equal(claimDue(before, T0, 10, LEASE).length, 1);
  before.close();

  const after = openDb(join(tmp.dir, 'collector.db'));
  try {
    const s = sender(after);
    assert.equal((await s.drainOnce(T0 + LEASE - 1)).sent, 0, 'the lease still holds');
    assert.equal(server.received.length, 0);
    assert.equal((await s.drainOnce(T0 + LEASE)).sent, 1, 'an expired lease is re-claimed');
    assert.equal((await s.drainOnce(T0 + 10 * LEASE)).sent, 0, 'a sent row is never sent again');
    assert.equal(server.received.length, 1);
  } finally {
    after.close();
  }
});

test('a row written just before a crash is sent after restart', async () => {
  const before = tmp.db();
  queueOne(before);
  before.close();
  const after = openDb(join(tmp.dir, 'collector.db'));
  try {
    assert.equal((await sender(after).drainOnce(T0 + 1)).sent, 1);
    assert.equal(server.received.length, 1);
  } finally {
    after.close();
  }
});

test('a sender whose lease was taken over does not mark the row', async () => {
  const db = tmp.db();
  queueOne(db);
  const [stale] = claimDue(db, T0, 1, LEASE);
  const [fresh] = claimDue(db, T0 + LEASE, 1, LEASE);
  assert.notEqual(stale.token, fresh.token);
  assert.equal(markSent(db, stale, T0 + LEASE), false);
  assert.equal(markSent(db, fresh, T0 + LEASE), true);
});

test('retries a 500 with backoff, then succeeds', async () => {
  const db = tmp.db();
  queueOne(db);
  status = (n) => (n === 1 ? 500 : 200);
  const s = sender(db, { baseDelayMs: 30_000 });
  assert.deepEqual(await s.drainOnce(T0), { sent: 0, retried: 1, gaveUp: 0, lost: 0 });
  const [row] = rows(db);
  assert.equal(row.attempts, 1);
  assert.equal(row.next_attempt_at, T0 + 30_000);
  assert.match(row.last_error!, /ntfy answered HTTP 500/);
  assert.equal((await s.drainOnce(T0 + 30_000 - 1)).sent, 0, 'not before the backoff');
  assert.equal((await s.drainOnce(T0 + 30_000)).sent, 1);
  assert.equal(rows(db)[0].last_error, null);
  assert.equal(server.received.length, 2);
});

test('retries a 429 from ntfy', async () => {
  const db = tmp.db();
  queueOne(db);
  status = () => 429;
  assert.equal((await sender(db).drainOnce(T0)).retried, 1);
});

test('gives up at once on a 400 and keeps the error', async () => {
  const db = tmp.db();
  queueOne(db);
  status = () => 400;
  assert.deepEqual(await sender(db).drainOnce(T0), { sent: 0, retried: 0, gaveUp: 1, lost: 0 });
  const [row] = rows(db);
  assert.equal(row.next_attempt_at, null);
  assert.equal(row.sent_at, null);
  assert.match(row.last_error!, /HTTP 400/);
  assert.equal((await sender(db).drainOnce(T0 + 100 * HOUR)).gaveUp, 0);
  assert.equal(server.received.length, 1);
});

test('gives up after maxAttempts retryable failures', async () => {
  const db = tmp.db();
  queueOne(db);
  status = () => 503;
  const s = sender(db, { maxAttempts: 3, baseDelayMs: 1000 });
  const outcomes: string[] = [];
  for (let now = T0; now < T0 + HOUR; now += 1000) {
    const r = await s.drainOnce(now);
    if (r.retried) outcomes.push('retry');
    if (r.gaveUp) outcomes.push('gave-up');
  }
  assert.deepEqual(outcomes, ['retry', 'retry', 'gave-up']);
  assert.equal(rows(db)[0].attempts, 3);
  assert.match(rows(db)[0].last_error!, /HTTP 503/);
});

test('retries when the service cannot be reached', async () => {
  const db = tmp.db();
  const down = [{ name: 'phone', type: 'ntfy', options: { url: 'http://127.0.0.1:1/backups' } }];
  new IncidentStore(db, { channels: down }).evaluate([finding()], T0, policy);
  const s = new OutboxSender({ db, channels: down, io: { timeoutMs: 2000 }, retry: { random: () => 1 } });
  const r = await s.drainOnce(T0);
  assert.equal(r.retried, 1);
  assert.match(rows(db)[0].last_error!, /cannot reach http:\/\/127\.0\.0\.1:1\/backups/);
});

test('gives up on a row whose channel is no longer configured', async () => {
  const db = tmp.db();
  queueOne(db);
  const s = new OutboxSender({ db, channels: [], retry: { random: () => 1 } });
  assert.equal((await s.drainOnce(T0)).gaveUp, 1);
  assert.match(rows(db)[0].last_error!, /no longer configured/);
});

test('backoff doubles per attempt up to the cap, with jitter between half and all of it', () => {
  const p = { ...DEFAULT_RETRY, baseDelayMs: 1000, maxDelayMs: 10_000 };
  const table: [number, number, number][] = [
    [1, 1, 1000],
    [2, 1, 2000],
    [3, 1, 4000],
    [4, 1, 8000],
    [5, 1, 10_000],
    [9, 1, 10_000],
    [1, 0, 500],
    [3, 0, 2000],
  ];
  for (const [attempts, random, expected] of table) assert.equal(backoffMs(attempts, { ...p, random: () => random }), expected, `attempt ${attempts} random ${random}`);
});

test('a started sender delivers without being asked, and stop waits for it', async () => {
  const db = tmp.db();
  queueOne(db, Date.now());
  const s = new OutboxSender({ db, channels: channelsFor(server.url), intervalMs: 50, io: { timeoutMs: 5000 } });
  s.start();
  const deadline = Date.now() + 5000;
  while (server.received.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  await s.stop();
  assert.equal(server.received.length, 1);
  assert.notEqual(rows(db)[0].sent_at, null);
});

test('refuses a lease shorter than the send timeout', () => {
  assert.throws(() => new OutboxSender({ db: tmp.db(), channels: [], leaseMs: 1000, io: { timeoutMs: 5000 } }), /lease/);
});
