import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { statfsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { loadAgentConfig, type AgentConfig } from '../agent/config';
import { readPbs } from '../agent/pbs/read';
import { buildPbsScan } from '../agent/pbs/scan';
import { editWorld, pbsTool, pbsYaml, readWorld, sampleWorld, TOKEN_SECRET, worldEnv, writeTokenFile, writeWorld } from './helpers/pbs';
import { tempDir } from './helpers/processes';

// No Proxmox Backup Server can run here: proxmox-backup-manager and proxmox-backup-client are
// stand-ins (test/fixtures/pbs/bin) replaying ../shared/REFERENCE-INTEGRATIONS.md §5 — `task list`
// showing only running tasks without `--all`, JSON items in PBS's field names, `Error: …` on
// stderr with exit status 255, the client's password from PBS_PASSWORD(_FILE) and PBS_FINGERPRINT.

const FINGERPRINT = Array.from({ length: 32 }, (_, i) => (i * 7).toString(16).padStart(2, '0').toUpperCase()).join(':');

function setup(opts: { fingerprint?: boolean; tools?: string } = {}) {
  const world = writeWorld({ ...sampleWorld(), ...(opts.fingerprint ? { fingerprint: FINGERPRINT } : {}) });
  const dir = tempDir('lifeline-pbs-cli-');
  const file = join(dir, 'agent.yaml');
  writeFileSync(
    file,
    `agent: { name: pbs1, stateDir: ${join(dir, 'state')} }
${pbsYaml({ source: 'cli', tokenSecretFile: writeTokenFile(dir), fingerprint: opts.fingerprint ? FINGERPRINT : undefined, extra: `  exclude: [scratch]\n${opts.tools ?? ''}` })}`,
  );
  const config: AgentConfig = loadAgentConfig(file);
  return { world, config, env: { ...process.env, ...worldEnv(world) } };
}

const calls = (world: string, tool: string) => (readWorld(world).calls ?? []).filter((c) => c.tool === tool);

test('CLI mode: the manager lists datastores, jobs and ALL tasks (--all), the client lists snapshots with the secret by file and the fingerprint in the environment', async () => {
  const { world, config, env } = setup({ fingerprint: true });
  const notes: string[] = [];
  const inv = await readPbs(config.pbs!, notes, Date.now(), { ...env, PBS_PASSWORD: 'inherited-from-elsewhere' });
  assert.deepEqual(notes, []);
  assert.equal(inv.source, 'cli');
  assert.deepEqual(inv.datastores.map((d) => d.name), ['store1', 'store2', 'scratch']);
  assert.ok(inv.tasks.some((t) => t.status === 'OK') && inv.tasks.some((t) => t.endtime === undefined), 'stopped and running tasks');
  assert.ok(!inv.tasks.some((t) => t.starttime < Date.now() / 1000 - 7 * 86_400), 'the task window, filtered here');
  assert.equal(inv.snapshots.get('store1')!.length, 5);

  const manager = calls(world, 'proxmox-backup-manager').map((c) => c.argv);
  const taskList = manager.find((a) => a[0] === 'task')!;
  assert.deepEqual(taskList, ['task', 'list', '--all', '--limit', '2000', '--output-format', 'json']);
  assert.deepEqual(
    manager.map((a) => a.slice(0, 2).join(' ')).sort(),
    ['datastore list', 'garbage-collection status', 'garbage-collection status', 'prune-job list', 'sync-job list', 'task list', 'verify-job list'],
  );
  const client = calls(world, 'proxmox-backup-client');
  assert.deepEqual(client.map((c) => c.argv).sort(), [
    ['snapshot', 'list', '--repository', 'root@pam!lifeline@localhost:store1', '--output-format', 'json'],
    ['snapshot', 'list', '--repository', 'root@pam!lifeline@localhost:store2', '--output-format', 'json'],
  ]);
  for (const c of client) {
    assert.equal(c.env.PBS_PASSWORD_FILE, config.pbs!.tokenSecretFile);
    assert.equal(c.env.PBS_FINGERPRINT, FINGERPRINT);
    assert.equal(c.env.PBS_PASSWORD, undefined, 'a password from elsewhere would win over the file');
  }
  for (const c of readWorld(world).calls!) assert.ok(!c.argv.join(' ').includes(TOKEN_SECRET), `no secret in argv: ${c.argv.join(' ')}`);
});

test('CLI mode: usage comes from statfs of the datastore path (no PBS forecast), GC from `garbage-collection status`', async () => {
  const { world, config, env } = setup();
  const inv = await readPbs(config.pbs!, [], Date.now(), env);
  const path = readWorld(world).datastores[0].path;
  const s = statfsSync(path);
  assert.equal(inv.usage.get('store1')!.total, s.blocks * s.bsize);
  assert.ok(Math.abs(inv.usage.get('store1')!.avail! - s.bavail * s.bsize) < 0.01 * s.blocks * s.bsize, 'free space as statfs says (others write meanwhile)');
  const scan = buildPbsScan(inv, { targets: config.targets, pbs: config.pbs! }, Date.now());
  const [store1, store2] = scan.message.datastores;
  assert.deepEqual([store1.estimatedFullAt, store2.estimatedFullAt], [null, null], 'the collector forecasts from the history');
  assert.equal(store1.gc!.removedBytes, 3 * 2 ** 30);
  assert.equal(store2.gc!.upid, undefined, 'never collected');
  assert.equal(scan.inventories.find((i) => i.job === 'pbs-store1-vm-100')!.snapshots.at(-1)!.verified, 'failed');
});

test('the manager stand-in replays the documented quirk: `task list` without --all lists only the running tasks', () => {
  const { world, env } = setup();
  const run = (args: string[]) => spawnSync(pbsTool('proxmox-backup-manager'), args, { env, encoding: 'utf8' });
  const running = JSON.parse(run(['task', 'list', '--output-format', 'json']).stdout) as { endtime?: number }[];
  assert.deepEqual(running.map((t) => t.endtime), [undefined]);
  const all = JSON.parse(run(['task', 'list', '--all', '--output-format', 'json']).stdout) as unknown[];
  assert.equal(all.length, readWorld(world).tasks.length);
  const bad = run(['garbage-collection', 'status', 'nosuch', '--output-format', 'json']);
  assert.deepEqual([bad.status, bad.stderr], [255, "Error: no such datastore 'nosuch'\n"]);
});

test('exit 255 with `Error: …` is a clear error naming the command; a datastore whose snapshots fail is a note, the rest is read', async () => {
  const { world, config, env } = setup();
  editWorld(world, (w) => (w.fail = { 'datastore-list': 'unable to parse datastore config - line 3' }));
  await assert.rejects(readPbs(config.pbs!, [], Date.now(), env), /^Error: proxmox-backup-manager datastore list --output-format json failed \(exit code 255\): Error: unable to parse datastore config - line 3$/);

  editWorld(world, (w) => (w.fail = { 'snapshot-list': 'datastore is in maintenance mode' }));
  const notes: string[] = [];
  const inv = await readPbs(config.pbs!, notes, Date.now(), env);
  assert.equal(notes.length, 1);
  assert.match(notes[0], /^snapshots of datastore store\d not listed: proxmox-backup-client snapshot list --repository "root@pam!lifeline@localhost:store\d" --output-format json failed \(exit code 255\): Error: datastore is in maintenance mode$/);
  assert.equal(inv.snapshots.size, 1);

  const missing = setup({ tools: '' });
  const cfg = { ...missing.config.pbs!, tools: { ...missing.config.pbs!.tools, manager: '/nonexistent/proxmox-backup-manager' } };
  await assert.rejects(readPbs(cfg, [], Date.now(), missing.env), /cannot run \/nonexistent\/proxmox-backup-manager \(not found; set pbs\.tools\.manager in agent\.yaml/);
});
