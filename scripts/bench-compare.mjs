// `node scripts/bench-compare.mjs REV bench/ingest.ts [args…]`: runs one benchmark on this checkout and
// on the commit REV (a worktree beside it, sharing node_modules), alternating ROUNDS times
// (BENCH_ROUNDS, default 3) so both see the same machine, and prints each round's figures side by
// side: the before/after a change is judged by.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { root } from './setup.mjs';

const [rev, bench, ...args] = process.argv.slice(2);
if (!rev || !bench) {
  console.error('usage: node scripts/bench-compare.mjs REV bench/FILE.ts [args…]');
  process.exit(2);
}
const rounds = Number(process.env.BENCH_ROUNDS ?? 3);
const git = (...a) => execFileSync('git', a, { cwd: root, encoding: 'utf8' }).trim();
const base = git('rev-parse', '--short', rev);
const head = git('rev-parse', '--short', 'HEAD') + (git('status', '--porcelain', '--untracked-files=no') ? '+changes' : '');
const dir = mkdtempSync(join(tmpdir(), 'lifeline-bench-base-'));
git('worktree', 'add', '--detach', dir, base);
symlinkSync(join(root, 'node_modules'), join(dir, 'node_modules'));

/** One run of the benchmark in `cwd`: its printed lines (a benchmark missing there prints why). */
function once(cwd) {
  if (!existsSync(join(cwd, bench))) return [`${bench} does not exist at this commit`];
  const r = spawnSync(process.execPath, ['--import', 'tsx', bench, ...args], { cwd, encoding: 'utf8', maxBuffer: 64 << 20 });
  return `${r.stdout}${r.status === 0 ? '' : `\n(exit ${r.status}) ${r.stderr.trim().split('\n').slice(-3).join(' ')}`}`.trim().split('\n');
}

try {
  for (let i = 1; i <= rounds; i++) {
    const after = once(root);
    const before = once(dir);
    const width = Math.max(20, ...before.map((l) => l.length));
    console.log(`\n--- round ${i}/${rounds}: ${base} (before) | ${head} (after)`);
    for (let l = 0; l < Math.max(before.length, after.length); l++) console.log(`${(before[l] ?? '').padEnd(width)} | ${after[l] ?? ''}`);
  }
} finally {
  git('worktree', 'remove', '--force', dir);
  rmSync(dir, { recursive: true, force: true });
}
