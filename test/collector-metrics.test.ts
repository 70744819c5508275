import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { metricsSnapshot } from '../collector/metrics/snapshot';
import { catalogJob, hello, run, tempDir, TestAgent, testCollector, type TestCollector } from './collector-helpers';
import { AGENT_BIN, cliAsync, enrollAgent, freePort, startCollector, waitFor, writeAgentConfig } from './helpers/processes';
import { agent as agentView, at, input, job, run as runView } from './helpers/rules-fixtures';

const cleanups: (() => Promise<unknown> | void)[] = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

interface Series {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** The samples of a text exposition (comments skipped, label escapes undone). */
function parseExposition(text: string): Series[] {
  const out: Series[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    assert.ok(m, `not a sample line: ${line}`);
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(/([a-zA-Z_]\w*)="((?:[^"\\]|\\.)*)"/g)) {
      labels[l[1]] = l[2].replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
    }
    out.push({ name: m[1], labels, value: Number(m[3]) });
  }
  return out;
}

/** Names of every family in the text, with or without samples. */
const familyNames = (text: string) => new Set([...text.matchAll(/^# TYPE (\S+) /gm)].map((m) => m[1]));

function pick(series: Series[], name: string, labels: Record<string, string> = {}): Series[] {
  return series.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
}

/** The value of the one series matching; fails when there is none or several. */
function one(series: Series[], name: string, labels: Record<string, string> = {}): number {
  const found = pick(series, name, labels);
  assert.equal(found.length, 1, `${name}${JSON.stringify(labels)}: ${found.length} series`);
  return found[0].value;
}

/** `promtool check metrics` on the text: exit code and what it printed (lint problems go to stdout). */
function promtool(text: string) {
  const r = spawnSync('/usr/bin/promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
  return { code: r.status, output: `${r.stdout}${r.stderr}` };
}

async function scrape(c: TestCollector): Promise<{ text: string; series: Series[]; contentType: string }> {
  const res = await c.app.inject({ method: 'GET', url: '/metrics' });
  assert.equal(res.statusCode, 200);
  return { text: res.body, series: parseExposition(res.body), contentType: String(res.headers['content-type']) };
}

const fsFact = (mount: string, sizeBytes = 1000, usedBytes = 400) => ({ mount, fs: '/dev/sda1', type: 'ext4', sizeBytes, usedBytes });

/** One agent, three jobs: documents copied to a USB disk and off-site to the cloud, photos failing. */
async function knownState(): Promise<TestCollector> {
  const pve1 = new TestAgent('pve1');
  const c = testCollector([pve1]); // clock at 2025-01-01T03:00Z
  const jobs = [
    catalogJob('docs-usb', { asset: 'documents' }),
    catalogJob('docs-cloud', { asset: 'documents', target: { name: 'b2', location: 'offsite', media: 'cloud' } }),
    catalogJob('photos', { asset: 'photos', tier: 2, schedule: '0 3 * * 0' }),
  ];
  const res = await c.app.inject(
    pve1.report({
      messages: [
        pve1.msg(hello(jobs)),
        pve1.msg(run('docs-usb', randomUUID())), // finished 02:05Z, 300 s, 1024 added, 4096 total
        pve1.msg(run('docs-cloud', randomUUID(), { finishedAt: '2025-01-01T02:30:00.000Z', durationMs: 1_800_000, bytesAdded: 10, bytesTotal: 5000 })),
        pve1.msg(run('photos', randomUUID(), { status: 'failure', exitCode: 3, error: 'disk full', bytesAdded: undefined, bytesTotal: undefined })),
        pve1.msg({ kind: 'host', filesystems: [fsFact('/'), fsFact('/srv', 2000, 1500)] }),
      ],
    }),
  );
  assert.equal(res.statusCode, 200, res.body);
  return c;
}

test('a known state gives the right job, asset, agent, filesystem and incident values', async () => {
  const { series, contentType } = await scrape(await knownState());
  assert.equal(contentType, 'text/plain; version=0.0.4; charset=utf-8');
  const usb = { agent: 'pve1', backup_job: 'docs-usb', asset: 'documents', tier: '1', target: 'usb-ssd' };
  assert.equal(one(series, 'lifeline_job_last_success_timestamp_seconds', usb), at('2025-01-01T02:05:00Z') / 1000);
  assert.equal(one(series, 'lifeline_job_last_run_duration_seconds', usb), 300);
  assert.equal(one(series, 'lifeline_job_last_run_added_bytes', usb), 1024);
  assert.equal(one(series, 'lifeline_job_last_run_size_bytes', usb), 4096);
  assert.equal(one(series, 'lifeline_job_last_run_status', { ...usb, status: 'success' }), 1);
  // 02:00 in the agent's zone (Europe/Berlin) the next day.
  assert.equal(one(series, 'lifeline_job_next_run_timestamp_seconds', usb), at('2025-01-02T01:00:00Z') / 1000);

  const photos = { backup_job: 'photos', asset: 'photos', tier: '2' };
  assert.deepEqual(pick(series, 'lifeline_job_last_run_status', photos).map((s) => s.labels.status), ['failure'], 'one series, the current status');
  assert.equal(pick(series, 'lifeline_job_last_success_timestamp_seconds', photos).length, 0, 'no success, no timestamp');

  const documents = { asset: 'documents', tier: '1' };
  assert.equal(one(series, 'lifeline_asset_rpo_age_seconds', documents), 1800, 'newest good copy is the cloud one at 02:30');
  assert.equal(one(series, 'lifeline_asset_rpo_seconds', documents), 86_400);
  assert.equal(one(series, 'lifeline_asset_rto_seconds', documents), 4 * 3600);
  assert.equal(one(series, 'lifeline_asset_rpo_ok', documents), 1);
  assert.equal(one(series, 'lifeline_asset_copies', documents), 3);
  assert.equal(one(series, 'lifeline_asset_media', documents), 3, 'disk original, usb, cloud');
  assert.equal(one(series, 'lifeline_asset_offsite_copies', documents), 1);
  assert.equal(one(series, 'lifeline_asset_three_two_one_ok', documents), 1);
  assert.equal(one(series, 'lifeline_asset_rpo_ok', { asset: 'photos' }), 0);
  assert.equal(one(series, 'lifeline_asset_copies', { asset: 'photos' }), 1);
  assert.equal(one(series, 'lifeline_asset_three_two_one_ok', { asset: 'photos' }), 0);
  assert.equal(pick(series, 'lifeline_asset_rpo_age_seconds', { asset: 'photos' }).length, 0);

  assert.equal(one(series, 'lifeline_agent_last_seen_timestamp_seconds', { agent: 'pve1' }), at('2025-01-01T03:00:00Z') / 1000);
  assert.equal(one(series, 'lifeline_agent_up', { agent: 'pve1' }), 1);
  assert.equal(one(series, 'lifeline_filesystem_used_bytes', { agent: 'pve1', mount: '/srv' }), 1500);
  assert.equal(one(series, 'lifeline_filesystem_size_bytes', { agent: 'pve1', mount: '/srv' }), 2000);
  assert.deepEqual(
    pick(series, 'lifeline_incidents_open').map((s) => [s.labels.severity, s.value]),
    [['critical', 0], ['warning', 0], ['info', 0]],
  );
  assert.equal(one(series, 'lifeline_ingest_messages_total', { outcome: 'accepted' }), 5);
  assert.ok(one(series, 'lifeline_collector_process_resident_memory_bytes') > 0, 'process metrics of the collector');
});

test('the exposition passes promtool check metrics without a lint warning', async () => {
  const { text } = await scrape(await knownState());
  const r = promtool(text);
  assert.equal(r.code, 0, r.output);
  assert.equal(r.output.trim(), '');
});

test('200 filesystems with 300-character mounts yield 64 series per family with mounts cut to 128 characters', async () => {
  const nas = new TestAgent('nas1');
  const c = testCollector([nas]);
  const odd = '/mnt/"quoted"\\back\nline ünïcødé 💾';
  const filesystems = [fsFact(odd), ...Array.from({ length: 199 }, (_, i) => fsFact(`/${String(i).padStart(3, '0')}/${'x'.repeat(295)}`))];
  const res = await c.app.inject(nas.report({ messages: [nas.msg({ kind: 'host', filesystems })] }));
  assert.equal(res.statusCode, 200, res.body);
  const { text, series } = await scrape(c);
  for (const family of ['lifeline_filesystem_size_bytes', 'lifeline_filesystem_used_bytes']) {
    const fs = pick(series, family, { agent: 'nas1' });
    assert.equal(fs.length, 64, family);
    assert.ok(fs.every((s) => s.labels.mount.length <= 128));
    assert.equal(one(series, 'lifeline_metrics_series_dropped', { family }), 136);
  }
  assert.equal(pick(series, 'lifeline_filesystem_size_bytes', { mount: odd }).length, 1, 'quotes, backslash and newline survive escaping');
  assert.ok(pick(series, 'lifeline_filesystem_size_bytes').some((s) => s.labels.mount.endsWith('…')));
  const r = promtool(text);
  assert.equal(r.code, 0, r.output);
});

test('each family keeps at most its series limit and counts the rest as dropped', () => {
  const jobs = Array.from({ length: 8 }, (_, i) => job({ job: `j${i}`, asset: `a${i}` }));
  const snap = metricsSnapshot(
    { evaluation: input({ jobs, agents: [agentView()] }), openIncidents: { critical: 2 }, lastGood: [], version: '1.2.3' },
    at('2026-03-01T00:00:00Z'),
    { mountLength: 128, filesystemsPerAgent: 64, seriesPerFamily: 5 },
  );
  assert.equal(snap.job_last_run_status.length, 5);
  assert.equal(snap.asset_rpo_ok.length, 5);
  const dropped = Object.fromEntries(snap.metrics_series_dropped.map((s) => [s.labels.family, s.value]));
  assert.equal(dropped.lifeline_job_last_run_status, 3);
  assert.equal(dropped.lifeline_asset_rpo_ok, 3);
  assert.equal(dropped.lifeline_agent_up, 0);
  assert.deepEqual(snap.incidents_open.map((s) => s.value), [2, 0, 0]);
  assert.deepEqual(snap.collector_build_info, [{ labels: { version: '1.2.3' }, value: 1 }]);
});

test('the last verify and restore drill successes survive a newer failed one', () => {
  const now = at('2026-03-01T00:00:00Z');
  const drill = runView({ operation: 'restore-test', startedAt: now - 3_600_000, durationMs: 120_000, status: 'failure' });
  const snap = metricsSnapshot(
    {
      evaluation: input({ jobs: [job({ lastRestoreTest: drill })], agents: [] }),
      openIncidents: {},
      lastGood: [{ agent: 'pve1', job: 'pg-offsite', verify: now - 86_400_000, restoreTest: now - 7 * 86_400_000 }, { agent: 'pve1', job: 'retired', verify: now, restoreTest: null }],
      version: '1.2.3',
    },
    now,
  );
  assert.deepEqual(snap.verify_last_success_timestamp_seconds.map((s) => [s.labels.backup_job, s.value]), [['pg-offsite', (now - 86_400_000) / 1000]]);
  assert.deepEqual(snap.restore_drill_last_success_timestamp_seconds.map((s) => s.value), [(now - 7 * 86_400_000) / 1000]);
  assert.deepEqual(snap.restore_drill_duration_seconds.map((s) => s.value), [120]);
});

test('a stored verify failure keeps the older verify success; a restore drill shows its duration', async () => {
  const pve1 = new TestAgent('pve1');
  const c = testCollector([pve1]);
  const op = (operation: string, status: string, finishedAt: string, durationMs: number) =>
    pve1.msg(run('docs', randomUUID(), { operation, status, exitCode: status === 'success' ? 0 : 1, startedAt: new Date(Date.parse(finishedAt) - durationMs).toISOString(), finishedAt, durationMs }));
  const res = await c.app.inject(
    pve1.report({
      messages: [
        pve1.msg(hello([catalogJob('docs', { verify: { schedule: '0 4 * * *' }, restoreTest: { schedule: '0 5 1 * *' } })])),
        op('verify', 'success', '2025-01-01T02:10:00.000Z', 60_000),
        op('verify', 'failure', '2025-01-01T02:20:00.000Z', 60_000),
        op('restore-test', 'success', '2025-01-01T02:40:00.000Z', 900_000),
      ],
    }),
  );
  assert.equal(res.statusCode, 200, res.body);
  const { series } = await scrape(c);
  assert.equal(one(series, 'lifeline_verify_last_success_timestamp_seconds', { backup_job: 'docs' }), at('2025-01-01T02:10:00Z') / 1000);
  assert.equal(one(series, 'lifeline_restore_drill_last_success_timestamp_seconds', { backup_job: 'docs' }), at('2025-01-01T02:40:00Z') / 1000);
  assert.equal(one(series, 'lifeline_restore_drill_duration_seconds', { backup_job: 'docs' }), 900);
});

test('refused and accepted reports are counted, and a stored report shows at the next scrape', async () => {
  const pve1 = new TestAgent('pve1');
  const c = testCollector([pve1], { limits: { bodyBytes: 4096 } });
  await scrape(c); // fills the cache before anything is stored
  const huge = pve1.report({ messages: [pve1.msg({ kind: 'host', filesystems: Array.from({ length: 50 }, (_, i) => fsFact(`/mnt/${i}`)) })] });
  assert.equal((await c.app.inject(huge)).statusCode, 413);
  const forged = pve1.report({ messages: [pve1.msg(hello([catalogJob('docs')]))] }, { keys: new TestAgent().keys });
  assert.equal((await c.app.inject(forged)).statusCode, 401);
  const ghost = new TestAgent('ghost');
  assert.equal((await c.app.inject(ghost.report({ messages: [ghost.msg(hello([]))] }))).statusCode, 401);
  const good = pve1.report({ messages: [pve1.msg(hello([catalogJob('docs')]))] });
  assert.equal((await c.app.inject(good)).statusCode, 200);
  assert.equal((await c.app.inject(good)).statusCode, 200, 'a replay is acknowledged as duplicate');

  const { series } = await scrape(c);
  assert.equal(one(series, 'lifeline_ingest_rejected_requests_total', { reason: 'E_BAD_SIGNATURE' }), 1);
  assert.equal(one(series, 'lifeline_ingest_rejected_requests_total', { reason: 'E_UNKNOWN_AGENT' }), 1);
  assert.equal(one(series, 'lifeline_ingest_rejected_requests_total', { reason: 'FST_ERR_CTP_BODY_TOO_LARGE' }), 1);
  assert.equal(one(series, 'lifeline_ingest_messages_total', { outcome: 'accepted' }), 1);
  assert.equal(one(series, 'lifeline_ingest_messages_total', { outcome: 'duplicate' }), 1);
  assert.equal(one(series, 'lifeline_job_last_run_status', { backup_job: 'docs', status: 'never' }), 1, 'the new job is there at once');
});

test('/metrics asks for the read token when read access is by token', async () => {
  const tokenFile = join(tempDir(), 'read-token');
  writeFileSync(tokenFile, 's3cret-read-token\n', { mode: 0o600 });
  const c = testCollector([], { access: { read: 'token', tokenFile } });
  assert.equal((await c.app.inject({ method: 'GET', url: '/metrics' })).statusCode, 401);
  const res = await c.app.inject({ method: 'GET', url: '/metrics', headers: { authorization: 'Bearer s3cret-read-token' } });
  assert.equal(res.statusCode, 200);
  assert.match(res.body, /^lifeline_incidents_open\{severity="critical"\} 0$/m);
});

test('every metric the Grafana dashboard queries exists in /metrics', async () => {
  const dashboard = JSON.parse(readFileSync('packaging/grafana/lifeline.json', 'utf8'));
  const queries = dashboardQueries(dashboard);
  assert.ok(queries.length >= 20, `only ${queries.length} queries`);
  const used = new Set(queries.flatMap((q) => q.match(/lifeline_[a-z_]+/g) ?? []));
  const { text } = await scrape(await knownState());
  const exposed = familyNames(text);
  const missing = [...used].filter((n) => !exposed.has(n));
  assert.deepEqual(missing, []);
  assert.equal(dashboard.schemaVersion, 39);
  assert.deepEqual(dashboard.__inputs.map((i: { name: string }) => i.name), ['DS_PROMETHEUS']);
  assert.deepEqual(dashboard.templating.list.map((v: { name: string }) => v.name), ['DS_PROMETHEUS', 'tier', 'agent']);
});

/** Every PromQL expression in a dashboard: panel targets and query variables. */
function dashboardQueries(dashboard: { panels: { targets?: { expr: string }[] }[]; templating: { list: { query?: unknown }[] } }): string[] {
  const panels = dashboard.panels.flatMap((p) => (p.targets ?? []).map((t) => t.expr));
  const vars = dashboard.templating.list.flatMap((v) => (typeof v.query === 'object' && v.query !== null ? [(v.query as { query: string }).query] : []));
  return [...panels, ...vars];
}

test('a real Prometheus scrapes a collector fed by real agent runs and answers the last-success query', async () => {
  const collector = await startCollector('incidents: { evaluateEvery: 1s, flap: 0s }\n');
  cleanups.push(() => collector.stop('SIGKILL'));
  const agent = writeAgentConfig({
    name: 'pve1',
    jobs: `  - { name: docs-local, asset: documents, tier: 1, target: local-disk, driver: command, command: [echo, saved] }
  - { name: docs-cloud, asset: documents, tier: 1, target: cloud, driver: command, command: [echo, uploaded] }
  - { name: photos, asset: photos, tier: 2, target: local-disk, driver: command, command: [sh, -c, "echo disk full >&2; exit 3"] }
`,
  });
  enrollAgent(agent, collector);
  for (const name of ['docs-local', 'docs-cloud', 'photos']) {
    const r = await cliAsync(AGENT_BIN, ['run', name, '--config', agent.config]);
    assert.equal(r.code === 0, name !== 'photos', `${name}: exit ${r.code} ${r.stderr}`);
  }
  const status = await collector.status();
  const finished = (name: string) => status.jobs.find((j) => j.name === name)?.lastRun?.finishedAt;
  assert.equal(status.jobs.find((j) => j.name === 'photos')?.lastRun?.status, 'failure');

  const res = await fetch(`${collector.url}/metrics`);
  assert.equal(res.headers.get('content-type'), 'text/plain; version=0.0.4; charset=utf-8');
  const text = await res.text();
  const series = parseExposition(text);
  const docsLocal = { agent: 'pve1', backup_job: 'docs-local', asset: 'documents', tier: '1', target: 'local-disk' };
  const lastSuccess = Date.parse(finished('docs-local')!) / 1000;
  assert.equal(one(series, 'lifeline_job_last_success_timestamp_seconds', docsLocal), lastSuccess);
  assert.equal(one(series, 'lifeline_job_last_run_status', { backup_job: 'photos', status: 'failure' }), 1);
  assert.equal(one(series, 'lifeline_asset_offsite_copies', { asset: 'documents' }), 1);
  assert.equal(one(series, 'lifeline_asset_copies', { asset: 'documents' }), 3);
  assert.equal(one(series, 'lifeline_asset_three_two_one_ok', { asset: 'documents' }), 1, 'original, local disk and cloud: 3 copies, 2 media, 1 off-site');
  const r = promtool(text);
  assert.equal(r.code, 0, r.output);
  assert.equal(r.output.trim(), '');
  // The collector's evaluator opens an incident for the failed run; metrics show it within their cache time.
  await waitFor('an open incident in /metrics', async () => {
    const open = pick(parseExposition(await (await fetch(`${collector.url}/metrics`)).text()), 'lifeline_incidents_open');
    assert.deepEqual(open.map((s) => s.labels.severity), ['critical', 'warning', 'info']);
    return open.reduce((n, s) => n + s.value, 0) >= 1;
  });

  const dir = tempDir();
  const port = await freePort();
  const config = join(dir, 'prometheus.yml');
  writeFileSync(
    config,
    `global: { scrape_interval: 1s, evaluation_interval: 1s }
scrape_configs:
  - job_name: lifeline
    static_configs: [{ targets: ['127.0.0.1:${collector.port}'] }]
`,
  );
  const prometheus = spawn('/usr/bin/prometheus', [`--config.file=${config}`, `--storage.tsdb.path=${join(dir, 'data')}`, `--web.listen-address=127.0.0.1:${port}`], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let log = '';
  prometheus.stderr!.on('data', (d) => (log += d));
  const exited = new Promise<number | null>((resolve) => prometheus.once('exit', (code) => resolve(code)));
  cleanups.push(() => {
    if (prometheus.exitCode === null && prometheus.signalCode === null) prometheus.kill('SIGKILL');
  });

  const query = async (q: string) => {
    const body = (await (await fetch(`http://127.0.0.1:${port}/api/v1/query?query=${encodeURIComponent(q)}`)).json()) as {
      status: string;
      data: { result: { metric: Record<string, string>; value: [number, string] }[] };
    };
    return body;
  };
  const result = await waitFor(
    'Prometheus to scrape the last success',
    async () => (await query('lifeline_job_last_success_timestamp_seconds{backup_job="docs-local"}')).data.result[0],
    30_000,
    250,
  ).catch((err: Error) => assert.fail(`${err.message}\n${log.slice(-2000)}`));
  assert.equal(Number(result.value[1]), lastSuccess);
  assert.equal(result.metric.job, 'lifeline', 'the scrape job label, not ours');
  assert.equal(result.metric.agent, 'pve1');

  // Every dashboard expression parses and runs in this Prometheus.
  const dashboard = JSON.parse(readFileSync('packaging/grafana/lifeline.json', 'utf8'));
  for (const q of dashboardQueries(dashboard)) {
    if (q.startsWith('label_values(')) continue; // Grafana's variable syntax, not PromQL
    const body = await query(q.replace(/\$tier|\$agent/g, '.*'));
    assert.equal(body.status, 'success', q);
  }

  prometheus.kill('SIGTERM');
  assert.equal(await exited, 0, log.slice(-2000));
});
