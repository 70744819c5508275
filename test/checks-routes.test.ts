import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { buildApp } from '../collector/app';
import { collectorConfig } from '../collector/config';
import { CHECK_LOG_CHARS } from '../collector/checks/store';
import { tempDb, tempDir } from './collector-helpers';

// Checks through the collector's HTTP app (fastify inject) over a real SQLite file: pings as
// Healthchecks answers them, rid pairing, the run rows every reader sees, the admin API.

const ID = '5f0c7d2e-8a41-4b3e-9f6a-1c2d3e4f5a6b';
const OTHER = '0b1c2d3e-4f5a-4b6c-8d7e-9f0a1b2c3d4e';
const check = (over: Record<string, unknown> = {}) => ({
  id: ID,
  name: 'nas-rsync',
  asset: 'nas-photos',
  tier: 2,
  target: { name: 'nas', location: 'onsite', media: 'nas' },
  schedule: '@daily',
  grace: '1h',
  ...over,
});

function setup(extra: Record<string, unknown> = {}, clock = { t: Date.parse('2026-11-30T02:00:00Z') }) {
  const { db } = tempDb();
  const config = collectorConfig({ checks: [check()], ...extra });
  const app = buildApp({ config, db, now: () => clock.t });
  const runs = () =>
    db
      .prepare<[], { runId: string; status: string; startedAt: number; finishedAt: number | null; durationMs: number | null; exitCode: number | null; log: string | null; error: string | null }>(
        `SELECT r.run_id AS runId, r.status, r.started_at AS startedAt, r.finished_at AS finishedAt, r.duration_ms AS durationMs,
                r.exit_code AS exitCode, r.log_tail AS log, r.error
         FROM runs r JOIN agents a ON a.id = r.agent_id WHERE a.name = 'checks' AND r.job = 'nas-rsync' ORDER BY r.id`,
      )
      .all();
  return { db, app, clock, runs };
}

test('a configured check is a job of the pseudo-agent "checks", with its grace, and no key a signed report could use', async () => {
  const { db, app } = setup();
  const job = db
    .prepare(`SELECT j.name, j.asset, j.tier, j.driver, j.target_name AS target, j.target_location AS location, j.target_media AS media, j.schedule, j.timeout_ms AS timeoutMs, j.grace_ms AS graceMs, a.source, a.public_key AS publicKey, a.heartbeat_ms AS heartbeatMs
              FROM jobs j JOIN agents a ON a.id = j.agent_id WHERE a.name = 'checks' AND j.active = 1`)
    .all();
  assert.deepEqual(job, [
    { name: 'nas-rsync', asset: 'nas-photos', tier: 2, driver: 'check', target: 'nas', location: 'onsite', media: 'nas', schedule: '@daily', timeoutMs: 3_600_000, graceMs: 3_600_000, source: 'enrolled', publicKey: '', heartbeatMs: 0 },
  ]);
  const status = (await app.inject({ method: 'GET', url: '/api/v1/status' })).json() as { jobs: { agent: string; name: string }[] };
  assert.ok(status.jobs.some((j) => j.agent === 'checks' && j.name === 'nas-rsync'));
  // Every reader sees a check's runs with no change of its own: metrics, the asset page, reports.
  await app.inject({ method: 'POST', url: `/ping/${ID}`, payload: 'synced' });
  assert.match((await app.inject({ url: '/metrics' })).body, /lifeline_job_last_run_status\{agent="checks",backup_job="nas-rsync",[^}]*status="success"\} 1/);
  assert.match((await app.inject({ url: '/assets/nas-photos' })).body, /nas-rsync/);
  assert.match((await app.inject({ url: '/api/v1/reports/week' })).body, /nas-photos/);
  // Signed reports in the name of "checks" never verify: its key is empty.
  const forged = await app.inject({ method: 'POST', url: '/api/v1/reports', headers: { 'x-lifeline-agent': 'checks', 'x-lifeline-signature': `${'A'.repeat(86)}==` }, payload: '{}' });
  assert.equal(forged.statusCode, 401);
});

test('pings answer as Healthchecks does; an unknown id, a bad exit status or rid changes nothing', async () => {
  const { app, runs } = setup();
  const cases: [string, string, number, string][] = [
    ['GET', `/ping/${OTHER}`, 404, 'not found'],
    ['POST', `/ping/${OTHER}/fail`, 404, 'not found'],
    ['GET', `/ping/not-a-uuid`, 404, 'not found'],
    ['GET', `/ping/${ID}/256`, 400, 'invalid url format'],
    ['GET', `/ping/${ID}?rid=123`, 400, 'invalid uuid format'],
    ['GET', `/ping/${ID}/bogus`, 404, 'not found'],
  ];
  for (const [method, url, status, body] of cases) {
    const r = await app.inject({ method: method as 'GET', url });
    assert.equal(r.statusCode, status, url);
    assert.equal(r.body, body, url);
  }
  assert.deepEqual(runs(), []);
  const ok = await app.inject({ method: 'HEAD', url: `/ping/${ID.toUpperCase()}` });
  assert.equal(ok.statusCode, 200);
  assert.equal(ok.headers['access-control-allow-origin'], '*');
  assert.equal(ok.headers['ping-body-limit'], String(CHECK_LOG_CHARS));
  assert.equal(runs().length, 1);
  assert.equal(runs()[0].status, 'success');
});

test('start then end pairs into one run with its duration; rid pairs only its own start; exit status and body are kept', async () => {
  const { app, clock, runs } = setup();
  await app.inject({ method: 'POST', url: `/ping/${ID}/start`, payload: '' });
  assert.equal(runs()[0].status, 'running');
  clock.t += 90_000;
  // borgmatic-style: a body without a content type of its own, kept as the run's log.
  await app.inject({ method: 'POST', url: `/ping/${ID}`, payload: 'created archive host-2026\n', headers: { 'content-type': 'application/octet-stream' } });
  let r = runs();
  assert.equal(r.length, 1);
  assert.equal(r[0].status, 'success');
  assert.equal(r[0].durationMs, 90_000);
  assert.equal(r[0].log, 'created archive host-2026\n');

  const rid = 'AAAAAAAA-1111-4222-8333-444444444444';
  await app.inject({ method: 'GET', url: `/ping/${ID}/start?rid=${rid}` });
  clock.t += 5_000;
  // Another rid's end is a run of its own and leaves this start open.
  await app.inject({ method: 'GET', url: `/ping/${ID}/0?rid=bbbbbbbb-1111-4222-8333-444444444444` });
  clock.t += 5_000;
  await app.inject({ method: 'POST', url: `/ping/${ID}/3?rid=${rid.toLowerCase()}`, payload: 'disk full', headers: { 'content-type': 'application/x-www-form-urlencoded' } });
  r = runs();
  assert.equal(r.length, 3);
  assert.deepEqual({ status: r[1].status, durationMs: r[1].durationMs, exitCode: r[1].exitCode, log: r[1].log }, { status: 'failure', durationMs: 10_000, exitCode: 3, log: 'disk full' });
  assert.match(r[1].error!, /exit status 3/);
  assert.deepEqual({ status: r[2].status, durationMs: r[2].durationMs, exitCode: r[2].exitCode }, { status: 'success', durationMs: 0, exitCode: 0 });
});

test('a start whose end never comes is closed as a failure when the check starts again or ends another run', async () => {
  const { app, clock, runs } = setup();
  await app.inject({ method: 'GET', url: `/ping/${ID}/start` });
  clock.t += 60_000;
  await app.inject({ method: 'GET', url: `/ping/${ID}/start` });
  let r = runs();
  assert.deepEqual(r.map((x) => x.status), ['failure', 'running']);
  assert.equal(r[0].durationMs, 60_000);
  assert.match(r[0].error!, /no end ping for this start/);
  // An end with a rid the start did not have: a run of its own; a success with a rid leaves the start open (Healthchecks' rule).
  clock.t += 1000;
  await app.inject({ method: 'GET', url: `/ping/${ID}?rid=bbbbbbbb-1111-4222-8333-444444444444` });
  assert.deepEqual(runs().map((x) => x.status), ['failure', 'running', 'success']);
  // A fail ends the running state whatever its rid: the open start is closed, the fail is its own run.
  await app.inject({ method: 'GET', url: `/ping/${ID}/fail?rid=cccccccc-1111-4222-8333-444444444444` });
  r = runs();
  assert.deepEqual(r.map((x) => x.status), ['failure', 'failure', 'success', 'failure']);
  assert.match(r[1].error!, /no end ping/);
  assert.match(r[3].error!, /\/fail ping/);
});

test('a ping body is kept as posted text (bad UTF-8 replaced); the API shows its hidden characters as stand-ins', async () => {
  const { app, runs } = setup();
  // Markup, a bidi override, a control character and a byte that is no UTF-8.
  const hostile = Buffer.concat([Buffer.from('<script>alert(1)</script> \u202Eevil\u0007 '), Buffer.from([0xff])]);
  await app.inject({ method: 'POST', url: `/ping/${ID}/fail`, payload: hostile });
  const [run] = runs();
  assert.equal(run.log, '<script>alert(1)</script> \u202Eevil\u0007 \uFFFD');
  const api = await app.inject({ url: `/api/v1/runs/${run.runId}/log` });
  // The API shows hidden characters as visible stand-ins, like an agent's log.
  assert.equal(api.json().run.logTail, '<script>alert(1)</script> \\u202Eevil\u2407 \uFFFD');
});

test('/log adds to the open run without ending it; a long body, even past limits.bodyBytes, keeps its end, bounded like an agent log tail', async () => {
  const { app, clock, runs } = setup();
  await app.inject({ method: 'POST', url: `/ping/${ID}/log`, payload: 'no start open: nothing recorded' });
  assert.deepEqual(runs(), []);
  await app.inject({ method: 'POST', url: `/ping/${ID}/start` });
  await app.inject({ method: 'POST', url: `/ping/${ID}/log`, payload: 'step 1 done' });
  assert.equal(runs()[0].status, 'running');
  assert.equal(runs()[0].log, 'step 1 done');
  clock.t += 1000;
  // Longer than limits.bodyBytes (1 MiB): a long log is cut, never a refused (lost) ping.
  const long = `${'x'.repeat(3 * 2 ** 20)}THE END`;
  await app.inject({ method: 'POST', url: `/ping/${ID}/fail`, payload: long });
  const [run] = runs();
  assert.equal(run.status, 'failure');
  assert.equal(run.log!.length, CHECK_LOG_CHARS);
  assert.ok(run.log!.startsWith('...\n') && run.log!.endsWith('THE END'));
});

test('pings are rate limited per check (429 with Retry-After), and open whatever access.read says', async () => {
  const dir = tempDir();
  writeFileSync(join(dir, 'read.token'), 'read-secret\n', { mode: 0o600 });
  const { app } = setup({ access: { read: 'token', tokenFile: join(dir, 'read.token') } });
  const codes: number[] = [];
  let last;
  for (let i = 0; i < 21; i++) codes.push((last = await app.inject({ method: 'GET', url: `/ping/${ID}` })).statusCode);
  assert.deepEqual(codes.slice(0, 20), Array(20).fill(200));
  assert.equal(codes[20], 429);
  assert.equal(last!.headers['retry-after'], '1');
  assert.equal((await app.inject({ method: 'GET', url: '/api/v1/status' })).statusCode, 401);
});

test('slug URLs need the ping key (compared in constant time) and a lowercase slug', async () => {
  const dir = tempDir();
  writeFileSync(join(dir, 'ping.key'), 'k3y-abc_DEF\n', { mode: 0o600 });
  const { app, runs } = setup({ intake: { pingKeyFile: join(dir, 'ping.key') } });
  assert.equal((await app.inject({ method: 'GET', url: '/ping/wrong-key/nas-rsync' })).body, 'not found');
  const upper = await app.inject({ method: 'GET', url: '/ping/k3y-abc_DEF/NAS-rsync' });
  assert.deepEqual([upper.statusCode, upper.body], [400, 'invalid url format']);
  assert.deepEqual(runs(), []);
  assert.equal((await app.inject({ method: 'GET', url: '/ping/k3y-abc_DEF/nas-rsync/fail' })).body, 'OK');
  assert.equal(runs()[0].status, 'failure');
});

test('the admin API creates, lists and deletes checks; the config keeps its own', async () => {
  const dir = tempDir();
  writeFileSync(join(dir, 'admin.token'), 'admin-secret\n', { mode: 0o600 });
  const { app, db } = setup({ adminTokenFile: join(dir, 'admin.token'), publicUrl: 'https://lifeline.example/' });
  const auth = { authorization: 'Bearer admin-secret' };
  const body = { name: 'win-duplicati', asset: 'win-docs', tier: 3, target: { name: 'b2', location: 'offsite', media: 'cloud' }, period: '1d' };
  assert.equal((await app.inject({ method: 'POST', url: '/api/v1/checks', payload: body })).statusCode, 401);
  const bad = await app.inject({ method: 'POST', url: '/api/v1/checks', headers: auth, payload: { ...body, period: '5d' } });
  assert.equal(bad.statusCode, 400);
  assert.match(bad.json().error.message, /^period: /);
  const made = await app.inject({ method: 'POST', url: '/api/v1/checks', headers: auth, payload: body });
  assert.equal(made.statusCode, 201);
  const created = made.json().check as { id: string; pingUrl: string; source: string };
  assert.match(created.pingUrl, /^https:\/\/lifeline\.example\/ping\/[0-9a-f-]{36}$/);
  assert.equal(created.source, 'api');
  assert.equal((await app.inject({ method: 'POST', url: '/api/v1/checks', headers: auth, payload: { ...body, id: OTHER, name: 'nas-rsync' } })).statusCode, 409);
  assert.equal((await app.inject({ method: 'GET', url: `/ping/${created.id}` })).body, 'OK');
  const schedule = db.prepare(`SELECT schedule FROM jobs WHERE name = 'win-duplicati' AND active = 1`).pluck().get();
  assert.equal(schedule, '0 0 * * *');
  const listed = (await app.inject({ method: 'GET', url: '/api/v1/checks', headers: auth })).json().checks as { name: string }[];
  assert.deepEqual(listed.map((c) => c.name), ['nas-rsync', 'win-duplicati']);
  assert.equal((await app.inject({ method: 'DELETE', url: `/api/v1/checks/${ID}`, headers: auth })).statusCode, 400);
  assert.equal((await app.inject({ method: 'DELETE', url: `/api/v1/checks/${created.id}`, headers: auth })).statusCode, 200);
  assert.equal((await app.inject({ method: 'GET', url: `/ping/${created.id}` })).statusCode, 404);
  assert.equal(db.prepare(`SELECT active FROM jobs WHERE name = 'win-duplicati'`).pluck().get(), 0);
});

test('an agent already named "checks" is never taken over', () => {
  const { db } = tempDb();
  const key = Buffer.alloc(32, 7).toString('base64');
  assert.throws(
    () => buildApp({ config: collectorConfig({ agents: [{ name: 'checks', publicKey: key }], checks: [check()] }), db }),
    /an agent named "checks" exists/,
  );
});
