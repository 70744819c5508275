// What telling "this run has a log" costs when the runs carry their log tails, as real runs do
// (bench/evaluate.ts seeds none): the shown runs of 10,000 jobs read the way a first pass reads
// them (evaluate/gather.ts), once with HAS_LOG and once with the expression it replaced, each in
// a fresh process on its own connection (a cold page cache, as after a start), alternated.
// Usage: node --import tsx bench/has-log.ts [jobs = 10000] [log KB = 16] [rounds = 3]
import { spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openDb } from '../collector/db';
import { HAS_LOG } from '../collector/evaluate/gather';
import { openEvaluatorDb } from '../collector/evaluate/worker';

const OLD = `(log_tail IS NOT NULL AND log_tail <> '')`;

if (process.argv[2] === '--read') {
  const db = openEvaluatorDb(process.argv[3]);
  const ids = db.prepare<[], number>(`SELECT id FROM runs`).pluck().all();
  const runs = db
    .prepare<[string], unknown[]>(
      `SELECT id, run_id, operation, status, started_at, finished_at, duration_ms, bytes_added, bytes_total, error, retry_at, attempt,
              exit_code, files, snapshot_id, ${process.argv[4] === 'old' ? OLD : HAS_LOG} FROM runs WHERE id IN (SELECT value FROM json_each(?))`,
    )
    .raw(true);
  const started = performance.now();
  const rows = runs.all(JSON.stringify(ids));
  console.log(performance.now() - started, rows.filter((r) => r[15] === 1).length);
  process.exit(0);
}

const [jobs = 10_000, logKb = 16, rounds = 3] = process.argv.slice(2).map(Number);
const dir = mkdtempSync(join(tmpdir(), 'lifeline-bench-has-log-'));
const db = openDb(join(dir, 'lifeline.db'));
const log = 'restic backup: processed 1234 files, 5.6 GiB in 0:42\n'.repeat(Math.ceil((logKb * 1024) / 53)).slice(0, logKb * 1024);
db.transaction(() => {
  const agentId = Number(db.prepare(`INSERT INTO agents (name, public_key, source, created_at) VALUES ('bench', 'x', 'config', 0)`).run().lastInsertRowid);
  const run = db.prepare(`INSERT INTO runs (agent_id, run_id, job, operation, trigger, started_at, finished_at, status, log_tail) VALUES (?, ?, ?, 'backup', 'schedule', ?, ?, 'success', ?)`);
  // Every tenth without a log, and one in ten of those with an empty one.
  for (let j = 0; j < jobs; j++) run.run(agentId, randomUUID(), `job-${j}`, j, j + 1, j % 10 ? log : j % 100 ? null : '');
})();
db.close();

const read = (expr: 'old' | 'new') => {
  const child = spawnSync(process.execPath, [...process.execArgv, process.argv[1], '--read', join(dir, 'lifeline.db'), expr], { encoding: 'utf8' });
  if (child.status !== 0) throw new Error(child.stderr);
  const [ms, withLog] = child.stdout.trim().split(' ').map(Number);
  return { ms, withLog };
};
console.log(`has-log benchmark: ${jobs} runs, ${logKb} KB log tails on 9 in 10, ${process.version}`);
for (let r = 1; r <= rounds; r++) {
  const old = read('old');
  const now = read('new');
  if (old.withLog !== now.withLog) throw new Error(`the two expressions disagree: ${old.withLog} against ${now.withLog} runs with a log`);
  console.log(`  round ${r}: log_tail <> '' ${old.ms.toFixed(0)} ms, HAS_LOG ${now.ms.toFixed(0)} ms, ratio ${(now.ms / old.ms).toFixed(2)} (${now.withLog} runs with a log)`);
}
rmSync(dir, { recursive: true, force: true });
