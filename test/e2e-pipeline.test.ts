import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { createServer, request, type IncomingHttpHeaders } from 'node:http';
import { join } from 'node:path';
import { after, test } from 'node:test';
import Database from 'better-sqlite3';
import { AGENT_HEADER, SIGNATURE_HEADER } from '../shared/protocol';
import { generateKeyPair, keyPairFromSeed, sign } from '../shared/signing';
import { AGENT_BIN, COLLECTOR_BIN, cli, cliAsync, enrollAgent, Proc, sleep, startCollector, waitFor, writeAgentConfig, type Collector } from './helpers/processes';

const cleanups: (() => Promise<unknown> | void)[] = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

async function collectorFor(extra = ''): Promise<Collector> {
  const c = await startCollector(extra);
  cleanups.push(() => c.stop('SIGKILL'));
  return c;
}

function daemon(config: string): Proc {
  const p = new Proc(AGENT_BIN, ['daemon', '--config', config]);
  cleanups.push(() => p.stop('SIGKILL'));
  return p;
}

function count(db: string, sql: string, ...params: unknown[]): number {
  const conn = new Database(db, { readonly: true, fileMustExist: true });
  try {
    return Number(Object.values(conn.prepare(sql).get(...params) as object)[0]);
  } finally {
    conn.close();
  }
}

test('keygen, enroll with a token, daemon: a scheduled run reaches the collector with exit code, duration and log tail', async () => {
  const collector = await collectorFor();
  const agent = writeAgentConfig({
    name: 'pve1',
    jobs: `  - name: etc-archive
    asset: pve1-etc
    tier: 2
    target: local-disk
    schedule: "*/2 * * * * *"
    driver: command
    command: [sh, -c, "echo archived 42 files; exit 0"]
`,
  });
  enrollAgent(agent, collector);
  const d = daemon(agent.config);
  const job = await waitFor('a finished run in the status', async () => {
    const s = await collector.status();
    return s.jobs.find((j) => j.name === 'etc-archive' && j.lastRun?.status === 'success');
  });
  assert.equal(job.agent, 'pve1');
  assert.equal(job.asset, 'pve1-etc');
  assert.equal(job.tier, 2);
  assert.equal(job.lastRun!.exitCode, 0);
  assert.equal(typeof job.lastRun!.durationMs, 'number');
  assert.match((await collector.runLog(job.lastRun!.runId)) ?? '', /archived 42 files/);
  const s = await collector.status();
  assert.equal(s.agents.find((a) => a.name === 'pve1')?.version, JSON.parse(readFileSync('package.json', 'utf8')).version);
  assert.equal(await d.stop('SIGTERM'), 0, 'the daemon exits cleanly on SIGTERM');
});

test('replayed, tampered, unknown-agent and malformed requests change nothing', async () => {
  const collector = await collectorFor();
  // A recording proxy captures the agent's real request on its way to the collector.
  const captured: { headers: IncomingHttpHeaders; body: Buffer }[] = [];
  const proxy = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      if (req.url === '/api/v1/reports') captured.push({ headers: req.headers, body });
      const out = request(`${collector.url}${req.url}`, { method: req.method, headers: req.headers }, (up) => {
        res.writeHead(up.statusCode!, up.headers);
        up.pipe(res);
      });
      out.end(body);
    });
  });
  await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
  cleanups.push(() => new Promise((r) => proxy.close(r)));
  const proxyUrl = `http://127.0.0.1:${(proxy.address() as { port: number }).port}`;

  const agent = writeAgentConfig({
    name: 'nas1',
    collector: proxyUrl,
    jobs: `  - { name: docs, asset: documents, tier: 1, target: local-disk, driver: command, command: [echo, ok] }\n`,
  });
  enrollAgent(agent, collector);
  const run = await cliAsync(AGENT_BIN, ['run', 'docs', '--config', agent.config]);
  assert.equal(run.code, 0, run.stderr);
  const original = captured.find((c) => c.body.includes('"kind":"run"'));
  assert.ok(original, 'the run report went through the proxy');

  const stored = () => count(collector.db, 'SELECT count(*) FROM messages');
  const before = stored();
  const runsBefore = count(collector.db, 'SELECT count(*) FROM runs');
  const post = (body: Buffer, headers: Record<string, string>) =>
    fetch(`${collector.url}/api/v1/reports`, { method: 'POST', body: new Uint8Array(body), headers: { 'content-type': 'application/json', ...headers } });
  const sigHeaders = (h: IncomingHttpHeaders) => ({ [AGENT_HEADER]: String(h[AGENT_HEADER]), [SIGNATURE_HEADER]: String(h[SIGNATURE_HEADER]) });

  const replay = await post(original.body, sigHeaders(original.headers));
  assert.equal(replay.status, 200);
  const ack = (await replay.json()) as { accepted: number; duplicates: number };
  assert.equal(ack.accepted, 0);
  assert.ok(ack.duplicates >= 1);
  assert.equal(stored(), before);

  const flipped = Buffer.from(original.body);
  const at = flipped.indexOf('"ok');
  flipped[at + 1] = 'O'.charCodeAt(0);
  const tampered = await post(flipped, sigHeaders(original.headers));
  assert.equal(tampered.status, 401);
  assert.equal(stored(), before);

  const ghost = generateKeyPair();
  const unknown = await post(original.body, { [AGENT_HEADER]: 'ghost', [SIGNATURE_HEADER]: sign(original.body, ghost.secretKey) });
  assert.equal(unknown.status, 401);

  // Correctly signed with the agent's own key, but not a valid report.
  const seed = Buffer.from(readFileSync(join(agent.stateDir, 'agent.key'), 'utf8').trim(), 'base64');
  const key = keyPairFromSeed(new Uint8Array(seed));
  const bad = Buffer.from(JSON.stringify({ messages: [{ kind: 'run-start', agent: 'nas1', seq: 1, sentAt: new Date().toISOString(), runId: 'not-a-uuid', job: 'docs', trigger: 'manual', startedAt: new Date().toISOString() }] }));
  const malformed = await post(bad, { [AGENT_HEADER]: 'nas1', [SIGNATURE_HEADER]: sign(bad, key.secretKey) });
  assert.equal(malformed.status, 400);
  const err = (await malformed.json()) as { error: { path: string } };
  assert.equal(err.error.path, 'messages.0.runId');
  assert.equal(stored(), before);
  assert.equal(count(collector.db, 'SELECT count(*) FROM runs'), runsBefore);
});

test('a collector outage and a kill -9 of the agent lose nothing and duplicate nothing', async () => {
  const collector = await collectorFor();
  const agent = writeAgentConfig({
    name: 'docker1',
    heartbeat: '200ms',
    extraAgent: '  retry: { min: 100ms, max: 1s }\n',
    jobs: `  - { name: volumes, asset: docker-volumes, tier: 1, target: local-disk, driver: command, command: [echo, saved] }\n`,
  });
  enrollAgent(agent, collector);
  let d = daemon(agent.config);
  await waitFor('the agent in the status', async () => (await collector.status()).agents.some((a) => a.name === 'docker1' && a.lastSeen));

  await collector.stop('SIGTERM');
  for (let i = 0; i < 3; i++) {
    const r = cli(AGENT_BIN, ['run', 'volumes', '--config', agent.config]);
    assert.equal(r.code, 0);
    assert.match(r.stderr, /stays in the spool/);
  }
  // Heartbeats keep being spooled every 200 ms; kill -9 lands in the middle of that.
  await sleep(700);
  d.child.kill('SIGKILL');
  await d.exited;
  const spoolDir = join(agent.stateDir, 'spool');
  assert.ok(readdirSync(spoolDir).filter((f) => f.endsWith('.json')).length >= 6, 'the reports wait in the spool');

  d = daemon(agent.config);
  assert.equal(cli(AGENT_BIN, ['run', 'volumes', '--config', agent.config]).code, 0);
  await collector.start();
  await waitFor('every run delivered', () => count(collector.db, "SELECT count(*) FROM runs WHERE job = 'volumes' AND status = 'success'") === 4, 30_000);
  await sleep(500);
  assert.equal(count(collector.db, "SELECT count(*) FROM runs WHERE job = 'volumes'"), 4);
  assert.equal(count(collector.db, "SELECT count(*) FROM messages WHERE kind = 'run-start'"), 4);
  assert.equal(count(collector.db, "SELECT count(*) FROM messages WHERE kind = 'run'"), 4);
  await d.stop();
});

test('a broken config is refused with file, line and key, and a non-zero exit', () => {
  const agent = writeAgentConfig({
    name: 'pve1',
    jobs: `  - name: etc
    asset: etc
    tier: 9
    target: local-disk
    driver: command
    command: [tar, -czf, /tmp/x.tgz, /etc]
`,
  });
  for (const command of ['check-config', 'daemon', 'run']) {
    const r = cli(AGENT_BIN, command === 'run' ? ['run', 'etc', '--config', agent.config] : [command, '--config', agent.config]);
    assert.equal(r.code, 2, command);
    assert.ok(r.stderr.includes(`${agent.config}:12:11: jobs.0.tier: expected a tier number 1..4`), r.stderr);
    assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
  }
  const c = cli(COLLECTOR_BIN, ['check-config', '--config', agent.config]);
  assert.equal(c.code, 2);
  assert.match(c.stderr, /agent\.yaml:1:1: agent: unknown key/);
});

test('a hung job is killed at its timeout with its children and reported as timeout', async () => {
  const collector = await collectorFor();
  const marker = 700_000 + Math.floor(Math.random() * 99_999);
  const agent = writeAgentConfig({
    name: 'pbs1',
    jobs: `  - name: hang
    asset: pbs-datastore
    tier: 1
    target: local-disk
    timeout: 1s
    driver: command
    command: [sh, -c, "sleep ${marker} & sleep ${marker}.5; wait"]
`,
  });
  enrollAgent(agent, collector);
  const r = cli(AGENT_BIN, ['run', 'hang', '--config', agent.config]);
  assert.equal(r.code, 1);
  assert.match(r.stdout, /hang backup: timeout/);
  const job = await waitFor('the timeout in the status', async () => (await collector.status()).jobs.find((j) => j.name === 'hang' && j.lastRun?.status === 'timeout'));
  assert.match((await collector.runLog(job.lastRun!.runId)) ?? '', /timeout after 1s/);
  let survivors = '';
  try {
    survivors = execFileSync('pgrep', ['-f', `sleep ${marker}`], { encoding: 'utf8' });
  } catch {
    survivors = '';
  }
  assert.equal(survivors.trim(), '', 'no child of the job survives');
});
