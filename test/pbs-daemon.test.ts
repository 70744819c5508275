import assert from 'node:assert/strict';
import { appendFileSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { messageSchema, type Message } from '../shared/protocol';
import { editWorld, pbsYaml, readWorld, sampleWorld, startPbsApi, TOKEN_SECRET, upid, writeTokenFile, writeWorld } from './helpers/pbs';
import { AGENT_BIN, cli, freePort, Proc, sleep, waitFor, writeAgentConfig } from './helpers/processes';

// The built agent daemon on a Proxmox Backup Server, end to end up to its spool (no collector:
// it points at a closed port, so every message stays spooled and is read back here). No PBS can
// run here: the API is the stand-in of test/helpers/pbs.ts, HTTPS on loopback with a self-signed
// certificate, replaying ../shared/REFERENCE-INTEGRATIONS.md §5 (`{data}` answers, kebab-case
// items, snake_case tasks with `WARNINGS: n` statuses, stopped tasks listed too).

const cleanups: (() => Promise<unknown> | void)[] = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

const spooled = (stateDir: string): Message[] => {
  const dir = join(stateDir, 'spool');
  return readdirSync(dir)
    .filter((f) => /^\d{20}\.json$/.test(f))
    .sort()
    .map((f) => JSON.parse(readFileSync(join(dir, f), 'utf8')) as Message);
};
const REPORTS = new Set(['pbs', 'inventory', 'run', 'run-start']);

test('the daemon reports datastores, server job and backup runs and inventories once, across scans and a restart; the token secret appears nowhere', async () => {
  const now = Math.floor(Date.now() / 1000);
  const world = writeWorld(sampleWorld(now));
  const api = await startPbsApi(world);
  cleanups.push(() => api.stop());
  const agent = writeAgentConfig({ name: 'pbs1', collector: `http://127.0.0.1:${await freePort()}`, jobs: `  - { name: etc, asset: etc, tier: 2, target: local-disk, driver: command, command: [sh, -c, "echo ok"], schedule: "0 3 1 1 *" }\n` });
  appendFileSync(agent.config, pbsYaml({ url: api.url, fingerprint: api.fingerprint, tokenSecretFile: writeTokenFile(agent.dir), scan: '10s', extra: '  exclude: [scratch]\n' }));
  assert.equal(cli(AGENT_BIN, ['keygen', '--config', agent.config]).code, 0);
  const scans = () => (readWorld(world).calls ?? []).filter((c) => c.tool === 'api' && c.argv[1].startsWith('/api2/json/nodes/localhost/tasks')).length;

  let daemon = new Proc(AGENT_BIN, ['daemon', '--config', agent.config]);
  cleanups.push(() => daemon.stop('SIGKILL'));
  await waitFor('the first scan reported', () => /pbs: \d+ run\(s\) reported/.test(daemon.output), 20_000);
  const first = spooled(agent.stateDir);
  for (const m of first) messageSchema.parse(m);

  // Datastores: one at 85 %, one PBS expects full in 10 days.
  const pbs = first.filter((m) => m.kind === 'pbs');
  assert.equal(pbs.length, 1);
  const [store1, store2] = pbs[0].kind === 'pbs' ? pbs[0].datastores : [];
  assert.deepEqual([store1.name, store1.usedBytes! / store1.totalBytes!, store1.estimatedFullAt], ['store1', 0.85, null]);
  assert.equal(store2.estimatedFullAt, new Date((now + 10 * 86_400) * 1000).toISOString());

  // Server job tasks as runs: the failed verify job, the OK GC; the running verify as a run-start.
  const runs = first.filter((m) => m.kind === 'run');
  const run = (job: string) => runs.filter((m) => m.job === job);
  assert.deepEqual(run('verify-v-weekly').map((m) => [m.status, m.error]), [['failure', 'verification failed - please check the log for details']]);
  assert.deepEqual(run('gc-store1').map((m) => [m.status, m.durationMs]), [['success', 600_000]]);
  assert.deepEqual(run('pbs-store1-vm-100').map((m) => [m.status, m.bytesTotal]), [['success', 32 * 2 ** 30]]);
  const started = first.filter((m) => m.kind === 'run-start');
  assert.deepEqual(started.map((m) => m.job), ['verify-v-store2']);

  // The group vm/100: its newest snapshot's verification failed, and the inventory says so.
  const inv = first.find((m) => m.kind === 'inventory' && m.job === 'pbs-store1-vm-100');
  assert.ok(inv && inv.kind === 'inventory');
  assert.deepEqual(inv.snapshots.map((s) => s.verified), ['ok', 'ok', 'failed']);
  assert.equal(inv.target, 'store1');

  // The hello after the scan carries the PBS jobs beside the configured one.
  const hellos = first.filter((m) => m.kind === 'hello');
  const last = hellos.at(-1)!;
  assert.ok(last.kind === 'hello');
  assert.deepEqual(
    last.jobs.map((j) => j.name),
    ['etc', 'gc-store1', 'gc-store2', 'verify-v-store2', 'verify-v-weekly', 'prune-p-daily', 'sync-s-offsite', 'pbs-store1-ct-101', 'pbs-store1-host-elsa', 'pbs-store1-vm-100', 'pbs-store2-vm-100'],
  );
  assert.match(daemon.output, /pbs: verify-v-weekly failure at .*: verification failed/);
  assert.match(daemon.output, /pbs: datastore store1: target store1 is not declared under targets:/);

  // A second scan finds nothing new: nothing is spooled again.
  const scansBefore = scans();
  await waitFor('a second scan', () => scans() > scansBefore, 20_000);
  await sleep(1000);
  const second = spooled(agent.stateDir).slice(first.length);
  assert.deepEqual(second.filter((m) => REPORTS.has(m.kind) || m.kind === 'hello'), []);

  // A restart says hello with the saved PBS jobs at once and reports nothing twice.
  assert.equal(await daemon.stop(), 0);
  const beforeRestart = spooled(agent.stateDir).length;
  const scansAtRestart = scans();
  daemon = new Proc(AGENT_BIN, ['daemon', '--config', agent.config]);
  await waitFor('the first scan after the restart', () => scans() > scansAtRestart, 20_000);
  await sleep(1500);
  const restarted = spooled(agent.stateDir).slice(beforeRestart);
  const hello = restarted.find((m) => m.kind === 'hello');
  assert.ok(hello && hello.kind === 'hello' && hello.jobs.some((j) => j.name === 'pbs-store1-vm-100'), 'the saved jobs in the start hello');
  assert.deepEqual(restarted.filter((m) => REPORTS.has(m.kind)), [], 'nothing reported twice');

  // The running verify ends and a new GC runs: two runs, the verify under its run-start's id.
  editWorld(world, (w) => {
    const t = w.tasks.find((x) => x.worker_id === 'store2:v-store2')!;
    Object.assign(t, { endtime: Math.floor(Date.now() / 1000), status: 'WARNINGS: 2' });
    const start = Math.floor(Date.now() / 1000) - 100;
    w.tasks.push({ upid: upid({ node: 'pbs1', starttime: start, type: 'garbage_collection', id: 'store1' }), node: 'pbs1', pid: 1, pstart: 1, starttime: start, endtime: start + 50, worker_type: 'garbage_collection', worker_id: 'store1', user: 'root@pam', status: 'OK' });
  });
  const beforeNew = spooled(agent.stateDir).length;
  await waitFor('the two new runs', () => spooled(agent.stateDir).slice(beforeNew).filter((m) => m.kind === 'run').length >= 2, 20_000);
  await sleep(500);
  const fresh = spooled(agent.stateDir).slice(beforeNew).filter((m) => m.kind === 'run');
  assert.deepEqual(fresh.map((m) => m.kind === 'run' && [m.job, m.status]).sort(), [['gc-store1', 'success'], ['verify-v-store2', 'warning']]);
  assert.equal(fresh.find((m) => m.job === 'verify-v-store2')!.runId, started[0].runId);

  // The token's secret: in no log line, no spooled message, no argv.
  const all = spooled(agent.stateDir);
  assert.ok(!daemon.output.includes(TOKEN_SECRET));
  for (const m of all) assert.ok(!JSON.stringify(m).includes(TOKEN_SECRET), m.kind);
  for (const c of readWorld(world).calls!) assert.ok(!c.argv.join(' ').includes(TOKEN_SECRET));
  assert.ok(!/pbs scan failed/.test(daemon.output), daemon.output);
  assert.equal(daemon.child.exitCode, null, 'still running');
});
