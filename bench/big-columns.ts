// What reading a small column beside a big one costs, for the two places a first pass does it
// over every job (evaluate/gather.ts): telling whether each shown run has a log (log tails up to
// 64 KB, on overflow pages), and reading each listing's snapshot times (a listing of a few KB
// or more). bench/evaluate.ts seeds no logs and 30-snapshot listings, so it shows neither.
// Each read in a fresh process on its own connection (a cold page cache, as after a start),
// alternated with the form it replaced: `log_tail <> ''` (reads every log whole) and the
// inventory table before migration 16 (times stored after the listing).
// Usage: node --import tsx bench/big-columns.ts [jobs = 10000] [log KB = 16] [snapshots = 100] [rounds = 3]
import { spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openDb } from '../collector/db';
import { HAS_LOG } from '../collector/evaluate/gather';
import { openEvaluatorDb } from '../collector/evaluate/worker';

const OLD_HAS_LOG = `(log_tail IS NOT NULL AND log_tail <> '')`;

if (process.argv[2] === '--read') {
  const [, , , file, what] = process.argv;
  const db = openEvaluatorDb(file);
  const keys = JSON.stringify(db.prepare<[], unknown[]>(`SELECT agent_id, job, target FROM inventory`).raw(true).all());
  const ids = JSON.stringify(db.prepare<[], number>(`SELECT id FROM runs`).pluck().all());
  // As gather.ts reads them: by key or id, one statement for all.
  const sql = what.startsWith('log')
    ? `SELECT id, run_id, status, started_at, finished_at, error, ${what === 'log-old' ? OLD_HAS_LOG : HAS_LOG} FROM runs WHERE id IN (SELECT value FROM json_each(?))`
    : `WITH k AS (SELECT json_extract(value, '$[0]') AS a, json_extract(value, '$[1]') AS j, json_extract(value, '$[2]') AS t FROM json_each(?))
       SELECT i.seq, i.times, i.verified, i.updated_at FROM k LEFT JOIN ${what === 'times-old' ? 'inventory_before_16' : 'inventory'} i ON i.agent_id = k.a AND i.job = k.j AND i.target = k.t`;
  const statement = db.prepare<[string], unknown[]>(sql).raw(true);
  const started = performance.now();
  const rows = statement.all(what.startsWith('log') ? ids : keys);
  console.log(performance.now() - started, rows.filter((r) => r.at(-1) === 1).length);
  process.exit(0);
}

const [jobs = 10_000, logKb = 16, snapshots = 100, rounds = 3] = process.argv.slice(2).map(Number);
const dir = mkdtempSync(join(tmpdir(), 'lifeline-bench-big-columns-'));
const file = join(dir, 'lifeline.db');
const db = openDb(file);
const log = 'restic backup: processed 1234 files, 5.6 GiB in 0:42\n'.repeat(Math.ceil((logKb * 1024) / 53)).slice(0, logKb * 1024);
const listing = Array.from({ length: snapshots }, (_, k) => ({ id: randomUUID().replaceAll('-', '').repeat(2), time: new Date(1.7e12 - k * 86_400_000).toISOString(), bytes: 5_000_000_000 + k }));
db.exec(`CREATE TABLE inventory_before_16 (agent_id INTEGER NOT NULL, job TEXT NOT NULL, target TEXT NOT NULL, snapshots TEXT NOT NULL, seq INTEGER NOT NULL,
           updated_at INTEGER NOT NULL, times TEXT, verified TEXT, PRIMARY KEY (agent_id, job, target))`);
db.transaction(() => {
  const agentId = Number(db.prepare(`INSERT INTO agents (name, public_key, source, created_at) VALUES ('bench', 'x', 'config', 0)`).run().lastInsertRowid);
  const run = db.prepare(`INSERT INTO runs (agent_id, run_id, job, operation, trigger, started_at, finished_at, status, log_tail) VALUES (?, ?, ?, 'backup', 'schedule', ?, ?, 'success', ?)`);
  const columns = '(agent_id, job, target, snapshots, times, seq, updated_at) VALUES (?, ?, ?, ?, ?, 1, 0)';
  const inventory = [db.prepare(`INSERT INTO inventory ${columns}`), db.prepare(`INSERT INTO inventory_before_16 ${columns}`)];
  const [snapshotsText, timesText] = [JSON.stringify(listing), JSON.stringify(listing.map((s) => Date.parse(s.time)))];
  for (let j = 0; j < jobs; j++) {
    // Every tenth run without a log, and one in ten of those with an empty one.
    run.run(agentId, randomUUID(), `job-${j}`, j, j + 1, j % 10 ? log : j % 100 ? null : '');
    for (const i of inventory) i.run(agentId, `job-${j}`, 'usb', snapshotsText, timesText);
  }
})();
db.close();

const counts = new Map<string, number>();
const read = (what: string) => {
  const child = spawnSync(process.execPath, [...process.execArgv, process.argv[1], '--read', file, what], { encoding: 'utf8' });
  if (child.status !== 0) throw new Error(child.stderr);
  const [ms, withLog] = child.stdout.trim().split(' ').map(Number);
  counts.set(what, withLog);
  return ms;
};
console.log(`big-columns benchmark: ${jobs} jobs; runs with ${logKb} KB log tails (9 in 10); listings of ${snapshots} snapshots (${(JSON.stringify(listing).length / 1024).toFixed(1)} KB); ${process.version}`);
for (let r = 1; r <= rounds; r++) {
  const [logOld, logNew, timesOld, timesNew] = ['log-old', 'log', 'times-old', 'times'].map(read);
  if (counts.get('log') !== counts.get('log-old')) throw new Error(`the two forms disagree: ${counts.get('log')} against ${counts.get('log-old')} runs with a log`);
  console.log(`  round ${r}: has a log: ${logNew.toFixed(0)} ms against ${logOld.toFixed(0)} (log_tail <> ''), ratio ${(logNew / logOld).toFixed(2)};` +
    ` listing times: ${timesNew.toFixed(0)} ms against ${timesOld.toFixed(0)} (listing first), ratio ${(timesNew / timesOld).toFixed(2)}`);
}
rmSync(dir, { recursive: true, force: true });
