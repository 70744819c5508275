import assert from 'node:assert/strict';
import { gunzipSync } from 'node:zlib';
import { randomUUID } from 'node:crypto';
import { chmodSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { collectorConfig, loadCollectorConfig, rulesConfig, tierPolicies } from '../collector/config';
import { Evaluator } from '../collector/evaluate/evaluator';
import type { EvaluationInput, JobView } from '../collector/rules/types';
import { DEFAULT_RULES_CONFIG } from '../collector/rules/types';
import { overviewView, verdict } from '../collector/view/overview';
import type { Unsequenced } from '../shared/protocol';
import { ConfigError } from '../shared/config-file';
import { TestAgent, catalogJob, hello, run, tempDir, testCollector } from './collector-helpers';
import { job as fixtureJob } from './helpers/rules-fixtures';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const NOW = Date.parse('2025-01-01T03:00:00Z');
const tiers = tierPolicies(collectorConfig());

// Rule-input defaults, on a local USB copy in UTC, known for 30 days: tests name the asset and job.
const job = (over: Partial<JobView> & { asset: string; job: string }): JobView =>
  fixtureJob({ tier: 1, target: { name: 'usb', location: 'onsite', media: 'usb' }, timezone: 'UTC', timeoutMs: 0, retention: {}, knownSince: NOW - 30 * DAY, ...over });
const offsite = { name: 'b2', location: 'offsite', media: 'cloud' } as const;
const input = (jobs: JobView[]): EvaluationInput => ({ jobs, agents: [], tiers, config: DEFAULT_RULES_CONFIG });
const overview = (jobs: JobView[]) => overviewView({ evaluation: input(jobs), agents: [], openIncidents: [] }, NOW);

test('an asset whose off-site copy is exactly RPO old is recoverable; 1 ms older it is at risk', () => {
  const rpo = tiers[1].rpoMs;
  const copies = (age: number) => [job({ asset: 'db', job: 'local', lastSuccess: NOW - HOUR }), job({ asset: 'db', job: 'cloud', target: offsite, lastSuccess: NOW - age })];
  const fresh = overview(copies(rpo));
  assert.equal(fresh.verdict.ok, true);
  assert.equal(fresh.verdict.text, 'The 1 asset is recoverable: fresh off-site copies within RPO');
  const stale = overview(copies(rpo + 1));
  assert.equal(stale.verdict.ok, false);
  assert.equal(stale.verdict.text, '1 of 1 asset at risk: db (no off-site copy within RPO)');
  assert.deepEqual(stale.tiers[0].assets[0].risks, ['no off-site copy within RPO']);
});

test('3-2-1 badges count the original and fresh copies by target, media and location', () => {
  const v = overview([
    job({ asset: 'full', job: 'usb', lastSuccess: NOW - HOUR }),
    job({ asset: 'full', job: 'cloud', target: offsite, lastSuccess: NOW - HOUR }),
    job({ asset: 'local', job: 'usb', lastSuccess: NOW - HOUR }),
  ]);
  const [full, local] = ['full', 'local'].map((a) => v.tiers[0].assets.find((r) => r.asset === a)!);
  assert.deepEqual(full.badge, { copies: 3, media: ['disk', 'usb', 'cloud'], offsite: 1, ok: true, missing: [] });
  assert.deepEqual(local.badge, { copies: 2, media: ['disk', 'usb'], offsite: 0, ok: false, missing: ['2 of 3 copies', 'no off-site copy'] });
  assert.equal(v.verdict.text, '1 of 2 assets at risk: local (no off-site copy within RPO)');
  assert.equal(v.tiers[0].assets[0].asset, 'local', 'assets at risk come first');
});

test('the verdict names at most three assets at risk and counts the rest; no assets is not a green verdict', () => {
  const rows = ['a', 'b', 'c', 'd', 'e'].map((asset) => ({ asset, risks: ['no good copy yet'] }));
  assert.equal(verdict(rows).text, '5 of 5 assets at risk: a (no good copy yet), b (no good copy yet), c (no good copy yet) and 2 more');
  assert.equal(verdict([]).ok, false);
});

test('a restore drill slower than the tier RTO puts the asset at risk', () => {
  const drill = { runId: 'x', operation: 'restore-test' as const, status: 'success' as const, startedAt: NOW - DAY, finishedAt: NOW - DAY + 1, bytesAdded: null, bytesTotal: null, error: null };
  const jobs = (ms: number) => [
    job({ asset: 'db', job: 'cloud', target: offsite, lastSuccess: NOW - HOUR, lastRestoreTest: { ...drill, durationMs: ms } }),
  ];
  assert.deepEqual(overview(jobs(tiers[1].rtoMs)).tiers[0].assets[0].risks, []);
  assert.match(overview(jobs(tiers[1].rtoMs + 1000)).tiers[0].assets[0].risks[0], /^last restore drill took /);
});

// A collector fed through its real ingest route: one asset with a local and an off-site copy.
async function fed(config: Record<string, unknown> = {}) {
  const agent = new TestAgent('pve1');
  const c = testCollector([agent], config);
  const good = randomUUID();
  const failed = randomUUID();
  const messages = [
    agent.msg(hello([
      catalogJob('etc', { asset: 'etc', driver: 'restic', restore: { repository: '/srv/restic' } }),
      catalogJob('etc-cloud', { asset: 'etc', driver: 'restic', target: { name: 'b2', location: 'offsite', media: 'cloud' } }),
    ])),
    agent.msg(run('etc', good, { snapshotId: 'abc123', logTail: 'snapshot abc123 saved\n' })),
    agent.msg(run('etc-cloud', failed, { status: 'failure', exitCode: 1, error: 'repository locked', logTail: 'Fatal: locked\n' })),
    agent.msg({ kind: 'inventory', job: 'etc', target: 'usb-ssd', snapshots: [{ id: 'abc123', time: '2025-01-01T02:04:00.000Z' }] }),
  ];
  const res = await c.app.inject(agent.report({ messages }));
  assert.equal(res.statusCode, 200);
  return { c, agent, good, failed };
}

test('GET /api/v1/overview returns the overview view model', async () => {
  const { c } = await fed();
  const v = (await c.app.inject({ method: 'GET', url: '/api/v1/overview' })).json();
  assert.equal(v.generatedAt, '2025-01-01T03:00:00.000Z');
  assert.equal(v.verdict.text, '1 of 1 asset at risk: etc (no off-site copy within RPO)');
  assert.deepEqual(v.counts, { assets: 1, jobs: 2, agents: 1, openIncidents: { critical: 0, warning: 0, info: 0 } });
  const [row] = v.tiers[0].assets;
  assert.equal(row.asset, 'etc');
  assert.deepEqual(row.lastRun, { status: 'failure', job: 'etc-cloud', at: '2025-01-01T02:05:00.000Z' });
  assert.equal(row.nextRunAt, '2025-01-02T01:00:00.000Z', 'the next 02:00 in the agent zone, Europe/Berlin');
  assert.deepEqual(v.agents[0], { name: 'pve1', hostname: 'pve1.lan', version: '0.1.0', lastSeen: '2025-01-01T03:00:00.000Z', silent: false, filesystems: [] });
  // The page's agents table leads from each host to its disaster-recovery plan.
  const html = (await c.app.inject({ method: 'GET', url: '/' })).body;
  assert.match(html, /<th scope="row"><a href="\/hosts\/pve1\/dr-plan" [^>]*>pve1<\/a><\/th>/);
});

test('GET /api/v1/assets/:asset lists every copy, the run history, series and a runbook per copy', async () => {
  const { c, good, failed } = await fed();
  const res = await c.app.inject({ method: 'GET', url: '/api/v1/assets/etc' });
  assert.equal(res.statusCode, 200);
  const v = res.json();
  assert.deepEqual(v.copies.map((x: { job: string; fresh: boolean }) => [x.job, x.fresh]), [['etc', true], ['etc-cloud', false]]);
  assert.deepEqual(v.copies[0].snapshot, { id: 'abc123', time: '2025-01-01T02:04:00.000Z', ageMs: 56 * 60_000 });
  assert.deepEqual(new Set(v.runs.map((r: { runId: string }) => r.runId)), new Set([good, failed]));
  assert.equal(v.runs.find((r: { runId: string }) => r.runId === failed).error, 'repository locked');
  assert.ok(!('logTail' in v.runs[0]), 'log tails are fetched on demand, not inlined');
  assert.deepEqual(v.series[0].points, [{ t: Date.parse('2025-01-01T02:00:00Z'), durationMs: 300_000, bytesTotal: 4096 }]);
  assert.equal(v.runbooks.length, 2);
  assert.ok(v.runbooks.every((b: { title: string; commands: unknown[]; notes: unknown[] }) => typeof b.title === 'string' && Array.isArray(b.commands) && Array.isArray(b.notes)));
});

test('GET /api/v1/runs/:runId/log returns the stored log tail and error', async () => {
  const { c, failed } = await fed();
  const res = await c.app.inject({ method: 'GET', url: `/api/v1/runs/${failed}/log` });
  assert.equal(res.statusCode, 200);
  assert.deepEqual(res.json(), { run: { agent: 'pve1', job: 'etc-cloud', runId: failed, operation: 'backup', status: 'failure', error: 'repository locked', logTail: 'Fatal: locked\n' } });
});

test('unknown assets and runs answer 404 with the usual error body, on the API and the page', async () => {
  const { c } = await fed();
  for (const url of ['/api/v1/assets/nope', '/assets/nope', `/api/v1/runs/${randomUUID()}/log`]) {
    const res = await c.app.inject({ method: 'GET', url });
    assert.equal(res.statusCode, 404, url);
    assert.equal(res.json().error.code, 'E_NO_SUCH', url);
  }
});

test('pages are served with a strict Content-Security-Policy, nosniff, and the script and stylesheet they load', async () => {
  const { c } = await fed();
  for (const url of ['/', '/assets/etc', '/incidents', '/reports']) {
    const res = await c.app.inject({ method: 'GET', url });
    assert.equal(res.statusCode, 200, url);
    assert.match(res.headers['content-type'] as string, /^text\/html/);
    assert.match(res.headers['content-security-policy'] as string, /script-src 'self'/);
    assert.equal(res.headers['x-content-type-options'], 'nosniff');
    assert.doesNotMatch(res.body, /<script>|<style>| style="| on[a-z]+="/, `${url} has no inline script, style or handler`);
    assert.match(res.body, /<script src="\/static\/app\.js" defer><\/script>/);
  }
  const js = await c.app.inject({ method: 'GET', url: '/static/app.js' });
  assert.match(js.headers['content-type'] as string, /^text\/javascript/);
  assert.match(js.body, /DOMParser/);
  assert.match((await c.app.inject({ method: 'GET', url: '/static/app.css' })).headers['content-type'] as string, /^text\/css/);
});

test('pages, JSON and metrics are gzipped for clients that accept it, and only for them', async () => {
  const { c } = await fed();
  for (const url of ['/', '/api/v1/overview', '/metrics', '/static/app.js']) {
    const plain = await c.app.inject({ method: 'GET', url });
    const zipped = await c.app.inject({ method: 'GET', url, headers: { 'accept-encoding': 'gzip, deflate, br' } });
    assert.equal(plain.headers['content-encoding'], undefined, url);
    assert.equal(zipped.headers['content-encoding'], 'gzip', url);
    assert.equal(zipped.headers.vary, 'accept-encoding', url);
    assert.ok(zipped.rawPayload.length < plain.rawPayload.length, `${url}: ${zipped.rawPayload.length} < ${plain.rawPayload.length}`);
    if (url !== '/metrics') assert.equal(gunzipSync(zipped.rawPayload).toString(), plain.body, url);
  }
  const small = await c.app.inject({ method: 'GET', url: '/healthz', headers: { 'accept-encoding': 'gzip' } });
  assert.equal(small.headers['content-encoding'], undefined, 'tiny answers are sent as they are');
});

test('the overview page shows the verdict, the 3-2-1 badge and the asset link', async () => {
  const { c } = await fed();
  const html = (await c.app.inject({ method: 'GET', url: '/' })).body;
  assert.match(html, /<p class="verdict bad" id="verdict"><span aria-hidden="true">✖<\/span> <strong>1 of 1 asset at risk: etc \(no off-site copy within RPO\)<\/strong>/);
  assert.match(html, /<td class="bad">✖ 2\/2\/0<\/td>/);
  assert.match(html, /<a href="\/assets\/etc">etc<\/a>/);
  const asset = (await c.app.inject({ method: 'GET', url: '/assets/etc' })).body;
  assert.match(asset, /<span class="nowrap">3-2-1<\/span> ✖ not met: 2 copies, 2 media \(disk, usb\), 0 off-site/);
  assert.match(asset, /<svg viewBox="0 0 640 220" role="img" aria-labelledby="chart-durationt chart-durationd"><title id="chart-durationt">Backup duration<\/title>/);
  assert.match(asset, /class="log" href="\/api\/v1\/runs\/[0-9a-f-]+\/log"/);
});

test('agent-supplied text shows only escaped on every page', async () => {
  const agent = new TestAgent('pve1');
  const c = testCollector([agent]);
  const evil = '<script>alert(1)</script>';
  const img = '<img src=x onerror=alert(2)>';
  const id = randomUUID();
  const messages = [
    agent.msg({ ...hello([catalogJob('etc', { asset: 'etc', driver: evil, restore: { repository: evil, note: img } })]), hostname: evil, version: img } as Unsequenced),
    agent.msg(run('etc', id, { status: 'failure', exitCode: 1, error: `${evil} ${img}`, logTail: evil })),
    agent.msg({ kind: 'inventory', job: 'etc', target: 'usb-ssd', snapshots: [{ id: evil, time: '2025-01-01T02:04:00.000Z' }] }),
  ];
  assert.equal((await c.app.inject(agent.report({ messages }))).statusCode, 200);
  const cfg = collectorConfig({});
  new Evaluator({ db: c.db, tiers: tierPolicies(cfg), rules: rulesConfig(cfg), channels: [], reminderMs: DAY, flapMs: 0 }).pass(c.clock.now, true);
  for (const url of ['/', '/assets/etc', '/incidents', '/reports']) {
    const html = (await c.app.inject({ method: 'GET', url })).body;
    assert.ok(!html.includes(evil) && !html.includes(img), `${url} contains raw agent markup`);
    assert.ok(!/<script>|<img/.test(html), url);
  }
  const asset = (await c.app.inject({ method: 'GET', url: '/assets/etc' })).body;
  assert.ok(asset.includes('&lt;script&gt;alert(1)&lt;/script&gt;'), 'shown as text');
  const incidents = (await c.app.inject({ method: 'GET', url: '/incidents' })).body;
  assert.match(incidents, /Acknowledge<\/button>/, 'the failed run opened an incident');
});

// Access control --------------------------------------------------------------------------

function secret(text: string, mode = 0o600): string {
  const file = join(tempDir(), 'secret');
  writeFileSync(file, text, { mode });
  chmodSync(file, mode);
  return file;
}

test('access.read token: page and read API need the token; ?token= signs the browser in with a cookie', async () => {
  const { c, agent } = await fed({ access: { read: 'token', tokenFile: secret('s3cret\n') }, adminTokenFile: secret('admin-token') });
  for (const url of ['/', '/api/v1/status', '/api/v1/overview', '/api/v1/assets/etc', '/incidents', '/static/app.js', '/metrics']) {
    const res = await c.app.inject({ method: 'GET', url });
    assert.equal(res.statusCode, 401, url);
    assert.equal(res.json().error.code, 'E_READ_AUTH');
  }
  assert.equal((await c.app.inject({ method: 'GET', url: '/', headers: { authorization: 'Bearer wrong' } })).statusCode, 401);
  assert.equal((await c.app.inject({ method: 'GET', url: '/api/v1/overview', headers: { authorization: 'Bearer s3cret' } })).statusCode, 200);
  assert.equal((await c.app.inject({ method: 'GET', url: '/healthz' })).statusCode, 200, 'healthz stays open');

  const link = await c.app.inject({ method: 'GET', url: '/assets/etc?token=s3cret', headers: { accept: 'text/html' } });
  assert.equal(link.statusCode, 303);
  assert.equal(link.headers.location, '/assets/etc', 'the token leaves the address bar');
  const cookie = String(link.headers['set-cookie']);
  assert.match(cookie, /^lifeline_read=s3cret; /);
  for (const attribute of ['HttpOnly', 'SameSite=Strict', 'Path=/']) assert.ok(cookie.split('; ').includes(attribute), `${attribute} in ${cookie}`);
  assert.ok(!cookie.includes('Secure'), 'plain HTTP: no Secure');
  assert.equal((await c.app.inject({ method: 'GET', url: '/assets/etc', headers: { cookie: 'lifeline_read=s3cret' } })).statusCode, 200);
  assert.equal((await c.app.inject({ method: 'GET', url: '/', headers: { cookie: 'lifeline_read=nope' } })).statusCode, 401);

  // Agents' signed reports never ask for the read token; admin actions still need the admin token.
  assert.equal((await c.app.inject(agent.report({ messages: [agent.msg({ kind: 'heartbeat', uptimeMs: 1, spool: { pending: 0, dropped: 0 } })] }))).statusCode, 200);
  const ack = await c.app.inject({ method: 'POST', url: '/api/v1/incidents/1/ack', headers: { authorization: 'Bearer s3cret', cookie: 'lifeline_read=s3cret' }, payload: {} });
  assert.equal(ack.statusCode, 401);
  assert.equal(ack.json().error.code, 'E_ADMIN_TOKEN');
});

test('access.read basic: users with plain or sha256 passwords; a challenge otherwise', async () => {
  const sha = '5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8'; // sha256("password")
  const { c } = await fed({ access: { read: 'basic', usersFile: secret(`# readers\nalice:wonderland\nbob:sha256:${sha}\n`) } });
  const basic = (u: string, p: string) => ({ authorization: `Basic ${Buffer.from(`${u}:${p}`).toString('base64')}` });
  const none = await c.app.inject({ method: 'GET', url: '/' });
  assert.equal(none.statusCode, 401);
  assert.equal(none.headers['www-authenticate'], 'Basic realm="Lifeline", charset="UTF-8"');
  assert.equal((await c.app.inject({ method: 'GET', url: '/', headers: basic('alice', 'wonderland') })).statusCode, 200);
  assert.equal((await c.app.inject({ method: 'GET', url: '/api/v1/overview', headers: basic('bob', 'password') })).statusCode, 200);
  assert.equal((await c.app.inject({ method: 'GET', url: '/', headers: basic('alice', 'password') })).statusCode, 401);
  assert.equal((await c.app.inject({ method: 'GET', url: '/', headers: basic('carol', 'wonderland') })).statusCode, 401);
});

test('access config: token and basic need their file, which must not be readable by others', () => {
  assert.throws(() => collectorConfig({ access: { read: 'token' } }), /tokenFile/);
  assert.throws(() => collectorConfig({ access: { read: 'basic' } }), /usersFile/);
  assert.equal(collectorConfig().access.read, 'open');
  const dir = tempDir();
  const file = join(dir, 'collector.yaml');
  const open = secret('t', 0o644);
  writeFileSync(file, `database: ${join(dir, 'db')}\naccess:\n  read: token\n  tokenFile: ${open}\n`);
  assert.throws(() => loadCollectorConfig(file), (err: unknown) => err instanceof ConfigError && /readable by other users \(mode 0644\); run: chmod 600/.test(err.message));
  chmodSync(open, 0o600);
  assert.equal(loadCollectorConfig(file).access.read, 'token');
});
