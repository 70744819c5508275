import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { AGENT_BIN, cliAsync, enrollAgent, sleep, startCollector, tempDir, waitFor, writeAgentConfig } from './helpers/processes';

const cleanups: (() => unknown)[] = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

interface Published {
  topic: string;
  headers: IncomingHttpHeaders;
  body: string;
}

/** A loopback server that answers like ntfy's publish API and records what it got. */
async function ntfyServer(): Promise<{ url: string; published: Published[] }> {
  const published: Published[] = [];
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      const topic = (req.url ?? '/').slice(1);
      published.push({ topic, headers: req.headers, body });
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ id: `m${published.length}`, time: Math.floor(Date.now() / 1000), event: 'message', topic, message: body }));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  cleanups.push(() => new Promise((r) => server.close(r)));
  return { url: `http://127.0.0.1:${(server.address() as { port: number }).port}`, published };
}

test('a restic job with a wrong password sends exactly one urgent ntfy notification, and one resolved after it is fixed', async () => {
  const ntfy = await ntfyServer();
  // Evaluate every second with no flap delay, so the test sees the lifecycle quickly; only
  // incidents about the asset are routed to this channel (host facts of this machine are not).
  const collector = await startCollector(`incidents: { evaluateEvery: 1s, flap: 0s, reminder: 1d }
notify:
  - { type: ntfy, url: "${ntfy.url}/backups", assets: [pgdata] }
`);
  cleanups.push(() => collector.stop('SIGKILL'));

  const work = tempDir('lifeline-alerts-');
  const repo = join(work, 'repo');
  const data = join(work, 'data');
  mkdirSync(data);
  writeFileSync(join(data, 'dump.sql'), 'CREATE TABLE t (id int);\n');
  const good = join(work, 'good.pass');
  const used = join(work, 'restic.pass');
  writeFileSync(good, 'correct horse battery staple\n', { mode: 0o600 });
  writeFileSync(used, 'wrong-password-123\n', { mode: 0o600 });
  execFileSync('restic', ['init'], { env: { ...process.env, RESTIC_REPOSITORY: repo, RESTIC_PASSWORD_FILE: good }, stdio: 'ignore' });

  // Two more copies of the asset (on-site and off-site), so 3-2-1 holds and the failed restic
  // run is the one problem.
  const agent = writeAgentConfig({
    name: 'pve1',
    jobs: `  - name: pg-restic
    asset: pgdata
    tier: 1
    target: local-disk
    driver: restic
    restic: { repository: ${repo}, passwordFile: ${used}, paths: [${data}] }
  - { name: pg-copy, asset: pgdata, tier: 1, target: local-disk, driver: command, command: [true] }
  - { name: pg-offsite, asset: pgdata, tier: 1, target: cloud, driver: command, command: [true] }
`,
  });
  enrollAgent(agent, collector);
  for (const job of ['pg-copy', 'pg-offsite']) assert.equal((await cliAsync(AGENT_BIN, ['run', job, '--config', agent.config])).code, 0);

  const failed = await cliAsync(AGENT_BIN, ['run', 'pg-restic', '--config', agent.config]);
  assert.equal(failed.code, 1, failed.stdout + failed.stderr);
  await waitFor('the ntfy notification', () => ntfy.published.length >= 1, 20_000);
  await sleep(3000); // several more evaluations: still exactly one notification
  assert.equal(ntfy.published.length, 1, JSON.stringify(ntfy.published.map((p) => p.headers['x-title'])));
  const [open] = ntfy.published;
  assert.equal(open.topic, 'backups');
  assert.equal(open.headers['x-priority'], '5');
  assert.match(String(open.headers['x-title']), /pg-restic/);
  assert.ok(!open.body.includes('wrong-password-123'), 'the password never reaches a notification');
  const status = await collector.status();
  assert.equal(status.incidents.length, 1);

  writeFileSync(used, 'correct horse battery staple\n');
  assert.equal((await cliAsync(AGENT_BIN, ['run', 'pg-restic', '--config', agent.config])).code, 0);
  await waitFor('the resolved notification', () => ntfy.published.length >= 2, 20_000);
  await sleep(2000);
  assert.equal(ntfy.published.length, 2);
  const resolved = ntfy.published[1];
  assert.equal(resolved.headers['x-priority'], '2');
  assert.match(String(resolved.headers['x-title']).toLowerCase(), /resolved/);
  assert.equal((await collector.status()).incidents.length, 0);
});

test('a notification queued before the collector is killed is delivered exactly once after it restarts', async () => {
  // The webhook receiver is down at first: the collector writes the incident and its outbox row,
  // fails to deliver, and is killed with SIGKILL. Restarted with the receiver up, it delivers
  // the row once, and never again.
  const received: string[] = [];
  const hook = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      received.push(body);
      res.writeHead(200).end('{}');
    });
  });
  await new Promise<void>((r) => hook.listen(0, '127.0.0.1', r));
  const port = (hook.address() as { port: number }).port;
  await new Promise((r) => hook.close(r));

  const collector = await startCollector(`incidents: { evaluateEvery: 1s, flap: 0s, reminder: 1d }
notifyRetry: { base: 1s, max: 2s }
notify:
  - { type: webhook, url: "http://127.0.0.1:${port}/hook", assets: [nas] }
`);
  cleanups.push(() => collector.stop('SIGKILL'));
  const agent = writeAgentConfig({
    name: 'nas1',
    jobs: `  - { name: nas-sync, asset: nas, tier: 1, target: local-disk, driver: command, command: [sh, -c, "echo disk gone >&2; exit 2"] }
  - { name: nas-copy, asset: nas, tier: 1, target: local-disk, driver: command, command: [true] }
  - { name: nas-offsite, asset: nas, tier: 1, target: cloud, driver: command, command: [true] }
`,
  });
  enrollAgent(agent, collector);
  for (const job of ['nas-copy', 'nas-offsite']) await cliAsync(AGENT_BIN, ['run', job, '--config', agent.config]);
  assert.equal((await cliAsync(AGENT_BIN, ['run', 'nas-sync', '--config', agent.config])).code, 1);
  await waitFor('the incident', async () => (await collector.status()).incidents.length === 1, 20_000);
  await sleep(1500); // at least one failed delivery attempt
  await collector.stop('SIGKILL');

  await new Promise<void>((r) => hook.listen(port, '127.0.0.1', r));
  cleanups.push(() => new Promise((r) => hook.close(r)));
  await collector.start();
  await waitFor('the delivery after restart', () => received.length >= 1, 20_000);
  await sleep(4000); // more evaluations and sender rounds: still one
  assert.equal(received.length, 1);
  assert.match(received[0], /nas-sync/);
});
