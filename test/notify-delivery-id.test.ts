import assert from 'node:assert/strict';
import { test } from 'node:test';
import { IncidentStore } from '../collector/incidents/store';
import { OutboxSender } from '../collector/notify/outbox';
import type { ChannelConfig } from '../collector/notify/routing';
import { HOUR, MIN, T0, finding, startServer, tempDir } from './fixtures/notify-helpers';

// The outbox's one duplicate window (a crash after the service answered, before the row is
// marked sent) is closed on the receiver's side when it de-duplicates by Idempotency-Key.
test('a webhook gets the same Idempotency-Key on every attempt at one notification, and another for the next', async () => {
  const tmp = tempDir();
  const server = await startServer((_r, n) => ({ status: n === 1 ? 503 : 200 }));
  try {
    const db = tmp.db();
    const channels: ChannelConfig[] = [{ name: 'hook', type: 'webhook', options: { url: `${server.url}/hook` } }];
    const store = new IncidentStore(db, { channels });
    const policy = { reminderMs: 6 * HOUR, flapMs: 0, tierOf: () => 1 as const };
    store.evaluate([finding()], T0, policy);
    const sender = new OutboxSender({ db, channels, leaseMs: 2 * MIN, io: { timeoutMs: 5_000 }, retry: { random: () => 1 } });
    assert.equal((await sender.drainOnce(T0)).retried, 1);
    assert.equal((await sender.drainOnce(T0 + HOUR)).sent, 1);
    store.evaluate([], T0 + 2 * HOUR, policy); // resolved: a second notification
    assert.equal((await sender.drainOnce(T0 + 2 * HOUR)).sent, 1);
    const keys = server.received.map((r) => r.headers['idempotency-key']);
    assert.equal(keys.length, 3);
    assert.match(String(keys[0]), /^lifeline-\d+-\d+$/);
    assert.equal(keys[1], keys[0], 'the retry carries the first attempt’s key');
    assert.notEqual(keys[2], keys[0]);
  } finally {
    await server.close();
    tmp.cleanup();
  }
});
