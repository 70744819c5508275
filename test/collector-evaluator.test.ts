import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { test } from 'node:test';
import { collectorConfig, rulesConfig, tierPolicies } from '../collector/config';
import { Evaluator } from '../collector/evaluate/evaluator';
import { startEvaluatorWorker } from '../collector/evaluate/worker-host';
import { TestAgent, catalogJob, count, heartbeat, hello, run, tempDir, testCollector } from './collector-helpers';

const MINUTE = 60_000;

// The collector's clock is a parameter here: hello at 2025-01-01 03:00 UTC, then evaluation
// passes at chosen instants, with no real waiting.
function setup() {
  const agent = new TestAgent('pve1');
  const c = testCollector([agent], {
    notify: [{ type: 'webhook', url: 'http://127.0.0.1:9/hook' }],
    incidents: { flap: '0s' },
  });
  const cfg = collectorConfig({ notify: [{ type: 'webhook', url: 'http://127.0.0.1:9/hook' }] });
  const evaluator = new Evaluator({ db: c.db, tiers: tierPolicies(cfg), rules: rulesConfig(cfg), channels: cfg.notify, reminderMs: 86_400_000, flapMs: 0 });
  return { agent, c, evaluator };
}

const rules = (pass: { findings: { rule: string }[] }) => pass.findings.map((f) => f.rule).sort();

test('a silent agent is found one interval after its third missed heartbeat, not before', async () => {
  const { agent, c, evaluator } = setup();
  // Schedule far away, so only the heartbeat matters.
  await c.app.inject(agent.report({ messages: [agent.msg(hello([catalogJob('etc', { schedule: '0 2 1 1 *', asset: 'etc' })])), agent.msg(heartbeat())] }));
  const seen = c.clock.now;
  assert.ok(!rules(evaluator.pass(seen + 3 * MINUTE)).includes('agent-silent'), 'exactly 3 intervals is still fine');
  const late = evaluator.pass(seen + 3 * MINUTE + 1);
  assert.ok(rules(late).includes('agent-silent'));
  assert.equal(late.opened.length > 0, true);
  assert.ok(count(c.db, 'outbox') >= 1, 'the incident and its notification are stored together');
});

test('a missed schedule is found once the due time plus grace has passed', async () => {
  const { agent, c, evaluator } = setup();
  await c.app.inject(agent.report({ messages: [agent.msg(hello([catalogJob('pg', { schedule: '0 2 * * *', asset: 'pg' })]))] }));
  // Known since 2025-01-01 03:00 UTC; Europe/Berlin 02:00 on Jan 2 is 01:00 UTC; grace 1 h.
  const due = Date.parse('2025-01-02T01:00:00Z');
  const heartbeatAt = (t: number) => {
    c.clock.now = t;
    return c.app.inject(agent.report({ messages: [agent.msg(heartbeat())] }));
  };
  await heartbeatAt(due + 60 * MINUTE - MINUTE);
  assert.ok(!rules(evaluator.pass(due + 60 * MINUTE)).includes('missed-run'));
  await heartbeatAt(due + 60 * MINUTE);
  const pass = evaluator.pass(due + 61 * MINUTE);
  assert.ok(rules(pass).includes('missed-run'), JSON.stringify(rules(pass)));
  const incident = c.db.prepare("SELECT title FROM incidents WHERE rule = 'missed-run' AND resolved_at IS NULL").get() as { title: string };
  assert.match(incident.title, /pg/);
});

test('an incremental pass reads only jobs whose agent reported or whose due time came, and keeps the other findings', async () => {
  const a = new TestAgent('pve1');
  const b = new TestAgent('pbs1');
  const c = testCollector([a, b]);
  await c.app.inject(a.report({ messages: [a.msg(hello([catalogJob('etc', { schedule: '0 2 1 1 *', asset: 'etc' })]))] }));
  await c.app.inject(b.report({ messages: [b.msg(hello([catalogJob('store', { schedule: '0 2 1 1 *', asset: 'store' })]))] }));
  const cfg = collectorConfig({});
  const evaluator = new Evaluator({ db: c.db, tiers: tierPolicies(cfg), rules: rulesConfig(cfg), channels: [], reminderMs: 86_400_000, flapMs: 0 });
  const t0 = c.clock.now;
  const first = evaluator.pass(t0 + MINUTE);
  assert.equal(first.full, true);
  assert.equal(first.evaluatedJobs, 2);
  // Only pve1 reports; pbs1's job is not due: one job read again.
  c.clock.now = t0 + 2 * MINUTE;
  await c.app.inject(a.report({ messages: [a.msg(heartbeat())] }));
  const second = evaluator.pass(t0 + 3 * MINUTE);
  assert.equal(second.full, false);
  assert.equal(second.evaluatedJobs, 1);
  // pbs1 stays silent: the host rule still sees it, every pass.
  const later = evaluator.pass(t0 + 10 * MINUTE);
  assert.equal(later.evaluatedJobs, 0);
  assert.ok(later.findings.some((f) => f.rule === 'agent-silent' && f.agent === 'pbs1'));
  assert.ok(later.findings.some((f) => f.rule === 'agent-silent' && f.agent === 'pve1'));
});

test('a report received before a pass began but committed after it is still evaluated by the next pass', async () => {
  const a = new TestAgent('pve1');
  const c = testCollector([a]);
  await c.app.inject(a.report({ messages: [a.msg(hello([catalogJob('etc', { schedule: '0 2 1 1 *', asset: 'etc' })]))] }));
  const cfg = collectorConfig({});
  const evaluator = new Evaluator({ db: c.db, tiers: tierPolicies(cfg), rules: rulesConfig(cfg), channels: [], reminderMs: 86_400_000, flapMs: 0 });
  const t0 = c.clock.now;
  evaluator.pass(t0 + MINUTE);
  // Stamped at t0 + 2 min, stored only after the pass at t0 + 2 min + 1 s had read.
  evaluator.pass(t0 + 2 * MINUTE + 1000);
  c.clock.now = t0 + 2 * MINUTE;
  await c.app.inject(a.report({ messages: [a.msg(run('etc', randomUUID(), { status: 'failure', startedAt: new Date(t0 + MINUTE).toISOString(), finishedAt: new Date(t0 + 2 * MINUTE).toISOString() }))] }));
  const next = evaluator.pass(t0 + 3 * MINUTE);
  assert.equal(next.full, false);
  assert.ok(next.findings.some((f) => f.rule === 'failed-run' && f.job === 'etc'), JSON.stringify(next.findings.map((f) => f.key)));
});

test('the evaluation worker thread evaluates on its own connection and reports queued notifications', async () => {
  const { agent, c } = setup();
  await c.app.inject(agent.report({ messages: [agent.msg(hello([catalogJob('etc', { asset: 'etc' })])), agent.msg(heartbeat())] }));
  const cfg = collectorConfig({ notify: [{ type: 'webhook', url: 'http://127.0.0.1:9/hook' }] });
  const errors: string[] = [];
  let queued!: () => void;
  const poked = new Promise<void>((resolve) => (queued = resolve));
  // The agent last reported at the test clock's 2025 date: by the real clock it is long silent.
  const worker = startEvaluatorWorker({
    data: { database: c.file, tiers: tierPolicies(cfg), rules: rulesConfig(cfg), channels: cfg.notify, reminderMs: 86_400_000, flapMs: 0, everyMs: 60_000 },
    onQueued: queued,
    log: { error: (_o, msg) => errors.push(msg), warn: (_o, msg) => errors.push(msg) },
  });
  await poked;
  await worker.stop();
  assert.deepEqual(errors, []);
  const rules = c.db.prepare('SELECT rule FROM incidents WHERE resolved_at IS NULL ORDER BY rule').all() as { rule: string }[];
  assert.ok(rules.some((r) => r.rule === 'agent-silent'), JSON.stringify(rules));
  assert.ok(count(c.db, 'outbox') >= 1);
});

test('an evaluation worker that dies is logged and started again', async () => {
  const cfg = collectorConfig({});
  const logged: string[] = [];
  let twice!: () => void;
  const restarted = new Promise<void>((resolve) => (twice = resolve));
  // A directory is no database: the worker fails at start, every time.
  const worker = startEvaluatorWorker({
    data: { database: tempDir(), tiers: tierPolicies(cfg), rules: rulesConfig(cfg), channels: [], reminderMs: 86_400_000, flapMs: 0, everyMs: 60_000 },
    onQueued: () => {},
    log: {
      error: (_o, msg) => logged.push(msg),
      warn: (_o, msg) => {
        logged.push(msg);
        if (logged.filter((m) => m.includes('restarting')).length === 2) twice();
      },
    },
    restartDelayMs: 10,
  });
  // The restart timer is unref'd (the collector's server keeps it alive): hold the loop here.
  const hold = setInterval(() => {}, 1000);
  await restarted;
  clearInterval(hold);
  await worker.stop();
  assert.ok(logged.includes('evaluation worker crashed'), JSON.stringify(logged));
});
