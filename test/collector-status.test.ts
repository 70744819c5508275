import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { test } from 'node:test';
import type { Unsequenced } from '../shared/protocol';
import { TestAgent, catalogJob, hello, run, runStart, testCollector } from './collector-helpers';

test('status lists agents and active jobs with their last run after hello, run-start and run', async () => {
  const agent = new TestAgent('pve1');
  const c = testCollector([agent]);
  c.clock.now = Date.parse('2025-01-02T03:00:00Z');
  const first = randomUUID();
  const second = randomUUID();
  const batch = [
    agent.msg(hello([catalogJob('etc'), catalogJob('pg', { tier: 2, target: { name: 'box', location: 'offsite', media: 'cloud' } })])),
    agent.msg(runStart('etc', first, new Date('2025-01-01T02:00:00Z'))),
    agent.msg(run('etc', first)),
    agent.msg(runStart('etc', second, new Date('2025-01-02T02:00:00Z'))),
  ];
  assert.equal((await c.app.inject(agent.report({ messages: batch }))).statusCode, 200);
  const res = await c.app.inject({ method: 'GET', url: '/api/v1/status' });
  assert.equal(res.statusCode, 200);
  assert.deepEqual(res.json(), {
    generatedAt: '2025-01-02T03:00:00.000Z',
    agents: [{ name: 'pve1', lastSeen: '2025-01-02T03:00:00.000Z', version: '0.1.0', hostname: 'pve1.lan', source: 'config' }],
    jobs: [
      {
        agent: 'pve1',
        name: 'etc',
        asset: 'etc-asset',
        tier: 1,
        driver: 'command',
        role: 'backup',
        target: { name: 'usb-ssd', location: 'onsite', media: 'usb' },
        schedule: '0 2 * * *',
        // The run that started last, even while it is still running.
        lastRun: {
          runId: second,
          status: 'running',
          startedAt: '2025-01-02T02:00:00.000Z',
          finishedAt: null,
          exitCode: null,
          durationMs: null,
          bytesAdded: null,
          bytesTotal: null,
          files: null,
          snapshotId: null,
          hasLog: false,
        },
        lastPrune: null,
        lastVerify: null,
        lastRestoreTest: null,
        inventory: null,
      },
      {
        agent: 'pve1',
        name: 'pg',
        asset: 'pg-asset',
        tier: 2,
        driver: 'command',
        role: 'backup',
        target: { name: 'box', location: 'offsite', media: 'cloud' },
        schedule: '0 2 * * *',
        lastRun: null,
        lastPrune: null,
        lastVerify: null,
        lastRestoreTest: null,
        inventory: null,
      },
    ],
    incidents: [],
    datastores: [],
  });
});

test('status shows a finished run with its result', async () => {
  const agent = new TestAgent('pve1');
  const c = testCollector([agent]);
  const id = randomUUID();
  const batch = [agent.msg(hello([catalogJob('etc')])), agent.msg(runStart('etc', id)), agent.msg(run('etc', id, { status: 'warning', exitCode: 1 }))];
  await c.app.inject(agent.report({ messages: batch }));
  const { jobs } = (await c.app.inject({ method: 'GET', url: '/api/v1/status' })).json();
  assert.deepEqual(jobs[0].lastRun, {
    runId: id,
    status: 'warning',
    startedAt: '2025-01-01T02:00:00.000Z',
    finishedAt: '2025-01-01T02:05:00.000Z',
    exitCode: 1,
    durationMs: 300_000,
    bytesAdded: 1024,
    bytesTotal: 4096,
    files: null,
    snapshotId: null,
    hasLog: true,
  });
});

test('status leaves out jobs the agent no longer declares', async () => {
  const agent = new TestAgent('pve1');
  const c = testCollector([agent]);
  await c.app.inject(agent.report({ messages: [agent.msg(hello([catalogJob('etc'), catalogJob('old')])), agent.msg(hello([catalogJob('etc')]))] }));
  const { jobs } = (await c.app.inject({ method: 'GET', url: '/api/v1/status' })).json();
  assert.deepEqual(jobs.map((j: { name: string }) => j.name), ['etc']);
});

test('an agent that never reported is listed with lastSeen null', async () => {
  const c = testCollector([new TestAgent('pbs1')]);
  const { agents } = (await c.app.inject({ method: 'GET', url: '/api/v1/status' })).json();
  assert.deepEqual(agents, [{ name: 'pbs1', lastSeen: null, version: null, hostname: null, source: 'config' }]);
});

test('healthz answers ok after querying the database', async () => {
  const c = testCollector([]);
  const res = await c.app.inject({ method: 'GET', url: '/healthz' });
  assert.equal(res.statusCode, 200);
  assert.deepEqual(res.json(), { ok: true });
});

test('the status page renders agent-supplied text as text, never as markup', async () => {
  const agent = new TestAgent('pve1');
  const c = testCollector([agent]);
  await c.app.inject(agent.report({ messages: [agent.msg({ ...hello([catalogJob('etc')]), version: '<b>1</b>', hostname: '<script>alert(1)</script>' } as Unsequenced)] }));
  const html = (await c.app.inject({ method: 'GET', url: '/' })).body;
  assert.ok(!html.includes('<script>alert(1)</script>'));
  assert.ok(html.includes('&lt;script&gt;alert(1)&lt;/script&gt;'));
  assert.ok(html.includes('&lt;b&gt;1&lt;/b&gt;'));
});

test('status shows the newest prune, verify and restore drill apart from the backup, and the inventory', async () => {
  const agent = new TestAgent('pve1');
  const c = testCollector([agent]);
  const backup = randomUUID();
  const drill = randomUUID();
  const batch = [
    agent.msg(hello([catalogJob('etc')])),
    agent.msg(run('etc', backup)),
    agent.msg(run('etc', drill, { operation: 'restore-test', status: 'success', durationMs: 4200, files: 12, bytesTotal: 9000 })),
    agent.msg(run('etc', randomUUID(), { operation: 'verify', status: 'failure', error: 'repository contains errors' })),
    agent.msg({ kind: 'inventory', job: 'etc', target: 'usb-ssd', snapshots: [{ id: 'a', time: '2025-01-01T02:00:00.000Z' }, { id: 'b', time: '2025-01-01T02:30:00.000Z' }] }),
  ];
  await c.app.inject(agent.report({ messages: batch }));
  const [job] = (await c.app.inject({ method: 'GET', url: '/api/v1/status' })).json().jobs;
  assert.equal(job.lastRun.runId, backup);
  assert.equal(job.lastRestoreTest.status, 'success');
  assert.equal(job.lastRestoreTest.durationMs, 4200);
  assert.equal(job.lastRestoreTest.files, 12);
  assert.equal(job.lastVerify.status, 'failure');
  assert.equal(job.lastVerify.error, 'repository contains errors');
  assert.equal(job.lastPrune, null);
  assert.deepEqual({ ...job.inventory, updatedAt: undefined }, { snapshots: 2, newest: '2025-01-01T02:30:00.000Z', oldest: '2025-01-01T02:00:00.000Z', updatedAt: undefined });
});

test('hasLog tells a stored log tail, however long, from an empty one or none', async () => {
  const agent = new TestAgent('pve1');
  const c = testCollector([agent]);
  const ids = { long: randomUUID(), empty: randomUUID(), running: randomUUID() };
  const batch = [
    agent.msg(hello(Object.keys(ids).map((job) => catalogJob(job)))),
    agent.msg(run('long', ids.long, { logTail: 'x'.repeat(64 * 1024) })),
    agent.msg(run('empty', ids.empty, { logTail: '' })),
    agent.msg(runStart('running', ids.running)), // no log yet: NULL
  ];
  const res = await c.app.inject(agent.report({ messages: batch }));
  assert.equal(res.statusCode, 200, res.body);
  const status = (await c.app.inject({ method: 'GET', url: '/api/v1/status' })).json();
  assert.deepEqual(Object.fromEntries(status.jobs.map((j: { name: string; lastRun: { hasLog: boolean } }) => [j.name, j.lastRun.hasLog])), { empty: false, long: true, running: false });
  // The asset page's run history reads it the same way: a log link for the long one only.
  for (const [job, id] of Object.entries(ids)) {
    const page = await c.app.inject({ method: 'GET', url: `/assets/${job}-asset` });
    assert.equal(page.body.includes(`/api/v1/runs/${id}/log`), job === 'long', job);
  }
});
