import assert from 'node:assert/strict';
import { afterEach, beforeEach, test } from 'node:test';
import type { Db } from '../collector/db';
import { IncidentStore } from '../collector/incidents/store';
import { OutboxSender, type OutboxRow } from '../collector/notify/outbox';
import type { ChannelConfig } from '../collector/notify/routing';
import type { Channel } from '../collector/notify/types';
import { HOUR, MIN, T0, finding, startHoldingServer, startHungServer, startServer, tempDir, waitUntil, type TempDir } from './fixtures/notify-helpers';

// Issue 10, defect 7: a receiver that accepts the connection and never answers held up every
// other notification (one row at a time, 30 s each), and retries counted from the start of the
// drain. Nothing here waits for a send timeout: the hung sends end when the test drops them.

const LEASE = 10 * MIN;
/** Send timeout where a hung receiver must not matter: far beyond anything a test waits. */
const LONG = 60_000;
const policy = { reminderMs: 6 * HOUR, flapMs: 0, tierOf: () => 1 as const };

let tmp: TempDir;
const cleanups: (() => Promise<void> | void)[] = [];

beforeEach(() => {
  tmp = tempDir();
});
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
  tmp.cleanup();
});

const ntfyChannel = (name: string, url: string): ChannelConfig => ({ name, type: 'ntfy', options: { url: `${url}/backups` } });

/** An evaluation at `now` in which job1…job<n> fail: opens those not open yet (and resolves none). */
function openIncidents(store: IncidentStore, n: number, now: number): void {
  const findings = Array.from({ length: n }, (_, i) => finding({ key: `missed:nas:job${i + 1}`, job: `job${i + 1}`, title: `job${i + 1} missed its run` }));
  store.evaluate(findings, now, policy);
}

/** "received job1 opened" from "received [home] job1 missed its run" (titles are message.ts's to word). */
const steps = (events: string[]) => events.map((e) => `${e.split(' ')[0]} ${/job\d+/.exec(e)?.[0]} ${/resolved/i.test(e) ? 'resolved' : 'opened'}`);

const rowsOf = (db: Db, channel: string) => db.prepare('SELECT * FROM outbox WHERE channel = ? ORDER BY id').all(channel) as OutboxRow[];

async function hungAndHealthy() {
  const hung = await startHungServer();
  const phone = await startHoldingServer(0);
  cleanups.push(() => phone.close(), () => hung.close());
  return { hung, phone, channels: [ntfyChannel('hung', hung.url), ntfyChannel('phone', phone.url)] };
}

test('a hung channel does not delay a healthy one: three incidents reach the healthy channel while the hung sends are still open', async () => {
  const db = tmp.db();
  const { hung, phone, channels } = await hungAndHealthy();
  openIncidents(new IncidentStore(db, { channels }), 3, Date.now());
  const sender = new OutboxSender({ db, channels, leaseMs: LEASE, io: { timeoutMs: LONG }, retry: { random: () => 1 } });

  const drain = sender.drainOnce(Date.now());
  await waitUntil('three notifications on the healthy channel', () => rowsOf(db, 'phone').every((r) => r.sent_at !== null));
  assert.equal(phone.requests.length, 3);
  // Nothing waited for a hung attempt to end: all three are still open, none counted.
  assert.ok(rowsOf(db, 'hung').every((r) => r.attempts === 0 && r.sent_at === null));

  await hung.close();
  assert.deepEqual(await drain, { sent: 3, retried: 3, gaveUp: 0, lost: 0 });
});

test('a drain in progress does not hold back the next: incidents queued later reach the healthy channel at once', async () => {
  const db = tmp.db();
  const { hung, phone, channels } = await hungAndHealthy();
  const store = new IncidentStore(db, { channels });
  // Only pokes drive this sender: the poll interval is far away.
  const sender = new OutboxSender({ db, channels, leaseMs: LEASE, intervalMs: HOUR, io: { timeoutMs: LONG }, retry: { random: () => 1 } });
  cleanups.push(() => sender.stop());
  sender.start();
  for (let i = 1; i <= 3; i++) {
    openIncidents(store, i, Date.now());
    sender.poke();
    await waitUntil(`notification ${i} on the healthy channel`, () => phone.requests.length === i);
  }
  assert.ok(rowsOf(db, 'hung').every((r) => r.attempts === 0 && r.sent_at === null), 'the hung attempts are still open');
  await hung.close();
});

test('a hung channel holds at most the bound of attempts in flight however often the sender is poked', async () => {
  const db = tmp.db();
  const { hung, phone, channels } = await hungAndHealthy();
  openIncidents(new IncidentStore(db, { channels }), 6, Date.now());
  const sender = new OutboxSender({ db, channels, leaseMs: LEASE, intervalMs: HOUR, concurrency: 4, io: { timeoutMs: LONG }, retry: { random: () => 1 } });
  cleanups.push(() => sender.stop());
  const claimed = () => rowsOf(db, 'hung').filter((r) => r.claimed_at !== null).length;
  for (let i = 0; i < 20; i++) {
    sender.poke();
    assert.ok(claimed() <= 4, `poke ${i}: ${claimed()} hung rows claimed`);
  }
  await waitUntil('all six on the healthy channel', () => phone.requests.length === 6);
  await waitUntil('four connections to the hung receiver', () => hung.open() >= 4);
  for (let i = 0; i < 20; i++) sender.poke();
  assert.equal(claimed(), 4);
  await hung.close();
  await sender.stop();
  assert.ok(hung.maxOpen() <= 4, `${hung.maxOpen()} connections at once`);
});

test('deliveries within one slow channel are in flight together, up to the bound', async () => {
  const db = tmp.db();
  const slow = await startHoldingServer();
  cleanups.push(() => slow.close());
  const channels = [ntfyChannel('slow', slow.url)];
  openIncidents(new IncidentStore(db, { channels }), 6, Date.now());
  const sender = new OutboxSender({ db, channels, leaseMs: LEASE, concurrency: 4, io: { timeoutMs: LONG }, retry: { random: () => 1 } });

  const drain = sender.drainOnce(Date.now());
  await waitUntil('four requests waiting at once', () => slow.pending().length === 4);
  for (const r of slow.pending()) r.answer();
  await waitUntil('the other two', () => slow.requests.length === 6);
  for (const r of slow.pending()) r.answer();
  assert.deepEqual(await drain, { sent: 6, retried: 0, gaveUp: 0, lost: 0 });
  assert.equal(slow.maxPending(), 4);
});

test('an incident’s resolved notification leaves only after its opened one was answered, while other incidents go ahead', async () => {
  const db = tmp.db();
  const slow = await startHoldingServer();
  cleanups.push(() => slow.close());
  const channels = [ntfyChannel('slow', slow.url)];
  const store = new IncidentStore(db, { channels });
  const now = Date.now();
  openIncidents(store, 2, now);
  store.evaluate([], now + 1, policy); // both resolved: four rows, opened before resolved
  const sender = new OutboxSender({ db, channels, leaseMs: LEASE, concurrency: 4, io: { timeoutMs: LONG }, retry: { random: () => 1 } });

  const drain = sender.drainOnce(now + 1);
  await waitUntil('both opened notifications in flight', () => slow.pending().length === 2);
  assert.deepEqual(steps(slow.events).sort(), ['received job1 opened', 'received job2 opened']);
  slow.pending().find((r) => /job1/.test(String(r.headers['x-title'])))!.answer();
  await waitUntil('job1’s resolved', () => slow.requests.length === 3);
  assert.equal(steps(slow.events).at(-1), 'received job1 resolved');
  while (slow.requests.length < 4 || slow.pending().length > 0) {
    for (const r of slow.pending()) r.answer();
    await new Promise((r) => setTimeout(r, 10));
  }
  assert.equal((await drain).sent, 4);
  const job2 = steps(slow.events).filter((e) => e.includes('job2'));
  assert.deepEqual(job2, ['received job2 opened', 'answered job2 opened', 'received job2 resolved', 'answered job2 resolved']);
});

test('a resolved notification waits while its opened one backs off after a failure', async () => {
  const db = tmp.db();
  const server = await startServer((_r, n) => ({ status: n === 1 ? 500 : 200 }));
  cleanups.push(() => server.close());
  const channels = [ntfyChannel('phone', server.url)];
  const store = new IncidentStore(db, { channels });
  const sender = new OutboxSender({ db, channels, leaseMs: LEASE, clock: () => T0, io: { timeoutMs: 5_000 }, retry: { random: () => 1, baseDelayMs: 30_000 } });
  store.evaluate([finding()], T0, policy);
  assert.equal((await sender.drainOnce(T0)).retried, 1);
  store.evaluate([], T0 + 1000, policy);
  assert.equal((await sender.drainOnce(T0 + 1000)).sent, 0, 'the resolved waits for the opened');
  assert.equal((await sender.drainOnce(T0 + 30_000)).sent, 2);
  const resolved = server.received.map((r) => /resolved/i.test(String(r.headers['x-title'])));
  assert.deepEqual(resolved, [false, false, true], 'opened (500), opened again, then resolved');
});

test('after a timeout the next attempt is scheduled from when the attempt failed', async () => {
  const db = tmp.db();
  const hung = await startHungServer();
  cleanups.push(() => hung.close());
  const channels = [ntfyChannel('hung', hung.url)];
  openIncidents(new IncidentStore(db, { channels }), 3, Date.now());
  const timeoutMs = 300;
  const backoff = 500; // random 1: exactly the base delay
  // When each attempt failed, as the channel saw it: its fetch rejecting on the timeout.
  const failedAt: number[] = [];
  const fetch: typeof globalThis.fetch = (input, init) =>
    globalThis.fetch(input, init).catch((err: unknown) => {
      failedAt.push(Date.now());
      throw err;
    });
  const sender = new OutboxSender({ db, channels, leaseMs: LEASE, io: { timeoutMs, fetch }, retry: { random: () => 1, baseDelayMs: backoff } });

  assert.deepEqual(await sender.drainOnce(Date.now()), { sent: 0, retried: 3, gaveUp: 0, lost: 0 });
  assert.equal(failedAt.length, 3);
  const rows = rowsOf(db, 'hung');
  for (const row of rows) assert.match(row.last_error!, /no answer within 300 ms/);
  // Each retry is a full backoff after a failure; the earliest one after the earliest failure.
  const next = rows.map((r) => r.next_attempt_at!).sort((a, b) => a - b);
  const failed = [...failedAt].sort((a, b) => a - b);
  next.forEach((n, i) => assert.ok(n >= failed[i] + backoff, `retry ${i + 1}: ${n - failed[i]} ms after its failure`));
});

test('sent_at is when the service answered, not when the drain began', async () => {
  const db = tmp.db();
  const slow = await startHoldingServer();
  cleanups.push(() => slow.close());
  const channels = [ntfyChannel('slow', slow.url)];
  openIncidents(new IncidentStore(db, { channels }), 1, Date.now());
  const sender = new OutboxSender({ db, channels, leaseMs: LEASE, io: { timeoutMs: LONG }, retry: { random: () => 1 } });

  const drain = sender.drainOnce(Date.now());
  await waitUntil('the request', () => slow.pending().length === 1);
  await new Promise((r) => setTimeout(r, 50));
  slow.pending()[0].answer();
  assert.equal((await drain).sent, 1);
  const [row] = rowsOf(db, 'slow');
  assert.ok(row.sent_at! >= slow.requests[0].answeredAt!, `sent_at ${row.sent_at! - slow.requests[0].answeredAt!} ms from the answer`);
});

test('a send that outlives its lease is not started again by the same sender', { timeout: 10_000 }, async () => {
  // A channel that ignores its time limit: the outbox must not pile up attempts at one row.
  let started = 0;
  let release = () => {};
  const stuck: Channel = {
    type: 'stuck',
    options: (z) => z.object({}),
    send: () => {
      started++;
      return new Promise<void>((resolve) => (release = resolve));
    },
  };
  const db = tmp.db();
  const channels: ChannelConfig[] = [{ name: 'stuck', type: 'stuck', options: {} }];
  new IncidentStore(db, { channels }).evaluate([finding()], T0, policy);
  const sender = new OutboxSender({ db, channels, registry: { stuck }, leaseMs: LEASE, clock: () => T0, io: { timeoutMs: 5_000 }, retry: { random: () => 1 } });

  const first = sender.drainOnce(T0);
  assert.deepEqual(await sender.drainOnce(T0 + 2 * LEASE), { sent: 0, retried: 0, gaveUp: 0, lost: 0 });
  assert.equal(started, 1);
  release();
  assert.equal((await first).sent, 1);
});
