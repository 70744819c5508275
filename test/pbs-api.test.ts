import assert from 'node:assert/strict';
import { request } from 'node:https';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { writeFileSync } from 'node:fs';
import { loadAgentConfig, type AgentConfig } from '../agent/config';
import { pbsScanCommand } from '../agent/pbs/command';
import { readPbs } from '../agent/pbs/read';
import { TASK_WINDOW_MS } from '../agent/pbs/runs';
import { editWorld, pbsYaml, readWorld, sampleWorld, startPbsApi, TOKEN_ID, TOKEN_SECRET, writeTokenFile, writeWorld, type PbsApiServer } from './helpers/pbs';
import { tempDir } from './helpers/processes';

// No Proxmox Backup Server can run here. The API is a stand-in (test/helpers/pbs.ts): a real
// HTTPS server on loopback with a self-signed certificate made by openssl, answering from the
// world as PBS's REST API does per ../shared/REFERENCE-INTEGRATIONS.md §5 — `{data}` wrapping,
// kebab-case items, snake_case tasks, both `PBSAPIToken=` and `PBSAPIToken ` accepted, 401 for
// an unknown token, stopped tasks listed unless `running` is set.

let world: string;
let api: PbsApiServer;
before(async () => {
  world = writeWorld(sampleWorld());
  api = await startPbsApi(world);
});
after(() => api.stop());

function agent(pbs: { fingerprint?: string | null; secret?: string; tokenId?: string; url?: string } = {}): AgentConfig {
  const dir = tempDir('lifeline-pbs-agent-');
  const file = join(dir, 'agent.yaml');
  const fingerprint = pbs.fingerprint === null ? undefined : (pbs.fingerprint ?? api.fingerprint);
  writeFileSync(
    file,
    `agent: { name: pbs1, stateDir: ${join(dir, 'state')} }
targets:
  - { name: store1, location: onsite, media: pbs }
${pbsYaml({ url: pbs.url ?? api.url, tokenId: pbs.tokenId, tokenSecretFile: writeTokenFile(dir, pbs.secret), fingerprint, extra: '  exclude: [scratch]\n' })}`,
  );
  return loadAgentConfig(file);
}

const apiCalls = () => (readWorld(world).calls ?? []).filter((c) => c.tool === 'api');
const clearCalls = () => editWorld(world, (w) => void (w.calls = []));

test('reads datastores, usage, jobs, tasks and snapshots over HTTPS, the certificate pinned by its fingerprint, the token in the header', async () => {
  clearCalls();
  const config = agent();
  const notes: string[] = [];
  const now = Date.now();
  const inv = await readPbs(config.pbs!, notes, now);
  assert.deepEqual(notes, []);
  assert.deepEqual(inv.datastores.map((d) => d.name), ['store1', 'store2', 'scratch']);
  assert.equal(inv.usage.get('store1')!.used, 850 * 2 ** 30);
  assert.deepEqual([...inv.snapshots.keys()].sort(), ['store1', 'store2'], 'the excluded datastore is not listed');
  assert.ok(inv.tasks.some((t) => t.endtime !== undefined), 'stopped tasks too');
  assert.ok(!inv.tasks.some((t) => t.starttime < (now - TASK_WINDOW_MS) / 1000), 'only the task window');
  assert.deepEqual(inv.verifyJobs.map((j) => j.id), ['v-weekly', 'v-store2', 'v-off']);
  const paths = apiCalls().map((c) => c.argv[1].replace(/since=\d+/, 'since=S'));
  assert.deepEqual(
    [...paths].sort(),
    [
      '/api2/json/admin/datastore/store1/snapshots',
      '/api2/json/admin/datastore/store2/snapshots',
      '/api2/json/config/datastore',
      '/api2/json/config/prune',
      '/api2/json/config/sync',
      '/api2/json/config/verify',
      '/api2/json/nodes/localhost/tasks?limit=2000&since=S',
      '/api2/json/status/datastore-usage',
    ],
  );
  assert.ok(paths.indexOf('/api2/json/nodes/localhost/tasks?limit=2000&since=S') > paths.indexOf('/api2/json/admin/datastore/store1/snapshots'), 'tasks after snapshots');
  assert.deepEqual(new Set(apiCalls().map((c) => c.headers!.authorization)), new Set([`PBSAPIToken=${TOKEN_ID}:${TOKEN_SECRET}`]));
});

test('a certificate with another fingerprint is refused before anything is sent, naming both fingerprints', async () => {
  clearCalls();
  const pinned = Array.from({ length: 32 }, () => 'AB').join(':');
  const config = agent({ fingerprint: pinned.toLowerCase() });
  await assert.rejects(readPbs(config.pbs!, [], Date.now()), (err: Error) => {
    assert.ok(err.message.includes(pinned), err.message);
    assert.ok(err.message.includes(api.fingerprint), err.message);
    assert.match(err.message, /nothing was sent/);
    assert.ok(!err.message.includes(TOKEN_SECRET));
    return true;
  });
  assert.deepEqual(apiCalls(), [], 'no request reached the server');
});

test('without a fingerprint the self-signed certificate must be trusted by the system CAs: refused, with how to pin it', async () => {
  clearCalls();
  await assert.rejects(readPbs(agent({ fingerprint: null }).pbs!, [], Date.now()), /cannot connect to PBS at https:\/\/127\.0\.0\.1:\d+: .*pin it with pbs\.fingerprint/);
  assert.deepEqual(apiCalls(), []);
});

test('a refused token: the 401 says which token and what permissions it needs, never the secret', async () => {
  const config = agent({ secret: 'wrong-secret-0000' });
  await assert.rejects(readPbs(config.pbs!, [], Date.now()), (err: Error) => {
    assert.match(err.message, /PBS refused the API token root@pam!lifeline \(401 on GET \/config\/\w+\)/);
    assert.match(err.message, /Datastore\.Audit.*Sys\.Audit/);
    assert.ok(err.message.includes(config.pbs!.tokenSecretFile), 'names the file to check');
    assert.ok(!err.message.includes('wrong-secret-0000'));
    return true;
  });
  await assert.rejects(readPbs(agent({ tokenId: 'root@pam!other' }).pbs!, [], Date.now()), /refused the API token root@pam!other/);
});

function get(path: string, authorization?: string): Promise<{ status: number; body: { data: unknown } }> {
  return new Promise((resolve, reject) => {
    const req = request(`${api.url}/api2/json${path}`, { rejectUnauthorized: false, headers: authorization ? { authorization } : {} }, (res) => {
      let text = '';
      res.on('data', (c) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode!, body: JSON.parse(text) }));
    });
    req.on('error', reject);
    req.end();
  });
}

test('the stand-in accepts both PBSAPIToken=ID:SECRET and PBSAPIToken ID:SECRET (the documented quirk), nothing else', async () => {
  const cases: [string | undefined, number][] = [
    [`PBSAPIToken=${TOKEN_ID}:${TOKEN_SECRET}`, 200],
    [`PBSAPIToken ${TOKEN_ID}:${TOKEN_SECRET}`, 200],
    [`PBSAPIToken ${TOKEN_ID}:${encodeURIComponent(TOKEN_SECRET)}`, 200],
    [`PBSAPIToken=${TOKEN_ID}:nope`, 401],
    [`PVEAPIToken=${TOKEN_ID}=${TOKEN_SECRET}`, 401],
    [undefined, 401],
  ];
  for (const [auth, status] of cases) assert.equal((await get('/config/datastore', auth)).status, status, String(auth));
});

test('the stand-in task list: stopped tasks too, `running` only running ones, `since` and `limit` (default 50) honoured', async () => {
  const auth = `PBSAPIToken=${TOKEN_ID}:${TOKEN_SECRET}`;
  const all = (await get('/nodes/localhost/tasks?limit=0', auth)).body.data as { starttime: number; endtime?: number }[];
  assert.equal(all.length, readWorld(world).tasks.length);
  assert.equal(all[0].endtime, undefined, 'running tasks first');
  const running = (await get('/nodes/localhost/tasks?running=1', auth)).body.data as unknown[];
  assert.equal(running.length, 1);
  const since = Math.floor(Date.now() / 1000) - 7 * 86_400;
  const recent = (await get(`/nodes/localhost/tasks?since=${since}&limit=0`, auth)).body.data as { starttime: number }[];
  assert.ok(recent.length === all.length - 1 && recent.every((t) => t.starttime >= since));
  assert.equal(((await get('/nodes/localhost/tasks?limit=2', auth)).body.data as unknown[]).length, 2);
  editWorld(world, (w) => {
    for (let i = 0; i < 60; i++) w.tasks.push({ ...w.tasks[0], upid: `${w.tasks[0].upid}${i}` });
  });
  assert.equal(((await get('/nodes/localhost/tasks', auth)).body.data as unknown[]).length, 50, 'the default limit');
  editWorld(world, (w) => void (w.tasks = w.tasks.filter((t) => !/:\d+$/.test(t.upid))));
});

test('`pbs scan` prints datastores with usage and forecast, server jobs with their last task, groups with their newest snapshot and its verification', async () => {
  let out = '';
  const code = await pbsScanCommand(agent(), false, (s) => (out += s));
  assert.equal(code, 0, out);
  assert.match(out, /store1\s+store1\s+850\.0 GiB of 1000\.0 GiB \(85 %\)\s+-\s+last \d{4}-\d\d-\d\d \d\d:\d\dZ, removed 3\.0 GiB, pending 1\.0 GiB/);
  assert.match(out, /store2\s+store2\s+800\.0 GiB of 2\.0 TiB \(40 %\)\s+\d{4}-\d\d-\d\d/);
  assert.match(out, /verify-v-weekly\s+store1\s+2\s+0 6 \* \* 6\s+verification failed - please check the log for details/);
  assert.match(out, /verify-v-store2\s+store2\s+2\s+0 0 \* \* \*\s+running/);
  assert.match(out, /pbs-store1-vm-100\s+vm-100\s+4\s+store1\s+3\s+\S+ \S+\s+failed/);
  assert.match(out, /pbs-store1-host-elsa\s+elsa\s+4\s+store1\s+1\s+\S+ \S+\s+not yet/);
  assert.match(out, /\d+ run\(s\) not yet reported/);
  assert.match(out, /note: verify job v-off is disabled/);
  assert.ok(!out.includes(TOKEN_SECRET));
  let json = '';
  assert.equal(await pbsScanCommand(agent(), true, (s) => (json += s)), 0);
  const parsed = JSON.parse(json) as { pbs: { datastores: unknown[] }; jobs: unknown[] };
  assert.equal(parsed.pbs.datastores.length, 2);
});
