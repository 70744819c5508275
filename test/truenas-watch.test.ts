import assert from 'node:assert/strict';
import { appendFileSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import Database from 'better-sqlite3';
import { readTrueNas } from '../agent/truenas/api';
import { $date, sampleWorld } from './fixtures/truenas/world';
import { startTrueNasApi, type TrueNasApiServer } from './helpers/truenas';
import { AGENT_BIN, enrollAgent, Proc, startCollector, waitFor, writeAgentConfig } from './helpers/processes';

// Watching TrueNAS through its API. No TrueNAS runs here: the API is the loopback stand-in of
// test/helpers/truenas.ts (JSON-RPC over a websocket at /api/current, REST at /api/v2.0 until
// 26.04), answering with the fields and states of REFERENCE-INTEGRATIONS §7.

const cleanups: (() => Promise<unknown> | unknown)[] = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

let api: TrueNasApiServer;
const server = async () => {
  if (!api) {
    api = await startTrueNasApi(sampleWorld());
    cleanups.push(() => api.stop());
  }
  return api;
};
const conf = (over: Partial<Parameters<typeof readTrueNas>[0]> = {}) => ({ url: api.url, api: 'websocket' as const, user: 'lifeline', fingerprint: api.fingerprint, timeoutMs: 5000, ...over });

test('over the websocket: auth.login_ex with the key, then both queries, with $date times', async () => {
  await server();
  api.calls.length = 0;
  const inv = await readTrueNas(conf(), api.world.apiKey);
  assert.deepEqual(inv.replications.map((r) => [r.id, r.state?.state]), [[1, 'FINISHED'], [2, 'ERROR'], [3, 'PENDING'], [4, 'HOLD']]);
  assert.equal(inv.snapshotTasks[0].dataset, 'tank/data');
  assert.equal(typeof (inv.replications[0].state?.datetime as { $date: number }).$date, 'number');
  assert.deepEqual(api.calls.map((c) => c.what), ['auth.login_ex', 'replication.query', 'pool.snapshottask.query']);
});

test('over REST (before 26.04): the key as a Bearer header; once REST is gone, a 404 that says to use the websocket', async () => {
  await server();
  api.calls.length = 0;
  const inv = await readTrueNas(conf({ api: 'rest' }), api.world.apiKey);
  assert.equal(inv.replications.length, 4);
  assert.deepEqual(api.calls.map((c) => [c.what, c.authorization]).sort(), [['GET /api/v2.0/pool/snapshottask', `Bearer ${api.world.apiKey}`], ['GET /api/v2.0/replication', `Bearer ${api.world.apiKey}`]]);
  api.world.rest = false;
  try {
    await assert.rejects(readTrueNas(conf({ api: 'rest' }), api.world.apiKey), /HTTP 404: this TrueNAS has no REST API \(removed in 26\.04\): use truenas\.api: websocket/);
  } finally {
    api.world.rest = true;
  }
});

test('a wrong key or user is refused by auth.login_ex, and no query is made', async () => {
  await server();
  api.calls.length = 0;
  await assert.rejects(readTrueNas(conf({ user: 'root' }), api.world.apiKey), /auth\.login_ex: AUTH_ERR: TrueNAS refused the API key of user root/);
  assert.deepEqual(api.calls.map((c) => c.what), ['auth.login_ex']);
  await assert.rejects(readTrueNas(conf({ api: 'rest' }), 'wrong'), /HTTP 401: TrueNAS refused the API key/);
});

test('a certificate that is not the pinned one stops the call before anything is sent', async () => {
  await server();
  api.calls.length = 0;
  const other = `${'AB:'.repeat(31)}AB`;
  await assert.rejects(readTrueNas(conf({ fingerprint: other }), api.world.apiKey), /presented a certificate with SHA-256 fingerprint .* not the pinned AB:AB.*nothing was sent/);
  assert.deepEqual(api.calls, []);
});

test('the built agent daemon reports each ended task state once as a run of its task job; the key is in no log, message or database', async () => {
  await server();
  const collector = await startCollector();
  cleanups.push(() => collector.stop('SIGKILL'));
  const agent = writeAgentConfig({ name: 'nas1', jobs: '  []\n' });
  const keyFile = join(agent.dir, 'truenas.key');
  writeFileSync(keyFile, `${api.world.apiKey}\n`, { mode: 0o600 });
  appendFileSync(agent.config, `truenas:\n  url: ${api.url}\n  user: lifeline\n  apiKeyFile: ${keyFile}\n  fingerprint: "${api.fingerprint}"\n  scan: 10s\n  tasks: { "tank/media to cloud": { asset: media, tier: 1 } }\n`);
  enrollAgent(agent, collector);
  const daemon = new Proc(AGENT_BIN, ['daemon', '--config', agent.config]);
  cleanups.push(() => daemon.stop('SIGKILL'));

  const query = <T>(sql: string): T[] => {
    const db = new Database(collector.db, { readonly: true, fileMustExist: true });
    try {
      return db.prepare(sql).all() as T[];
    } finally {
      db.close();
    }
  };
  type Row = { job: string; status: string; error: string | null; snapshot_id: string | null };
  const runs = () => query<Row>('SELECT job, status, error, snapshot_id FROM runs ORDER BY job');
  await waitFor('three TrueNAS runs', () => runs().length === 3, 20_000, 200).catch((err: Error) => assert.fail(`${err.message}\n${daemon.output}`));
  assert.deepEqual(runs(), [
    { job: 'truenas-replication-1', status: 'success', error: null, snapshot_id: 'tank/data@auto-2026-11-30_05-00' },
    { job: 'truenas-replication-2', status: 'failure', error: 'ssh: connect to host nas2 port 22: No route to host', snapshot_id: 'tank/media@auto-2026-11-29_03-00' },
    { job: 'truenas-snapshot-1', status: 'success', error: null, snapshot_id: 'tank/data@auto-2026-11-30_05-00' },
  ]);
  const status = await collector.status();
  assert.deepEqual(status.jobs.filter((j) => j.name.startsWith('truenas-')).map((j) => [j.name, j.asset, j.tier]).sort(), [
    ['truenas-replication-1', 'tank-data', 2],
    ['truenas-replication-2', 'media', 1],
    ['truenas-replication-4', 'tank-vm', 2],
    ['truenas-snapshot-1', 'tank-data', 2],
  ]);
  assert.match(daemon.output, /truenas: replication task tank\/vm to nas2 is HOLD: Pool tank is offline/);

  // The replication succeeds again later: one new run, the old ones not repeated.
  api.world.replications[1].state = { state: 'FINISHED', datetime: $date(Date.now()), last_snapshot: 'tank/media@auto-2026-11-30_06-00' };
  await daemon.stop('SIGTERM');
  const again = new Proc(AGENT_BIN, ['daemon', '--config', agent.config]);
  cleanups.push(() => again.stop('SIGKILL'));
  await waitFor('the new run', () => runs().length === 4, 20_000, 200).catch((err: Error) => assert.fail(`${err.message}\n${again.output}`));
  assert.deepEqual(runs().filter((r) => r.job === 'truenas-replication-2').map((r) => r.status).sort(), ['failure', 'success']);
  await again.stop('SIGTERM');

  const files = (dir: string): string[] => readdirSync(dir).flatMap((n) => (statSync(join(dir, n)).isDirectory() ? files(join(dir, n)) : [join(dir, n)]));
  const secret = api.world.apiKey.split('-')[1];
  for (const f of [...files(agent.stateDir), collector.db]) assert.ok(!readFileSync(f).includes(secret), `the key is in ${f}`);
  assert.ok(!`${daemon.output}${again.output}`.includes(secret), 'the key is in the agent log');
});
