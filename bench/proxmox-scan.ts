// Proxmox scan: one discovery pass over a 500-guest node (pools, nested pools, tags, snapshots,
// ~3,000 backup volumes on three storages) through the pvesh stand-ins — the scan's wall time
// (median of several, in-process from source) and the bundled agent daemon's RSS after its
// scans — beside baselines measured in the same run: one bare `pvesh` stand-in call, and the
// same daemon's idle RSS without a proxmox: section.
// The stand-ins are node processes (~40–80 ms each here); a real pvesh is a Perl start-up of a
// few hundred ms, so on a real node the scan time scales with the call count printed here.
// Run: npm run bench -- bench/proxmox-scan.ts [scans], or
//      LIFELINE_DIST=DIR node --import tsx bench/proxmox-scan.ts [scans]
import { spawn, spawnSync } from 'node:child_process';
import { appendFileSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { loadAgentConfig } from '../agent/config';
import { scanProxmox, type SnapshotCache } from '../agent/proxmox/discovery';
import { pveTools } from '../agent/proxmox/tools';
import type { World } from '../test/fixtures/pve/world';
import { archiveName, pbsName, proxmoxYaml, pveTool, writeWorld } from '../test/helpers/pve';
import { AGENT_BIN, enrollAgent, sleep, startCollector, waitFor, writeAgentConfig } from '../test/helpers/processes';
import { benchAgentFlags, flagsLabel } from './agent-flags';

const SCANS = Number(process.argv[2] ?? 5);
const GUESTS = 500;
const DAY = 86_400;

/** A fixed pseudo-random sequence, so every run scans the same world. */
function rng(seed: number): () => number {
  let x = seed;
  return () => (x = (x * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
}

function bigWorld(): World {
  const r = rng(7);
  const now = Math.floor(Date.now() / 1000);
  const pools = ['tier-1', 'prod', 'prod/tier-2', 'lab', 'lab/tier-3', 'tier-4'];
  const w: World = {
    node: 'pve1',
    guests: [],
    pools: pools.map((poolid) => ({ poolid })),
    backupJobs: [
      { id: 'daily-pbs', type: 'vzdump', schedule: '02:00', pool: 'tier-1', storage: 'pbs1', 'prune-backups': { 'keep-daily': 7, 'keep-weekly': 4 } },
      { id: 'weekly-nas', type: 'vzdump', schedule: 'sun 01:00', all: 1, exclude: '', node: 'pve1', storage: 'nas-nfs' },
      { id: 'lab-local', type: 'vzdump', schedule: 'mon..fri 21:30', pool: 'lab/tier-3', storage: 'local', 'prune-backups': { 'keep-last': 3 } },
    ],
    storages: [
      { storage: 'local', type: 'dir', content: 'iso,vztmpl,backup', path: '/var/lib/vz' },
      { storage: 'local-lvm', type: 'lvmthin', content: 'images,rootdir' },
      { storage: 'nas-nfs', type: 'nfs', content: 'backup', shared: 1 },
      { storage: 'pbs1', type: 'pbs', content: 'backup', datastore: 'store1' },
    ],
    snapshots: {},
    content: { local: [], 'nas-nfs': [], pbs1: [] },
    taskDir: '/nonexistent',
    logDir: '/nonexistent',
  };
  const excluded: number[] = [];
  for (let i = 0; i < GUESTS; i++) {
    const vmid = 1000 + i;
    const type = r() < 0.4 ? 'lxc' : 'qemu';
    const pool = r() < 0.8 ? pools[Math.floor(r() * pools.length)] : undefined;
    const tags = ['web', 'db', 'dns', `tier-${1 + Math.floor(r() * 4)}`].filter(() => r() < 0.4).join(';') || undefined;
    const template = r() < 0.03;
    w.guests.push({ vmid, type, name: `guest-${vmid}`, node: 'pve1', status: r() < 0.7 ? 'running' : 'stopped', pool, tags, template });
    if (r() < 0.05) excluded.push(vmid);
    const snaps = Math.floor(r() * 6);
    if (snaps && !template) {
      w.snapshots[String(vmid)] = Array.from({ length: snaps }, (_, s) => ({ name: `snap-${s}`, snaptime: now - Math.floor(r() * 90) * DAY, description: `before change ${s}` }));
    }
    const add = (storage: string, count: number, name: (t: number) => string) => {
      for (let k = 0; k < count; k++) {
        const t = now - k * DAY - Math.floor(r() * 3600);
        w.content[storage].push({ volid: `${storage}:backup/${name(t)}`, vmid, ctime: t, size: Math.floor(r() * 3e10), format: 'vma.zst', subtype: type });
      }
    };
    if (pool === 'tier-1') add('pbs1', 7, (t) => pbsName(type, vmid, t));
    add('nas-nfs', 4, (t) => archiveName(type, vmid, t));
    if (pool === 'lab/tier-3') add('local', 3, (t) => archiveName(type, vmid, t));
  }
  // Twenty guests on another node (the scan reads no snapshots of theirs).
  for (let i = 0; i < 20; i++) w.guests.push({ vmid: 5000 + i, type: 'qemu', name: `far-${i}`, node: 'pve2', status: 'running', pool: 'tier-1', rrd: i % 2 === 0 });
  (w.backupJobs[1] as { exclude: string }).exclude = excluded.join(',');
  return w;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
const rssMiB = (pid: number) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) / 1024;

const world = writeWorld(bigWorld());
// Thousands of calls per run: the stand-ins do not log them into the world they all read.
const env = { ...process.env, PVE_WORLD: world, PVE_RECORD_CALLS: '0' };
const worldBytes = readFileSync(world).length;

// Baseline: one bare pvesh stand-in call.
const bare: number[] = [];
for (let i = 0; i < 15; i++) {
  const t = performance.now();
  const r = spawnSync(pveTool('pvesh'), ['get', '/nodes', '--output-format', 'json'], { env });
  if (r.status !== 0) throw new Error(String(r.stderr));
  bare.push(performance.now() - t);
}

// The scan, in-process from source.
const agent = writeAgentConfig({ name: 'pve1', jobs: '  []\n' });
appendFileSync(agent.config, proxmoxYaml({ scan: '10s', timeout: '60s' }));
const config = loadAgentConfig(agent.config);
let calls = 0;
let firstScan = { ms: 0, calls: 0 };
const real = pveTools(config.proxmox!, env);
const counting = { ...real, get: <T>(path: string, params?: Record<string, string | number>) => (calls++, real.get<T>(path, params)) };
const times: number[] = [];
let summary = '';
// The first scan reads every guest's snapshot list; a daemon's later scans read the few that are
// due (discovery.ts SnapshotCache): both are measured.
const snapshotCache: SnapshotCache = new Map();
for (let i = 0; i < SCANS; i++) {
  calls = 0;
  const t = performance.now();
  const scan = await scanProxmox(config, { tools: counting, snapshotCache: i === 0 ? undefined : snapshotCache });
  if (i === 0) {
    firstScan = { ms: performance.now() - t, calls };
    // What a daemon holds after its first scans: every local guest's list read and fresh.
    for (const g of scan.message.guests) if (g.node === config.proxmox!.node && !g.template) snapshotCache.set(g.vmid, { at: Date.now(), list: [] });
    continue;
  }
  times.push(performance.now() - t);
  const volumes = scan.inventories.reduce((n, inv) => n + inv.snapshots.length, 0);
  summary = `${scan.message.guests.length} guests, ${scan.message.backupJobs.length} backup jobs → ${scan.jobs.length} catalog jobs, ${volumes} backup volumes in ${scan.inventories.length} inventories; proxmox message ${(JSON.stringify(scan.message).length / 1024).toFixed(0)} KiB; ${calls} pvesh calls per scan`;
}

// The bundled daemon's RSS: with the proxmox section after its scans, and without it (idle).
const collector = await startCollector();
enrollAgent(agent, collector);
const idleAgent = writeAgentConfig({ name: 'idle', jobs: '  []\n' });
enrollAgent(idleAgent, collector);
let output = '';
const spawnedAt = performance.now();
const scanning = spawn(process.execPath, [...benchAgentFlags, AGENT_BIN, 'daemon', '--config', agent.config], { env, stdio: ['ignore', 'ignore', 'pipe'] });
scanning.stderr!.on('data', (d) => (output += d));
const idle = spawn(process.execPath, [...benchAgentFlags, AGENT_BIN, 'daemon', '--config', idleAgent.config], { env, stdio: 'ignore' });
const scansLogged = () => output.match(/proxmox: \d+ guest backup job/g)?.length ?? 0;
await waitFor('the first scan of the daemon', () => scansLogged() >= 1, 600_000, 200);
const firstScanMs = performance.now() - spawnedAt;
await sleep(3000);
const afterFirst = rssMiB(scanning.pid!);
const idleFirst = rssMiB(idle.pid!);
// One guest more makes the next scans log again: the RSS after a later scan (written whole, as
// the stand-ins read the file while it changes).
const grown = JSON.parse(readFileSync(world, 'utf8')) as World;
grown.guests.push({ vmid: 999, type: 'qemu', name: 'late', node: 'pve1', status: 'running', pool: 'tier-1' });
writeFileSync(`${world}.tmp`, JSON.stringify(grown));
renameSync(`${world}.tmp`, world);
await waitFor('a later scan of the daemon', () => scansLogged() >= 2, 600_000, 200);
await sleep(3000);
const afterMore = rssMiB(scanning.pid!);
const idleMore = rssMiB(idle.pid!);
const failed = /proxmox scan failed/.test(output);

console.log(`proxmox scan (${process.version}, daemons with ${flagsLabel(benchAgentFlags)}, this process with ${flagsLabel(process.execArgv.filter((a) => a.startsWith('--') && a !== '--import' && !a.includes('tsx')))}, ${GUESTS} + 20 guests, world file ${(worldBytes / 1024).toFixed(0)} KiB, ${SCANS} scans)`);
console.log(`  ${summary}`);
console.log(`  first scan (every snapshot list): ${firstScan.ms.toFixed(0)} ms, ${firstScan.calls} pvesh calls`);
console.log(`  a daemon's later scan (lists fresh): median ${median(times).toFixed(0)} ms (min ${Math.min(...times).toFixed(0)}, max ${Math.max(...times).toFixed(0)}) vs one bare pvesh stand-in call: median ${median(bare).toFixed(0)} ms`);
console.log(`  daemon: its first scan logged ${(firstScanMs / 1000).toFixed(1)} s after its start (start-up, every snapshot list)`);
console.log(`  daemon RSS: ${afterFirst.toFixed(1)} MiB after its first scan, ${afterMore.toFixed(1)} MiB after a later one vs the same daemon without proxmox: ${idleFirst.toFixed(1)} / ${idleMore.toFixed(1)} MiB${failed ? ' (a scan failed: see the daemon log)' : ''}`);

scanning.kill('SIGKILL');
idle.kill('SIGKILL');
await collector.stop('SIGKILL');
process.exit(0);
