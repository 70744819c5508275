import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { after, test } from 'node:test';
import { startEvaluatorWorker } from '../collector/evaluate/worker-host';
import { rulesConfig, tierPolicies } from '../collector/config';
import { channelFailingFindings, channelFailuresReader } from '../collector/notify/channel-health';
import { IncidentStore } from '../collector/incidents/store';
import { pingFor } from '../collector/self-check';
import { FIRST_PASS_GRACE_MS, selfWatchOf, watchProblem, type PassInfo, type WatchArms } from '../collector/self-watch';
import { catalogJob, hello, run, TestAgent, testCollector } from './collector-helpers';
import { waitFor } from './helpers/processes';

const cleanups: (() => Promise<unknown> | unknown)[] = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

const T = Date.parse('2026-01-01T12:00:00Z');
const pass = (at: number): PassInfo => ({ at, ms: 12, findings: 2 });

test('watchProblem: evaluation stalled after 3 intervals (plus a first-pass grace), outbox stuck past its bound', () => {
  const ev: WatchArms = { evaluation: { everyMs: 60_000, since: T } };
  const cases: [string, WatchArms, PassInfo | null, number | null, number, RegExp | null][] = [
    ['nothing armed (a test app, no evaluator)', {}, null, T - 10 * 3_600_000, T + 3_600_000, null],
    ['first pass pending within 3 intervals + grace', ev, null, null, T + 180_000 + FIRST_PASS_GRACE_MS, null],
    ['no pass since the start, past 3 intervals + grace', ev, null, null, T + 180_001 + FIRST_PASS_GRACE_MS, /^evaluation stalled: no pass completed in the 3m30s since the start/],
    ['last pass exactly 3 intervals ago', ev, pass(T), null, T + 180_000, null],
    ['last pass more than 3 intervals ago', ev, pass(T), null, T + 180_001, /^evaluation stalled: the last pass completed 3m ago \(incidents\.evaluateEvery is 1m\)/],
    ['outbox: the oldest pending row within the bound', { outboxStuckMs: 600_000 }, null, T, T + 600_000, null],
    ['outbox: the oldest pending row past the bound', { outboxStuckMs: 600_000 }, null, T, T + 600_001, /^outbox stuck: a notification has waited 10m to be delivered \(watchdog\.outboxStuckAfter is 10m\)/],
    ['outbox: nothing pending', { outboxStuckMs: 600_000 }, null, null, T + 3_600_000, null],
    ['a stalled evaluator is named before a stuck outbox', { ...ev, outboxStuckMs: 1 }, pass(T), T, T + 3_600_000, /^evaluation stalled/],
  ];
  for (const [name, arms, last, oldest, now, want] of cases) {
    const got = watchProblem(arms, last, oldest, now);
    if (want === null) assert.equal(got, null, name);
    else assert.match(got ?? '', want, name);
  }
});

test('pingFor: the URL while healthy, <url>/fail (before any query) with the reason as the body while degraded', () => {
  assert.deepEqual(pingFor('https://hc.example/ping/abc', { ok: true }), { url: 'https://hc.example/ping/abc', body: 'lifeline-collector ok' });
  assert.deepEqual(pingFor('https://hc.example/ping/abc/', { ok: false, reason: 'outbox stuck' }), { url: 'https://hc.example/ping/abc/fail', body: 'outbox stuck' });
  assert.deepEqual(pingFor('https://hc.example/ping/key/slug?create=1', { ok: false, reason: 'x' }), { url: 'https://hc.example/ping/key/slug/fail?create=1', body: 'x' });
  // Healthchecks keeps 10,000 bytes of a ping body (REFERENCE-INTEGRATIONS.md §9).
  assert.equal(pingFor('https://hc.example/ping/abc', { ok: false, reason: 'r'.repeat(20_000) }).body.length, 10_000);
});

test('a channel is failing after N failed attempts since it last delivered; a later delivery clears it', () => {
  const c = testCollector([]);
  const insert = c.db.prepare(
    `INSERT INTO outbox (incident_id, channel, event, payload, created_at, next_attempt_at, attempts, sent_at, last_error) VALUES (NULL, ?, 'open', '{}', ?, ?, ?, ?, ?)`,
  );
  insert.run('bad', T - 60_000, T + 1000, 2, null, 'webhook: HTTP 500');
  insert.run('bad', T - 30_000, null, 1, null, 'webhook: HTTP 503'); // given up
  insert.run('good', T - 30_000, null, 1, T - 29_000, null);
  insert.run('old', T - 2 * 86_400_000, T, 9, null, 'too old to count');
  const configured = new Set(['bad', 'good', 'old']);
  const readChannelFailures = channelFailuresReader(c.db);
  const failures = readChannelFailures(T);
  assert.deepEqual(failures, [{ channel: 'bad', failed: 3, since: T - 60_000, lastError: 'webhook: HTTP 503' }]);
  assert.deepEqual(channelFailingFindings(failures, configured, 4), [], 'under the threshold');
  const [f] = channelFailingFindings(failures, configured, 3);
  assert.equal(f.key, 'notify-channel-failing|bad');
  assert.equal(f.target, 'bad');
  assert.match(f.detail, /3 delivery attempts failed .* last error: webhook: HTTP 503/);
  assert.deepEqual(channelFailingFindings(failures, new Set(['good']), 1), [], 'a channel no longer configured is not an incident');
  // The channel delivers a later row: the failed ones before it no longer count.
  insert.run('bad', T - 10_000, null, 1, T - 9_000, null);
  assert.deepEqual(readChannelFailures(T), []);
});

test("the failing channel's own incident is routed to the other channels only", () => {
  const c = testCollector([]);
  const channels = [
    { name: 'good', type: 'webhook', options: { url: 'http://127.0.0.1:1/' } },
    { name: 'bad', type: 'webhook', options: { url: 'http://127.0.0.1:2/' } },
  ];
  const store = new IncidentStore(c.db, { channels });
  const [finding] = channelFailingFindings([{ channel: 'bad', failed: 5, since: T - 60_000, lastError: 'HTTP 500' }], new Set(['good', 'bad']), 3);
  const other = { ...finding, key: 'agent-silent|pve1', rule: 'agent-silent' as const, target: undefined, agent: 'pve1', title: 'Agent pve1 is silent' };
  store.evaluate([finding, other], T, { reminderMs: 86_400_000, flapMs: 0 });
  const rows = c.db.prepare('SELECT o.channel, i.rule FROM outbox o JOIN incidents i ON i.id = o.incident_id ORDER BY i.rule, o.channel').all();
  assert.deepEqual(rows, [
    { channel: 'bad', rule: 'agent-silent' },
    { channel: 'good', rule: 'agent-silent' },
    { channel: 'good', rule: 'notify-channel-failing' },
  ]);
});

test('the evaluator worker reports each pass to the main thread: metrics after a pass, /healthz 503 while it is stopped, 200 once it runs again', async () => {
  const agent = new TestAgent('pve1');
  const c = testCollector([agent], { incidents: { evaluateEvery: '300ms' } });
  // The app reads the real clock: the worker stamps its passes with it.
  Object.defineProperty(c.clock, 'now', { get: () => Date.now() });
  const app = c.app;
  // One job with a failed run: at least one finding.
  for (const m of [hello([catalogJob('db')]), run('db', '6d8f7a52-9b0e-4b53-8c3f-3f1e0e5b7a01', { status: 'failure', exitCode: 1, finishedAt: new Date().toISOString(), startedAt: new Date(Date.now() - 60_000).toISOString() })]) {
    const res = await app.inject(agent.report({ messages: [agent.msg(m)] }));
    assert.equal(res.statusCode, 200, res.body);
  }
  const config = (await import('../collector/config')).collectorConfig({ database: c.file, incidents: { evaluateEvery: '300ms' } });
  const watch = selfWatchOf(c.db);
  watch.arms = { evaluation: { everyMs: 300, since: Date.now() } };
  const log = { error: () => {}, warn: () => {} };
  const start = () =>
    startEvaluatorWorker({
      data: { database: c.file, tiers: tierPolicies(config), rules: rulesConfig(config), channels: [], reminderMs: 86_400_000, flapMs: 0, everyMs: 300 },
      onQueued: () => {},
      onPass: (p) => watch.passed(p),
      log,
    });
  let worker = start();
  cleanups.push(() => worker.stop());

  await waitFor('a pass reported', () => watch.lastPass);
  const before = Date.now();
  const text = (await app.inject({ method: 'GET', url: '/metrics' })).body;
  const value = (name: string) => {
    const m = new RegExp(`^${name} (\\S+)$`, 'm').exec(text);
    assert.ok(m, `${name} in /metrics`);
    return Number(m[1]);
  };
  const at = value('lifeline_evaluator_last_pass_timestamp_seconds');
  assert.ok(at * 1000 <= before && at * 1000 > before - 5000, `last pass ${at} is recent`);
  const duration = value('lifeline_evaluator_last_pass_duration_seconds');
  assert.ok(duration >= 0 && duration < 5, `duration ${duration}`);
  assert.ok(value('lifeline_evaluator_findings') >= 1, 'the failed run is a finding');
  assert.equal(value('lifeline_outbox_oldest_pending_age_seconds'), 0);
  assert.ok(value('lifeline_database_size_bytes') > 4096);
  assert.match(text, /^# TYPE lifeline_ingest_rejected_requests_total counter$/m);
  const promtool = spawnSync('/usr/bin/promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
  assert.equal(promtool.status, 0, `${promtool.stdout}${promtool.stderr}`);
  assert.equal((await app.inject({ method: 'GET', url: '/healthz' })).statusCode, 200);

  // The worker stops: after 3 intervals (0.9 s) without a completed pass, /healthz says so.
  await worker.stop();
  const degraded = await waitFor('/healthz 503', async () => {
    const res = await app.inject({ method: 'GET', url: '/healthz' });
    return res.statusCode === 503 ? (res.json() as { reason: string }) : null;
  });
  assert.match(degraded.reason, /^evaluation stalled: the last pass completed [\dms]+ ago \(incidents\.evaluateEvery is 300ms\)/);
  worker = start();
  await waitFor('/healthz 200 again', async () => (await app.inject({ method: 'GET', url: '/healthz' })).statusCode === 200);
});

test('selfCheck and watchdog in collector.yaml: defaults, durations, and a URL that is not http(s) refused', async () => {
  const { collectorConfig } = await import('../collector/config');
  assert.equal(collectorConfig({}).selfCheck, undefined, 'off unless configured');
  assert.deepEqual(collectorConfig({ selfCheck: { url: 'https://hc-ping.com/0f8e7a52-9b0e-4b53-8c3f-3f1e0e5b7a01' } }).selfCheck, { url: 'https://hc-ping.com/0f8e7a52-9b0e-4b53-8c3f-3f1e0e5b7a01', every: 60_000 });
  assert.deepEqual(collectorConfig({ selfCheck: { url: 'http://hc.lan/ping/k/collector', every: '5m' }, watchdog: { outboxStuckAfter: '30m', channelFailures: 5 } }).watchdog, { outboxStuckAfter: 1_800_000, channelFailures: 5 });
  assert.throws(() => collectorConfig({ selfCheck: { url: 'ftp://hc.lan/ping/x' } }), /expected an http:\/\/ or https:\/\/ URL/);
  assert.throws(() => collectorConfig({ selfCheck: { url: 'https://hc.lan/ping/x', interval: '1m' } }));
  assert.throws(() => collectorConfig({ watchdog: { channelFailures: 0 } }));
});
