import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { pruneArgs } from '../agent/drivers/vzdump';
import type { World } from './fixtures/pve/world';
import { archiveName, editWorld, localEpoch, pbsName, pveTool, readWorld, writeWorld } from './helpers/pve';
import { AGENT_BIN, cli, cliAsync, enrollAgent, freePort, startCollector, tempDir, writeAgentConfig, type AgentSetup, type Collector } from './helpers/processes';
import Database from 'better-sqlite3';

// The vzdump driver and its guest restore drill, through the bundled agent CLI and a real
// collector. Real vzdump, qmrestore, qm, pct and pvesh cannot run here: the stand-ins in
// test/fixtures/pve/bin replay their documented argv, output, messages and exit codes (255 with
// PVE's message on errors) over a world file (../shared/REFERENCE-INTEGRATIONS.md §1–5;
// qmrestore, pct restore, qm/pct start, stop, destroy and `qm guest cmd` as read in
// proxmox/qemu-server @ e6352be6 and proxmox/pve-container @ 94f55852, see
// test/fixtures/pve/guest-lifecycle.cjs), and record every call in world.calls. zstd and tar
// are the real ones. The agent runs in Europe/Berlin so local-time archive names differ from UTC.

process.env.TZ = 'Europe/Berlin';

const dir = tempDir('lifeline-vzdump-drv-');
const RESTORE_MS = 1200;
const DAY = 86_400;
const now = Math.floor(Date.now() / 1000);
// Older backups already on the storages, for the inventory: one of each listed without a ctime,
// so its time comes from its name (local time in an archive name, UTC in a PBS snapshot name).
const t1 = localEpoch(2026, 1, 31, 2, 0, 3); // 01:00:03Z: Berlin is UTC+1 in winter
const t2 = now - 2 * DAY;

const world: World = {
  node: 'pve1',
  guests: [
    { vmid: 100, type: 'qemu', name: 'web01', node: 'pve1', status: 'running', config: { agent: '1', net0: 'virtio=BC:24:11:00:01:00,bridge=vmbr0' } },
    { vmid: 101, type: 'qemu', name: 'db01', node: 'pve1', status: 'running' },
    { vmid: 102, type: 'qemu', name: 'app01', node: 'pve1', status: 'running', config: { agent: '1', net0: 'virtio=BC:24:11:00:01:02,bridge=vmbr0' }, ip: '127.0.0.1' },
    { vmid: 105, type: 'lxc', name: 'dns', node: 'pve1', status: 'running', config: { net0: 'name=eth0,bridge=vmbr0,hwaddr=BC:24:11:00:01:05,ip=dhcp' } },
    { vmid: 200, type: 'qemu', name: 'far01', node: 'pve2', status: 'running' },
    // In the scratch range, and not Lifeline's: never to be touched.
    { vmid: 9900, type: 'qemu', name: 'keep-me', node: 'pve1', status: 'running' },
  ],
  pools: [],
  backupJobs: [],
  storages: [
    { storage: 'local', type: 'dir', content: 'backup,iso,vztmpl', path: join(dir, 'local') },
    { storage: 'local-lvm', type: 'lvmthin', content: 'images,rootdir' },
    { storage: 'pbs1', type: 'pbs', content: 'backup', datastore: 'store1' },
  ],
  snapshots: {},
  content: {
    local: [
      { volid: `local:backup/${archiveName('qemu', 100, t1)}`, vmid: 100, size: 1_000_000, format: 'vma.zst', subtype: 'qemu' } as World['content'][string][number],
      { volid: `local:backup/${archiveName('qemu', 100, t2)}`, vmid: 100, ctime: t2, size: 2_000_000, format: 'vma.zst', subtype: 'qemu' },
    ],
    pbs1: [
      { volid: `pbs1:backup/${pbsName('lxc', 105, t1)}`, vmid: 105, size: 3_000_000, format: 'pbs-ct', subtype: 'lxc' } as World['content'][string][number],
      { volid: `pbs1:backup/${pbsName('lxc', 105, t2)}`, vmid: 105, ctime: t2, size: 4_000_000, format: 'pbs-ct', subtype: 'lxc', verification: { state: 'ok' } },
    ],
  },
  taskDir: join(dir, 'tasks'),
  logDir: join(dir, 'vzdump-log'),
  fail: { '101': "unable to freeze guest fs - got timeout\nguest-fsfreeze-thaw problems" },
  backupMs: 30,
  restoreMs: RESTORE_MS,
  calls: [],
};

const hookOut = join(dir, 'hook.out');
const hookScript = join(dir, 'hook.sh');
let worldFile: string;
let collector: Collector;
let agent: AgentSetup;
let portServer: Server;
let port: number;

const job = (vmid: number, storage: string, asset: string, tier: number, opts: string) => `  - name: vzdump-${vmid}-${storage}
    asset: ${asset}
    tier: ${tier}
    target: ${storage}
    driver: vzdump
    vzdump: { vmid: ${vmid}, storage: ${storage}${opts} }
`;

const proxmoxSection = () => `proxmox:
  node: pve1
  scan: 1h
  timeout: 30s
  tools: { pvesh: ${pveTool('pvesh')}, qm: ${pveTool('qm')}, pct: ${pveTool('pct')}, vzdump: ${pveTool('vzdump')}, qmrestore: ${pveTool('qmrestore')} }
`;

/** agent.yaml with targets named after the storages, and a tier policy of our own (its retention becomes vzdump's --prune-backups). */
function agentConfig(jobs: string): AgentSetup {
  const home = tempDir('lifeline-agent-');
  const stateDir = join(home, 'state');
  const config = join(home, 'agent.yaml');
  writeFileSync(
    config,
    `agent:\n  name: pve1\n  stateDir: ${stateDir}\n  killGrace: 1s\n` +
      'targets:\n  - { name: local, location: onsite, media: disk }\n  - { name: pbs1, location: onsite, media: pbs }\n' +
      'tiers:\n  2: { retention: { last: 3, daily: 7, weekly: 4 } }\n' +
      `jobs:\n${jobs}`,
  );
  return { dir: home, config, stateDir, name: 'pve1' };
}

const agentCli = (command: string, jobName: string) => cliAsync(AGENT_BIN, [command, jobName, '--config', agent.config], { PVE_WORLD: worldFile });

interface Row {
  run_id: string;
  operation: string;
  status: string;
  exit_code: number | null;
  duration_ms: number | null;
  bytes_total: number | null;
  snapshot_id: string | null;
  error: string | null;
  log_tail: string | null;
}

function query<T>(sql: string, ...params: unknown[]): T[] {
  const db = new Database(collector.db, { readonly: true, fileMustExist: true });
  try {
    return db.prepare(sql).all(...params) as T[];
  } finally {
    db.close();
  }
}

const lastRun = (jobName: string, operation: string) => query<Row>('SELECT * FROM runs WHERE job = ? AND operation = ? ORDER BY started_at DESC, id DESC LIMIT 1', jobName, operation)[0];
const inventory = (jobName: string) => JSON.parse(query<{ snapshots: string }>('SELECT snapshots FROM inventory WHERE job = ?', jobName)[0]?.snapshots ?? '[]') as { id: string; time: string; bytes?: number }[];
const calls = () => readWorld(worldFile).calls ?? [];
const guestIds = () => readWorld(worldFile).guests.map((g) => g.vmid).sort((a, b) => a - b);
/** Calls since the n-th that act on a guest (qmrestore, qm/pct other than reads). */
const actingSince = (n: number) => calls().slice(n).filter((c) => c.tool === 'qmrestore' || ((c.tool === 'qm' || c.tool === 'pct') && !['status', 'config', 'listsnapshot'].includes(c.argv[0])));
const actingCalls = () => actingSince(0);
const newestContent = (storage: string, vmid: number) => readWorld(worldFile).content[storage].filter((v) => v.vmid === vmid).sort((a, b) => (b.ctime ?? 0) - (a.ctime ?? 0))[0];

before(async () => {
  // The hook /etc/vzdump.conf would name: vzdump clears its environment, so it can see nothing
  // but the files; it notes whether the driver's per-guest lock (what the Lifeline hook checks,
  // agent/proxmox/lifeline-backups.ts) is held while vzdump runs.
  writeFileSync(hookScript, `#!/bin/sh\nif [ -n "$3" ]; then if [ -e "$LOCKDIR/$3.$STOREID.lock" ]; then echo "$1 $3 held" >> ${hookOut}; else echo "$1 $3 free" >> ${hookOut}; fi; fi\n`);
  chmodSync(hookScript, 0o755);
  portServer = createServer((s) => s.end());
  port = await freePort();
  await new Promise<void>((r) => portServer.listen(port, '127.0.0.1', r));
  // Tier 3's RTO is one second on this collector: a drill of a tier-3 guest is always too slow.
  collector = await startCollector('tiers: { 3: { rto: 1s } }\n');
  const drill = (extra: string) => `, restoreDrill: { vmids: "9900-9902", storage: local-lvm${extra} }`;
  agent = agentConfig(
      job(100, 'local', 'vm-100', 2, drill(', start: true, wait: { agent: true }, timeout: 3s')) +
      job(101, 'local', 'vm-101', 1, '') +
      job(102, 'local', 'vm-102', 1, drill(`, start: true, wait: { port: ${port} }, timeout: 10s`)) +
      job(105, 'pbs1', 'ct-105', 3, drill('')) +
      job(200, 'local', 'vm-200', 1, '') +
      // A tier policy of our own: its retention becomes vzdump's --prune-backups.
      proxmoxSection(),
  );
  // A world whose hook is the script above, told where the locks are.
  writeFileSync(hookScript, readFileSync(hookScript, 'utf8').replace('#!/bin/sh\n', `#!/bin/sh\nLOCKDIR=${join(agent.stateDir, 'vzdump', 'running')}\n`));
  worldFile = writeWorld({ ...world, vzdumpScript: hookScript }, dir);
  try {
    enrollAgent(agent, collector);
  } catch (err) {
    await collector.stop('SIGKILL');
    throw err;
  }
});

after(async () => {
  portServer?.close();
  await collector?.stop('SIGKILL');
  rmSync(collector.dir, { recursive: true, force: true });
  rmSync(agent.dir, { recursive: true, force: true });
  rmSync(dir, { recursive: true, force: true });
});

test("the tier's retention becomes vzdump's --prune-backups (GFS names to keep-*), and a policy with no keep rule prunes nothing", () => {
  assert.deepEqual(pruneArgs({ daily: 30 }), ['--prune-backups', 'keep-daily=30', '--remove', '1']);
  assert.deepEqual(pruneArgs({ yearly: 2, last: 1, monthly: 6, hourly: 0 }), ['--prune-backups', 'keep-last=1,keep-monthly=6,keep-yearly=2', '--remove', '1']);
  assert.deepEqual(pruneArgs({}), ['--remove', '0']);
  assert.deepEqual(pruneArgs({ daily: 0 }), ['--remove', '0']);
});

test('a backup runs vzdump in argv form with the job tier’s retention, reports the archive as its volume id, and holds the guest’s lock while vzdump (and its hook) runs', async () => {
  const r = await agentCli('run', 'vzdump-100-local');
  assert.equal(r.code, 0, r.stderr + r.stdout);
  const call = calls().find((c) => c.tool === 'vzdump');
  assert.deepEqual(call?.argv, ['100', '--storage', 'local', '--mode', 'snapshot', '--compress', 'zstd', '--prune-backups', 'keep-last=3,keep-daily=7,keep-weekly=4', '--remove', '1']);
  assert.ok(!call!.argv.includes('--script'), 'the hook of /etc/vzdump.conf is left as it is');
  const made = newestContent('local', 100);
  const run = lastRun('vzdump-100-local', 'backup');
  assert.equal(run.status, 'success');
  assert.equal(run.snapshot_id, made.volid);
  assert.match(made.volid, /^local:backup\/vzdump-qemu-100-\d{4}_\d\d_\d\d-\d\d_\d\d_\d\d\.vma\.zst$/);
  assert.equal(run.bytes_total, made.size);
  // The hook ran for every guest phase while the lock was held; released afterwards.
  const seen = readFileSync(hookOut, 'utf8').trim().split('\n');
  assert.ok(seen.includes('backup-start 100 held') && seen.includes('backup-end 100 held'), seen.join('\n'));
  assert.ok(seen.every((l) => l.endsWith(' held')), seen.join('\n'));
  assert.ok(!existsSync(join(agent.stateDir, 'vzdump', 'running', '100.local.lock')));
  // The task-history scan finds a marker at vzdump's own time of the archive: it reports the backup no second time.
  const markers = readdirSync(join(agent.stateDir, 'vzdump', 'reported'));
  assert.ok(markers.includes(`100.${made.ctime}.local`), markers.join(' '));
  // The inventory after the backup: every backup of the guest on the storage, by volume id.
  assert.ok(inventory('vzdump-100-local').some((s) => s.id === made.volid));
});

test("a failing backup reports vzdump's own error text for the guest and its exit code", async () => {
  const r = await agentCli('run', 'vzdump-101-local');
  assert.equal(r.code, 1);
  const run = lastRun('vzdump-101-local', 'backup');
  assert.equal(run.status, 'failure');
  assert.equal(run.exit_code, 255);
  assert.equal(run.error, 'vzdump: unable to freeze guest fs - got timeout\nguest-fsfreeze-thaw problems');
  assert.match(run.log_tail ?? '', /ERROR: Backup of VM 101 failed - unable to freeze guest fs/);
});

test('a guest on another node is a failure, though vzdump skips it and exits 0', async () => {
  const r = await agentCli('run', 'vzdump-200-local');
  assert.equal(r.code, 1);
  const run = lastRun('vzdump-200-local', 'backup');
  assert.equal(run.status, 'failure');
  assert.match(run.error ?? '', /VM 200 is not on this node \(pve1\): vzdump skipped it/);
});

test('the inventory lists the backups by volume id: local-time archive names and UTC PBS snapshot names', async () => {
  for (const name of ['vzdump-100-local', 'vzdump-105-pbs1']) assert.equal((await agentCli('inventory', name)).code, 0);
  const iso = (t: number) => new Date(t * 1000).toISOString();
  assert.equal(iso(t1), '2026-01-31T01:00:03.000Z');
  assert.deepEqual(inventory('vzdump-100-local').slice(0, 2), [
    { id: 'local:backup/vzdump-qemu-100-2026_01_31-02_00_03.vma.zst', time: iso(t1), bytes: 1_000_000 },
    { id: `local:backup/${archiveName('qemu', 100, t2)}`, time: iso(t2), bytes: 2_000_000 },
  ]);
  assert.deepEqual(inventory('vzdump-105-pbs1'), [
    { id: 'pbs1:backup/ct/105/2026-01-31T01:00:03Z', time: iso(t1), bytes: 3_000_000 },
    { id: `pbs1:backup/${pbsName('lxc', 105, t2)}`, time: iso(t2), bytes: 4_000_000 },
  ]);
});

test('verify on a PBS storage reads the newest snapshot’s verification: ok is a success, failed a failure, none yet a warning', async () => {
  const volid = `pbs1:backup/${pbsName('lxc', 105, t2)}`;
  const set = (verification: { state: 'ok' | 'failed'; upid?: string } | undefined) =>
    editWorld(worldFile, (w) => {
      const v = w.content.pbs1.find((x) => x.volid === volid)!;
      if (verification) v.verification = verification;
      else delete v.verification;
    });
  assert.equal((await agentCli('verify', 'vzdump-105-pbs1')).code, 0);
  assert.equal(lastRun('vzdump-105-pbs1', 'verify').status, 'success');
  assert.equal(lastRun('vzdump-105-pbs1', 'verify').snapshot_id, volid);
  set({ state: 'failed', upid: 'UPID:pbs:000A1B2C:0012D687:00000000:65B9A0F3:verificationjob:store1\\x3av\\x2dd9a1:root@pam:' });
  assert.equal((await agentCli('verify', 'vzdump-105-pbs1')).code, 1);
  assert.match(lastRun('vzdump-105-pbs1', 'verify').error ?? '', /verification failed \(task UPID:pbs:/);
  set(undefined);
  assert.equal((await agentCli('verify', 'vzdump-105-pbs1')).code, 3);
  const run = lastRun('vzdump-105-pbs1', 'verify');
  assert.equal(run.status, 'warning');
  assert.match(run.error ?? '', /is not verified yet/);
  set({ state: 'ok' });
});

test('verify on a file storage reads the newest archive in full: a real zstd archive passes, a corrupted one fails', async () => {
  const made = newestContent('local', 100);
  const file = join(dir, 'local', 'dump', made.volid.replace(/^local:backup\//, ''));
  const raw = join(dir, 'disk.raw');
  writeFileSync(raw, Buffer.concat([randomBytes(200_000), Buffer.alloc(300_000)]));
  execFileSync('zstd', ['-q', '-f', raw, '-o', file]);
  assert.equal((await agentCli('verify', 'vzdump-100-local')).code, 0);
  const ok = lastRun('vzdump-100-local', 'verify');
  assert.equal(ok.status, 'success');
  assert.equal(ok.snapshot_id, made.volid);
  assert.equal(ok.bytes_total, readFileSync(file).length);
  assert.match(ok.log_tail ?? '', /read in full with zstd -t .*in \d+\.\ds/);
  const bytes = readFileSync(file);
  bytes.fill(0x55, 1000, 1400); // inside the compressed frames
  writeFileSync(file, bytes);
  assert.equal((await agentCli('verify', 'vzdump-100-local')).code, 1);
  const bad = lastRun('vzdump-100-local', 'verify');
  assert.equal(bad.status, 'failure');
  assert.match(bad.error ?? '', /^cannot read vzdump-qemu-100-.*\.vma\.zst: .*(corrupt|error|checksum)/i);
});

async function drillAsset(asset: string): Promise<{ drills: { status: string; durationMs: number | null; rtoOk: boolean | null }[]; rtoMs: number }> {
  return (await (await fetch(`${collector.url}/api/v1/assets/${asset}`)).json()) as never;
}

test('the drill restores the newest backup into the first free scratch VMID, waits for the guest agent, reports the measured time against the RTO and destroys the copy; an existing guest in the range is never touched', async () => {
  const before = calls().length;
  const r = await agentCli('restore-test', 'vzdump-100-local');
  assert.equal(r.code, 0, r.stderr + r.stdout);
  const made = newestContent('local', 100);
  const run = lastRun('vzdump-100-local', 'restore-test');
  assert.equal(run.status, 'success');
  assert.equal(run.snapshot_id, made.volid);
  assert.equal(run.bytes_total, made.size);
  assert.ok(run.duration_ms! >= RESTORE_MS, `measured ${run.duration_ms} ms`);
  assert.deepEqual(
    actingSince(before).map((c) => [c.tool, ...c.argv].join(' ')),
    [
      `qmrestore ${made.volid} 9901 --storage local-lvm --unique 1`,
      'qm set 9901 --net0 virtio=BC:24:11:01:00:01,bridge=vmbr0,link_down=1',
      'qm start 9901',
      'qm guest cmd 9901 ping',
      'qm stop 9901 --skiplock 1',
      'qm destroy 9901 --purge 1 --destroy-unreferenced-disks 1 --skiplock 1',
    ],
  );
  assert.deepEqual(guestIds(), [100, 101, 102, 105, 200, 9900]);
  assert.deepEqual(readWorld(worldFile).guests.find((g) => g.vmid === 9900), world.guests.find((g) => g.vmid === 9900));
  // The collector holds the measured time against the tier's RTO (tier 2: 24 h).
  const page = await drillAsset('vm-100');
  assert.equal(page.drills[0].status, 'success');
  assert.equal(page.drills[0].durationMs, run.duration_ms);
  assert.equal(page.drills[0].rtoOk, true);
  assert.match(run.log_tail ?? '', /VM 9901 answered its guest agent \d+\.\ds after the restore began/);
});

test('a drill slower than the tier’s RTO is shown as such (a container restored without starting it, tier 3 with a 1 s RTO here)', async () => {
  const r = await agentCli('restore-test', 'vzdump-105-pbs1');
  assert.equal(r.code, 0, r.stderr + r.stdout);
  const run = lastRun('vzdump-105-pbs1', 'restore-test');
  assert.equal(run.snapshot_id, `pbs1:backup/${pbsName('lxc', 105, t2)}`);
  const page = await drillAsset('ct-105');
  assert.equal(page.rtoMs, 1000);
  assert.ok(page.drills[0].durationMs! > 1000);
  assert.equal(page.drills[0].rtoOk, false);
  const restore = calls().filter((c) => c.tool === 'pct' && c.argv[0] === 'restore').pop();
  assert.deepEqual(restore?.argv, ['restore', '9901', `pbs1:backup/${pbsName('lxc', 105, t2)}`, '--storage', 'local-lvm', '--unique', '1']);
  assert.ok(calls().some((c) => c.tool === 'pct' && c.argv.join(' ') === 'destroy 9901 --purge 1 --destroy-unreferenced-disks 1 --force 1'));
  assert.deepEqual(guestIds(), [100, 101, 102, 105, 200, 9900]);
});

test('a drill waiting for a TCP port asks the guest agent for the copy’s address when no host is given', async () => {
  assert.equal((await agentCli('run', 'vzdump-102-local')).code, 0);
  const before = calls().length;
  const r = await agentCli('restore-test', 'vzdump-102-local');
  assert.equal(r.code, 0, r.stderr + r.stdout);
  const run = lastRun('vzdump-102-local', 'restore-test');
  assert.match(run.log_tail ?? '', new RegExp(`VM 9901 answered on 127\\.0\\.0\\.1:${port}`));
  // The port check needs the network: the copy keeps it.
  assert.deepEqual(actingSince(before).map((c) => [c.tool, ...c.argv].join(' ')), [
    `qmrestore ${newestContent('local', 102).volid} 9901 --storage local-lvm --unique 1`,
    'qm start 9901',
    'qm guest cmd 9901 network-get-interfaces',
    'qm stop 9901 --skiplock 1',
    'qm destroy 9901 --purge 1 --destroy-unreferenced-disks 1 --skiplock 1',
  ]);
  assert.deepEqual(guestIds(), [100, 101, 102, 105, 200, 9900]);
});

test('a failed restore is reported with qmrestore’s words and the VM it left behind is destroyed', async () => {
  const volid = newestContent('local', 100).volid;
  editWorld(worldFile, (w) => (w.restoreFail = { [volid]: 'command \'set -o pipefail && zstd -q -d -c /x | vma extract -v -r /var/tmp/vzdumptmp1.fifo - /var/tmp/vzdumptmp1\' failed: exit code 133' }));
  const r = await agentCli('restore-test', 'vzdump-100-local');
  editWorld(worldFile, (w) => delete w.restoreFail);
  assert.equal(r.code, 1);
  const run = lastRun('vzdump-100-local', 'restore-test');
  assert.equal(run.status, 'failure');
  assert.match(run.error ?? '', /^qmrestore of local:backup\/vzdump-qemu-100-.* into VM 9901: command 'set -o pipefail .* failed: exit code 133$/);
  const last = actingCalls().slice(-2).map((c) => [c.tool, ...c.argv].join(' '));
  assert.deepEqual(last, [`qmrestore ${volid} 9901 --storage local-lvm --unique 1`, 'qm destroy 9901 --purge 1 --destroy-unreferenced-disks 1 --skiplock 1']);
  assert.deepEqual(guestIds(), [100, 101, 102, 105, 200, 9900]);
});

test('a guest that never answers fails the drill at its wait timeout, and the copy is stopped and destroyed', async () => {
  editWorld(worldFile, (w) => (w.agentDelayMs = 600_000));
  const r = await agentCli('restore-test', 'vzdump-100-local');
  editWorld(worldFile, (w) => delete w.agentDelayMs);
  assert.equal(r.code, 1);
  const run = lastRun('vzdump-100-local', 'restore-test');
  assert.equal(run.error, 'VM 9901 started, but its guest agent did not answer within 3.0s (last: QEMU guest agent is not running)');
  assert.deepEqual(actingCalls().slice(-2).map((c) => [c.tool, ...c.argv].join(' ')), ['qm stop 9901 --skiplock 1', 'qm destroy 9901 --purge 1 --destroy-unreferenced-disks 1 --skiplock 1']);
  assert.deepEqual(guestIds(), [100, 101, 102, 105, 200, 9900]);
});

test('a scratch guest left by a drill that was cut short is destroyed by the next drill, if it is still that copy', async () => {
  editWorld(worldFile, (w) => w.guests.push({ vmid: 9902, type: 'qemu', name: 'web01', node: 'pve1', status: 'running', lock: 'create', config: { agent: '1' } }));
  const recordDir = join(agent.stateDir, 'vzdump', 'drills');
  mkdirSync(recordDir, { recursive: true });
  writeFileSync(join(recordDir, 'vzdump-100-local.json'), JSON.stringify({ vmid: 9902, type: 'qemu', name: 'web01', volid: 'local:backup/x', startedAt: '2026-11-01T02:00:00.000Z' }));
  const r = await agentCli('restore-test', 'vzdump-100-local');
  assert.equal(r.code, 0, r.stderr + r.stdout);
  const run = lastRun('vzdump-100-local', 'restore-test');
  assert.match(run.log_tail ?? '', /VM 9902 is left from the drill of 2026-11-01T02:00:00.000Z, which was cut short: destroying it/);
  assert.ok(calls().some((c) => c.tool === 'qm' && c.argv.join(' ') === 'destroy 9902 --purge 1 --destroy-unreferenced-disks 1 --skiplock 1'));
  assert.deepEqual(guestIds(), [100, 101, 102, 105, 200, 9900]);
  assert.ok(!existsSync(join(recordDir, 'vzdump-100-local.json')));
});

test('a drill refuses when every VMID of its range is in use, touching nothing', async () => {
  editWorld(worldFile, (w) => {
    for (const vmid of [9901, 9902]) w.guests.push({ vmid, type: 'lxc', name: `busy${vmid}`, node: 'pve2', status: 'stopped' });
  });
  const acted = actingCalls().length;
  const r = await agentCli('restore-test', 'vzdump-100-local');
  assert.equal(r.code, 1);
  assert.equal(lastRun('vzdump-100-local', 'restore-test').error, 'every VMID of restoreDrill.vmids (9900-9902) is in use: free one or widen the range; no guest was touched');
  assert.equal(actingCalls().length, acted);
  editWorld(worldFile, (w) => (w.guests = w.guests.filter((g) => g.vmid !== 9901 && g.vmid !== 9902)));
});

test('a vzdump job is refused without the proxmox: section, and with a name, asset or target other than its guest’s and storage’s', () => {
  const drillOf = (extra: string) => `, restoreDrill: { vmids: "9900-9999", storage: local-lvm${extra} }`;
  const bad = writeAgentConfig({
    name: 'pve1',
    jobs:
      job(100, 'local', 'web01', 1, '').replace('name: vzdump-100-local', 'name: web-nightly').replace('target: local', 'target: local-disk') +
      job(105, 'local', 'ct-105', 1, drillOf(', start: true, wait: { agent: true }')) +
      job(106, 'local', 'vm-106', 1, ', restoreDrill: { vmids: "99-9999", storage: local-lvm }') +
      job(107, 'local', 'vm-107', 1, drillOf(', wait: { port: 22 }')),
  });
  try {
    const r = cli(AGENT_BIN, ['check-config', '--config', bad.config]);
    assert.equal(r.code, 2);
    for (const expected of [
      /jobs\.0\.driver: a vzdump job needs the proxmox: section/,
      /jobs\.0\.name: a vzdump job of VM 100 to local is named vzdump-100-local/,
      /jobs\.0\.asset: a vzdump job protects its guest: asset vm-100 \(a VM\) or ct-100 \(a container\)/,
      /jobs\.0\.target: a vzdump job's target is its storage, local/,
      /jobs\.1\.vzdump\.restoreDrill\.wait: a container has no guest agent/,
      /jobs\.2\.vzdump\.restoreDrill\.vmids: expected a range of VMIDs like "9900-9999"/,
      /jobs\.3\.vzdump\.restoreDrill\.wait: waiting for the guest needs start: true/,
    ]) assert.match(r.stderr, expected);
  } finally {
    rmSync(bad.dir, { recursive: true, force: true });
  }
});
