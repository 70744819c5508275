// The vzdump hook's cost per call: vzdump waits for each of the dozen calls per guest, so each
// should cost about a bare `node` start (target: ≤ 1.5× `node -e 0`, measured in the same run).
// Calls go through the wrapper `proxmox install-hook` writes (/bin/sh exec node), with the
// emptied environment vzdump gives; the cases alternate, so machine noise hits them alike. The
// spool is emptied after each round (the daemon sends as it goes), except in the backlog case:
// 2,000 messages waiting, about a day of heartbeats with the collector down.
// Run: npm run bench -- bench/vzdump-hook.ts (builds dist/ first), or
//      node --import tsx bench/vzdump-hook.ts [rounds]
import { spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { wrapperScript } from '../agent/proxmox/install-hook';
import { Spool } from '../agent/spool';
import { AGENT_BIN, tempDir } from '../test/helpers/processes';
import { benchAgentFlags, flagsLabel } from './agent-flags';

const ROUNDS = Number(process.argv[2] ?? 60);
const HOOK_BIN = resolve(AGENT_BIN, '..', 'lifeline-vzdump-hook.cjs');
const BACKLOG = 2000;

const dir = tempDir('lifeline-bench-hook-');
const logDir = join(dir, 'log');
mkdirSync(logDir);

/** An agent config and the wrapper install-hook writes for it. */
function setup(name: string): { wrapper: string; stateDir: string } {
  const stateDir = join(dir, `${name}-state`);
  const config = join(dir, `${name}.yaml`);
  writeFileSync(
    config,
    `agent:\n  name: pve1\n  collector: http://127.0.0.1:9\n  stateDir: ${stateDir}\n  spool: { maxBytes: 64MiB, batch: 100 }\n` +
      `targets:\n  - { name: local, location: onsite, media: disk }\njobs: []\nproxmox:\n  logDir: ${logDir}\n  taskDir: ${join(dir, 'tasks')}\n`,
  );
  const wrapper = join(dir, `${name}-vzdump-hook`);
  const cacheFile = join(stateDir, 'vzdump', 'hook-settings.json');
  writeFileSync(wrapper, wrapperScript({ nodeBin: process.execPath, hookBundle: HOOK_BIN, configFile: config, cacheFile, nodeFlags: benchAgentFlags }), { mode: 0o755 });
  return { wrapper, stateDir };
}
const clean = setup('clean');
const backlog = setup('backlog');
const spool = new Spool(join(backlog.stateDir, 'spool'), { maxBytes: 64 * 2 ** 20, agent: 'pve1' });
for (let i = 0; i < BACKLOG; i++) spool.append({ kind: 'heartbeat', uptimeMs: i * 60_000, spool: { pending: i, dropped: 0 } });

// A per-guest log as qemu-server leaves it at backup-end: progress lines, the size, the prune.
const stamp = '2026-11-29 02:00:03';
const guestLog = [
  'Starting Backup of VM 100 (qemu)', 'status = running', 'VM Name: web01', "include disk 'scsi0' 'local-zfs:vm-100-disk-0' 32G",
  'backup mode: snapshot', 'ionice priority: 7', "creating vzdump archive '/var/lib/vz/dump/vzdump-qemu-100-2026_11_29-02_00_03.vma.zst'",
  ...Array.from({ length: 100 }, (_, i) => `${String(i + 1).padStart(3)}% (${((32 * (i + 1)) / 100).toFixed(1)} GiB of 32.0 GiB) in ${i}s, read: 450.0 MiB/s, write: 440.0 MiB/s`),
  'transferred 32.00 GiB in 72 seconds (455.1 MiB/s)', 'archive file size: 1.20GB', 'prune older backups with retention: keep-daily=7', 'pruned 0 backup(s)',
].map((l) => `${stamp} INFO: ${l}`).join('\n');
writeFileSync(join(logDir, 'qemu-100.log'), `${guestLog}\n`);

const guestEnv = {
  STOREID: 'local', DUMPDIR: '/var/lib/vz/dump', VMTYPE: 'qemu', HOSTNAME: 'web01',
  TARGET: '/var/lib/vz/dump/vzdump-qemu-100-2026_11_29-02_00_03.vma.zst', LOGFILE: '/var/lib/vz/dump/vzdump-qemu-100-2026_11_29-02_00_03.log',
  LC_ALL: 'C', LVM_SUPPRESS_FD_WARNINGS: '1',
};

const call = (cmd: string, args: string[], env: Record<string, string>) => () => {
  const r = spawnSync(cmd, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')}: exit ${r.status}: ${r.stderr}`);
};
const guest = (wrapper: string, phase: string) => call(wrapper, [phase, 'snapshot', '100'], guestEnv);
const cases: { name: string; run: () => void }[] = [
  { name: 'bare node -e 0', run: call(process.execPath, ['-e', '0'], {}) },
  { name: 'hook pre-stop (a phase it ignores)', run: guest(clean.wrapper, 'pre-stop') },
  { name: 'hook backup-start (spools run-start)', run: guest(clean.wrapper, 'backup-start') },
  { name: 'hook backup-end (reads log, spools run)', run: guest(clean.wrapper, 'backup-end') },
  { name: `hook backup-end, ${BACKLOG} messages pending`, run: guest(backlog.wrapper, 'backup-end') },
  { name: 'full agent bundle: vzdump-hook backup-end', run: call(process.execPath, [...benchAgentFlags, AGENT_BIN, 'vzdump-hook', 'backup-end', 'snapshot', '100', '--config', join(dir, 'clean.yaml')], guestEnv) },
];
const drain = () => {
  const d = join(clean.stateDir, 'spool');
  for (const f of readdirSync(d)) if (f.endsWith('.json')) rmSync(join(d, f));
};

const times = new Map<string, number[]>(cases.map((c) => [c.name, []]));
for (const c of cases) c.run(); // page cache warm, settings cache made
for (let round = 0; round < ROUNDS; round++) {
  for (const c of cases) {
    const t0 = process.hrtime.bigint();
    c.run();
    times.get(c.name)!.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  drain();
}

const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)];
};
const bare = times.get(cases[0].name)!;
console.log(`vzdump hook per call (${process.version}, hook and agent with ${flagsLabel(benchAgentFlags)}, ${ROUNDS} rounds, cases alternating; through the /bin/sh wrapper, emptied environment)`);
for (const c of cases) {
  const xs = times.get(c.name)!;
  const p50 = pct(xs, 50);
  const p99 = pct(xs, 99);
  console.log(`  ${c.name.padEnd(44)} p50 ${p50.toFixed(1).padStart(6)} ms  p99 ${p99.toFixed(1).padStart(6)} ms  → ${(p50 / pct(bare, 50)).toFixed(2)}× / ${(p99 / pct(bare, 99)).toFixed(2)}× bare`);
}
console.log('  (target: hook calls ≤ 1.50× bare node)');
rmSync(dir, { recursive: true, force: true });
