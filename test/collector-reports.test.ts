import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { test } from 'node:test';
import { buildReport, reportMarkdown } from '../collector/reports';
import { TestAgent, catalogJob, hello, run, testCollector } from './collector-helpers';

const GiB = 2 ** 30;

test('the weekly report gives success rate, storage trend, durations and drills per tier', async () => {
  const agent = new TestAgent('pve1');
  const c = testCollector([agent]);
  const now = Date.parse('2025-01-15T12:00:00Z');
  // The runs arrive now: the collector believes no run time from its future.
  c.clock.now = now;
  const day = (n: number) => new Date(now - n * 86_400_000).toISOString();
  const backup = (job: string, n: number, status: string, bytesTotal: number, durationMs: number) =>
    agent.msg(run(job, randomUUID(), { startedAt: day(n), finishedAt: day(n), status, bytesTotal, durationMs, exitCode: status === 'success' ? 0 : 1 }));
  await c.app.inject(
    agent.report({
      messages: [
        agent.msg(hello([catalogJob('db', { tier: 1 }), catalogJob('media', { tier: 3 })])),
        backup('db', 10, 'success', 8 * GiB, 60_000), // the week before: storage and duration baseline
        backup('db', 3, 'success', 10 * GiB, 120_000),
        backup('db', 2, 'failure', 0, 1000),
        backup('db', 1, 'success', 10 * GiB, 120_000),
        backup('media', 4, 'success', 1 * GiB, 30_000),
        agent.msg(run('db', randomUUID(), { operation: 'restore-test', startedAt: day(1), finishedAt: day(1), durationMs: 600_000 })),
        agent.msg(run('db', randomUUID(), { operation: 'verify', startedAt: day(2), finishedAt: day(2), status: 'failure', exitCode: 1 })),
      ],
    }),
  );
  const r = buildReport(c.db, 'week', now);
  const [t1, t3] = r.tiers;
  assert.equal(t1.tier, 1);
  assert.equal(t1.runs, 3);
  assert.equal(t1.succeeded, 2);
  assert.ok(Math.abs(t1.successRate! - 2 / 3) < 1e-9);
  assert.equal(t1.storageBytes, 10 * GiB);
  assert.equal(t1.storageBytesBefore, 8 * GiB);
  assert.equal(t1.avgDurationMsBefore, 60_000);
  assert.equal(t3.successRate, 1);
  assert.deepEqual(r.verifications, { passed: 0, failed: 1 });
  assert.deepEqual(r.restoreDrills, { passed: 1, failed: 0, slowestMs: 600_000 });
  const md = reportMarkdown(r);
  assert.match(md, /\| 1 \| 66\.7 % \(2\/3\) \| 10\.0 GiB \(\+25\.0 %\)/);
  assert.match(md, /Restore drills: 1 passed, 0 failed, slowest 10\.0 min/);

  c.clock.now = now;
  const res = await c.app.inject({ method: 'GET', url: '/api/v1/reports/week' });
  assert.equal(res.statusCode, 200);
  assert.equal(res.json().report.tiers[0].runs, 3);
  assert.equal((await c.app.inject({ method: 'GET', url: '/api/v1/reports/year' })).statusCode, 404);
});
