// restic overhead: wall time of `restic backup --json` run directly vs through
// `lifeline-agent run JOB` (the bundled agent reporting to a real collector), each into a fresh
// repository, alternated, medians; and the agent's peak RSS for a small and a large data set,
// to show it stays flat however much restic prints.
// Run: npm run bench -- bench/restic-overhead.ts [runs], or
//      LIFELINE_DIST=DIR node --import tsx bench/restic-overhead.ts [runs]
// The ~500 MB data set is generated once under $TMPDIR/lifeline-bench-restic-data and reused.
import { spawn, execFileSync } from 'node:child_process';
import { randomFillSync } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { AGENT_BIN, enrollAgent, startCollector, tempDir, writeAgentConfig } from '../test/helpers/processes';
import { benchAgentFlags, flagsLabel } from './agent-flags';

const RUNS = Number(process.argv[2] ?? 3);
const DATA = join(tmpdir(), 'lifeline-bench-restic-data');
const MiB = 2 ** 20;

// A fixed mix of sizes (seeded), random content so restic can neither compress nor dedupe it.
function sizes(seed: number, groups: [count: number, min: number, max: number][]): number[] {
  let x = seed;
  const next = () => ((x = (x * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  return groups.flatMap(([count, min, max]) => Array.from({ length: count }, () => Math.round(min + next() * (max - min))));
}
const SETS = {
  small: sizes(1, [[50, 1024, 40 * 1024]]),
  large: sizes(2, [[3, 64 * MiB, 64 * MiB], [150, 256 * 1024, 3 * MiB], [3000, 1024, 40 * 1024]]),
};

function ensureData(name: keyof typeof SETS): { dir: string; files: number; bytes: number } {
  const dir = join(DATA, name);
  const list = SETS[name];
  const bytes = list.reduce((a, b) => a + b, 0);
  const marker = join(dir, '.complete');
  if (!existsSync(marker) || readFileSync(marker, 'utf8') !== String(bytes)) {
    rmSync(dir, { recursive: true, force: true });
    const buf = Buffer.alloc(MiB);
    list.forEach((size, i) => {
      const sub = join(dir, `d${i % 20}`);
      mkdirSync(sub, { recursive: true });
      const fd = openSync(join(sub, `f${i}.bin`), 'w');
      for (let left = size; left > 0; left -= MiB) writeSync(fd, randomFillSync(buf), 0, Math.min(left, MiB));
      closeSync(fd);
    });
    writeFileSync(marker, String(bytes));
  }
  // Read it all once, so no measured run pays for a cold page cache.
  for (const sub of readdirSync(dir)) if (statSync(join(dir, sub)).isDirectory()) for (const f of readdirSync(join(dir, sub))) readFileSync(join(dir, sub, f));
  return { dir, files: list.length, bytes };
}

const work = tempDir('lifeline-bench-restic-');
const passFile = join(work, 'restic.pass');
writeFileSync(passFile, 'bench-password\n', { mode: 0o600 });
const repo = join(work, 'repo');
const cache = join(work, 'cache');
const resticEnv = { ...process.env, RESTIC_REPOSITORY: repo, RESTIC_PASSWORD_FILE: passFile, RESTIC_CACHE_DIR: cache };

function freshRepo(): void {
  rmSync(repo, { recursive: true, force: true });
  rmSync(cache, { recursive: true, force: true });
  execFileSync('restic', ['init'], { env: resticEnv, stdio: 'ignore' });
}

/** Runs a program to its end with stdout drained; returns wall ms and, if asked, the peak RSS (KiB) seen in /proc. */
function timed(argv: string[], env: NodeJS.ProcessEnv, sampleRss = false): Promise<{ ms: number; code: number | null; hwmKiB: number }> {
  return new Promise((resolve) => {
    const t0 = performance.now();
    const child = spawn(argv[0], argv.slice(1), { env, stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout.resume();
    child.stderr.resume();
    let hwmKiB = 0;
    const poll = () => {
      try {
        const m = /VmHWM:\s+(\d+)/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'));
        if (m) hwmKiB = Math.max(hwmKiB, Number(m[1]));
      } catch {
        /* already gone */
      }
    };
    const timer = sampleRss ? setInterval(poll, 20) : undefined;
    child.on('exit', (code) => {
      const ms = performance.now() - t0;
      clearInterval(timer);
      resolve({ ms, code, hwmKiB });
    });
  });
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const s = (ms: number) => `${(ms / 1000).toFixed(2)} s`;

const collector = await startCollector();
const jobs = (['small', 'large'] as const)
  .map((name) => `  - name: ${name}
    asset: bench-${name}
    tier: 2
    target: local-disk
    retention: { last: 100 }
    driver: restic
    restic: { repository: ${repo}, passwordFile: ${passFile}, paths: [${join(DATA, name)}], cacheDir: ${cache} }
`)
  .join('');
const agent = writeAgentConfig({ name: 'bench-restic', jobs });
enrollAgent(agent, collector);
const lastBackupMs = (job: string) => {
  const db = new Database(collector.db, { readonly: true });
  try {
    return (db.prepare("SELECT duration_ms AS ms FROM runs WHERE job = ? AND operation = 'backup' ORDER BY started_at DESC LIMIT 1").get(job) as { ms: number }).ms;
  } finally {
    db.close();
  }
};

const version = execFileSync('restic', ['version'], { encoding: 'utf8' }).trim().split(' ').slice(0, 2).join(' ');
console.log(`restic overhead (${version}, node ${process.version} ${flagsLabel(benchAgentFlags)}, ${RUNS} runs per mode, a fresh repository per run, alternated)`);
for (const name of ['small', 'large'] as const) {
  const data = ensureData(name);
  const direct: number[] = [];
  const backupOp: number[] = [];
  const cliWall: number[] = [];
  let hwm = 0;
  for (let i = 0; i < RUNS; i++) {
    freshRepo();
    const d = await timed(['restic', 'backup', '--json', data.dir], resticEnv);
    if (d.code !== 0) throw new Error(`restic backup exited ${d.code}`);
    direct.push(d.ms);
    freshRepo();
    const a = await timed([process.execPath, ...benchAgentFlags, AGENT_BIN, 'run', name, '--config', agent.config], process.env, true);
    if (a.code !== 0) throw new Error(`lifeline-agent run ${name} exited ${a.code}`);
    cliWall.push(a.ms);
    backupOp.push(lastBackupMs(name));
    hwm = Math.max(hwm, a.hwmKiB);
  }
  const base = median(direct);
  console.log(`  ${name}: ${data.files} files, ${(data.bytes / MiB).toFixed(0)} MiB`);
  console.log(`    restic backup --json directly:            median ${s(base)}  (${direct.map(s).join(', ')})`);
  console.log(`    backup operation in lifeline-agent run:   median ${s(median(backupOp))}  → ratio ${(median(backupOp) / base).toFixed(3)} (target ≤ 1.03)`);
  console.log(`    whole lifeline-agent run (node start, backup, forget --dry-run, snapshots, delivery): median ${s(median(cliWall))}  → ratio ${(median(cliWall) / base).toFixed(3)}`);
  console.log(`    agent peak RSS (VmHWM of the lifeline-agent process, restic not included): ${(hwm / 1024).toFixed(1)} MiB`);
}

await collector.stop('SIGKILL');
rmSync(work, { recursive: true, force: true });
process.exit(0);
