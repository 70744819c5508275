import assert from 'node:assert/strict';
import { test } from 'node:test';
import { runStartSchema } from '../shared/protocol';
import { newRunId } from '../shared/run-id';

// Run ids are UUIDs version 7 (RFC 9562 §5.7): the collector's (agent, run id) index then grows
// at its end instead of on a random page (bench/ingest-sqlite.ts measures what that saves).

test('a run id is a UUID version 7 with the time in its first 48 bits, valid for the protocol', () => {
  const at = Date.parse('2026-11-30T12:34:56.789Z');
  const id = newRunId(at);
  assert.match(id, /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  assert.equal(parseInt(id.slice(0, 8) + id.slice(9, 13), 16), at);
  const parsed = runStartSchema.safeParse({ kind: 'run-start', agent: 'a', seq: 1, sentAt: new Date(at).toISOString(), runId: id, job: 'j', operation: 'backup', trigger: 'schedule', startedAt: new Date(at).toISOString() });
  assert.ok(parsed.success, JSON.stringify(parsed.error?.issues));
});

test('run ids sort in the order of their times, and two made at once differ', () => {
  const times = [0, 1, 255, 256, 1_700_000_000_000, 1_700_000_000_001, Date.parse('2026-11-30T00:00:00Z'), 2 ** 48 - 1];
  const ids = times.map((t) => newRunId(t));
  assert.deepEqual([...ids].sort(), ids);
  const same = Array.from({ length: 1000 }, () => newRunId(1_700_000_000_000));
  assert.equal(new Set(same).size, same.length);
});
