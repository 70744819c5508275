import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { test } from 'node:test';
import { rulesConfig, tierPolicies, collectorConfig } from '../collector/config';
import { Evaluator } from '../collector/evaluate/evaluator';
import { RESULT_LOST_GRACE_MS } from '../collector/ingest';
import { TestAgent, catalogJob, hello, run, runStart, testCollector } from './collector-helpers';

// Issue 10, defect 2: what the protocol schema accepts, the collector stores. A signed run whose
// numbers were Number.MAX_SAFE_INTEGER passed the schema, then threw in the job-state encoder:
// a 500, retried by the agent forever. Here every message is schema-valid and at an edge.

const MAX = Number.MAX_SAFE_INTEGER;
const NOW = Date.parse('2025-06-01T12:00:00Z');

test('a schema-valid run with the largest numbers is stored (200), and the reports after it too', async () => {
  const agent = new TestAgent();
  const c = testCollector([agent]);
  c.clock.now = NOW;
  const id = randomUUID();
  const first = await c.app.inject(agent.report({ messages: [agent.msg(hello([catalogJob('etc')])), agent.msg(run('etc', id, { durationMs: MAX, bytesAdded: MAX, bytesTotal: MAX, files: MAX }))] }));
  assert.equal(first.statusCode, 200, first.body);
  assert.deepEqual(c.db.prepare('SELECT duration_ms, bytes_added, bytes_total FROM runs WHERE run_id = ?').get(id), { duration_ms: MAX, bytes_added: MAX, bytes_total: MAX });
  const next = await c.app.inject(agent.report({ messages: [agent.msg(run('etc', randomUUID()))] }));
  assert.equal(next.statusCode, 200, next.body);
});

const EDGES: [string, Record<string, unknown>][] = [
  ['zero numbers', { durationMs: 0, bytesAdded: 0, bytesTotal: 0, files: 0, exitCode: 0 }],
  ['the largest exit codes either way', { exitCode: MAX, status: 'failure' }],
  ['a negative exit code', { exitCode: -MAX, status: 'failure' }],
  ['a run in year 1', { startedAt: '0001-01-01T00:00:00Z', finishedAt: '0001-01-01T00:00:01Z' }],
  ['a run in year 9999', { startedAt: '9999-12-31T23:59:58Z', finishedAt: '9999-12-31T23:59:59Z' }],
  ['a finish long before the start', { startedAt: '9999-12-31T00:00:00Z', finishedAt: '0001-01-01T00:00:00Z' }],
  ['the longest texts', { error: 'e'.repeat(4096), logTail: 'l'.repeat(70_000), snapshotId: 's'.repeat(128), signal: 'SIGKILLSIGKILL12' }],
  ['a retry planned in year 9999 at attempt 100', { status: 'failure', retryAt: '9999-12-31T23:59:59Z', attempt: 100, scheduledFor: '0001-01-01T00:00:00Z' }],
];
for (const [edge, over] of EDGES) {
  test(`a run with ${edge} is stored (200) and the page, API and metrics still answer`, async () => {
    const agent = new TestAgent();
    const c = testCollector([agent]);
    c.clock.now = NOW;
    const id = randomUUID();
    const res = await c.app.inject(
      agent.report({
        messages: [
          agent.msg(hello([catalogJob('etc', { timeoutMs: MAX }), catalogJob('db', { timeoutMs: 0 })])),
          agent.msg(runStart('etc', id, new Date('9999-12-31T23:59:58Z'))),
          agent.msg(run('etc', id, over)),
          agent.msg({ kind: 'inventory', job: 'etc', target: 'usb-ssd', snapshots: [{ id: 'a', time: '0001-01-01T00:00:00Z', bytes: MAX }, { id: 'b', time: '9999-12-31T23:59:59Z', bytes: 0 }] }),
          agent.msg({ kind: 'host', filesystems: [{ mount: '/', fs: '/dev/sda1', type: 'ext4', sizeBytes: MAX, usedBytes: MAX }], load1: 1e308, uptimeS: MAX, clockOffsetMs: -MAX }),
          agent.msg({ kind: 'heartbeat', uptimeMs: MAX, spool: { pending: MAX, dropped: MAX, rejected: MAX, lost: MAX, error: 'x'.repeat(1024) } }),
        ],
      }),
    );
    assert.equal(res.statusCode, 200, res.body);
    for (const url of ['/api/v1/status', '/api/v1/overview', '/api/v1/assets/etc-asset', '/', '/assets/etc-asset', '/metrics']) {
      const r = await c.app.inject({ method: 'GET', url });
      assert.equal(r.statusCode, 200, `${url}: ${r.body.slice(0, 300)}`);
    }
    const cfg = collectorConfig({});
    const evaluator = new Evaluator({ db: c.db, tiers: tierPolicies(cfg), rules: rulesConfig(cfg), channels: cfg.notify, reminderMs: 86_400_000, flapMs: 0 });
    assert.doesNotThrow(() => evaluator.pass(NOW));
  });
}

// Issue 10, defect 5: a run-start whose run never arrives (its result set aside or lost on the
// agent) stayed "running" forever.
test('a running run is closed as "result lost" once its agent reports things from past its timeout, and its real result still wins', async () => {
  const agent = new TestAgent();
  const c = testCollector([agent]);
  const start = Date.parse('2025-06-01T02:00:00Z');
  const timeoutMs = 30 * 60_000;
  const id = randomUUID();
  const report = async (at: number, ...messages: Parameters<typeof agent.msg>[0][]) => {
    c.clock.now = at;
    const res = await c.app.inject(agent.report({ messages: messages.map((m) => agent.msg(m, new Date(at))) }));
    assert.equal(res.statusCode, 200, res.body);
  };
  const status = () => c.db.prepare('SELECT status, error FROM runs WHERE run_id = ?').get(id) as { status: string; error: string | null };
  await report(start, hello([catalogJob('etc', { timeoutMs })]), runStart('etc', id, new Date(start)));
  const heartbeat = { kind: 'heartbeat', uptimeMs: 1, spool: { pending: 0, dropped: 0, rejected: 1 } } as const;
  await report(start + timeoutMs + RESULT_LOST_GRACE_MS, heartbeat);
  assert.equal(status().status, 'running', 'exactly the timeout and its grace: the result may still be on its way');
  await report(start + timeoutMs + RESULT_LOST_GRACE_MS + 1000, heartbeat);
  assert.equal(status().status, 'failure');
  assert.match(status().error ?? '', /^result lost: the agent never reported how this run ended/);
  // The result arrives after all (delivered late from the agent's spool): it replaces "lost".
  await report(start + timeoutMs + RESULT_LOST_GRACE_MS + 2000, run('etc', id, { startedAt: new Date(start).toISOString(), finishedAt: new Date(start + 60_000).toISOString(), durationMs: 60_000 }));
  assert.deepEqual(status(), { status: 'success', error: null });
});

test('a running run of a silent agent stays running: no later report, no evidence its result is lost', async () => {
  const agent = new TestAgent();
  const c = testCollector([agent]);
  const start = Date.parse('2025-06-01T02:00:00Z');
  c.clock.now = start;
  const id = randomUUID();
  await c.app.inject(agent.report({ messages: [agent.msg(hello([catalogJob('etc', { timeoutMs: 60_000 })]), new Date(start)), agent.msg(runStart('etc', id, new Date(start)), new Date(start))] }));
  c.clock.now = start + 86_400_000;
  const cfg = collectorConfig({});
  new Evaluator({ db: c.db, tiers: tierPolicies(cfg), rules: rulesConfig(cfg), channels: cfg.notify, reminderMs: 86_400_000, flapMs: 0 }).pass(c.clock.now);
  assert.equal((c.db.prepare('SELECT status FROM runs WHERE run_id = ?').get(id) as { status: string }).status, 'running');
});
