// Ingest's SQLite part alone, in this process: signed-and-validated batches of 100 run messages
// (20 jobs per agent, restic-style log tails) stored by the real ingest (collector/ingest.ts) into
// a real collector database (all migrations, synchronous=FULL), 15 batches per transaction as the
// group commit gathers them under load. Baseline in the same run: the same rows inserted into a
// bare table with the runs table's columns and no index, one statement a row, same transactions.
// No HTTP, no JSON, no signatures: the figure moves only with the schema and ingest's statements.
//
// Usage: node --import tsx bench/ingest-sqlite.ts [commits = 80]
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openDb } from '../collector/db';
import { createIngest } from '../collector/ingest';
import type { Message } from '../shared/protocol';
import { newRunId } from '../shared/run-id';

const COMMITS = Number(process.argv[2] ?? 80);
const BATCHES_PER_COMMIT = 15;
const AGENTS = 32;
const LOG = 'restic backup: processed 1234 files, 5.6 GiB in 0:42\n'.repeat(4);

const dir = mkdtempSync(join(tmpdir(), 'lifeline-bench-ingest-sqlite-'));
const seqs = new Map<string, number>();
const batch = (agent: string): Message[] =>
  Array.from({ length: 100 }, () => {
    const seq = (seqs.get(agent) ?? 0) + 1;
    seqs.set(agent, seq);
    const now = new Date().toISOString();
    return {
      kind: 'run', agent, seq, sentAt: now, runId: newRunId(), job: `job-${seq % 20}`, operation: 'backup', trigger: 'schedule',
      startedAt: now, finishedAt: now, status: 'success', exitCode: 0, durationMs: 42_000, bytesAdded: 123_456, bytesTotal: 5_600_000_000,
      files: 1234, snapshotId: 'a1b2c3d4', logTail: LOG,
    } as Message;
  });
const work = Array.from({ length: COMMITS }, (_, c) => Array.from({ length: BATCHES_PER_COMMIT }, (_, i) => `bench-${(c * BATCHES_PER_COMMIT + i) % AGENTS}`)).map((agents) =>
  agents.map((a) => [a, batch(a)] as const),
);
const messages = COMMITS * BATCHES_PER_COMMIT * 100;

function lifeline(): number {
  const db = openDb(join(dir, 'lifeline.db'));
  const add = db.prepare(`INSERT INTO agents (name, public_key, source, created_at) VALUES (?, 'x', 'config', 0)`);
  const ids = new Map(Array.from({ length: AGENTS }, (_, i) => [`bench-${i}`, Number(add.run(`bench-${i}`).lastInsertRowid)]));
  const ingest = createIngest(db);
  const commit = db.transaction((items: (typeof work)[number]) => {
    for (const [agent, msgs] of items) ingest(ids.get(agent)!, msgs, Date.now());
  });
  const t0 = performance.now();
  for (const items of work) commit.immediate(items);
  const ms = performance.now() - t0;
  db.close();
  return ms;
}

function bare(): number {
  const db = openDb(join(dir, 'bare.db'));
  db.exec(`CREATE TABLE bare_runs (agent TEXT, run_id TEXT, job TEXT, operation TEXT, trigger TEXT, started_at INTEGER, finished_at INTEGER, status TEXT,
                                   exit_code INTEGER, duration_ms INTEGER, bytes_added INTEGER, bytes_total INTEGER, files INTEGER, snapshot_id TEXT, log_tail TEXT)`);
  const insert = db.prepare(`INSERT INTO bare_runs VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`);
  const commit = db.transaction((items: (typeof work)[number]) => {
    for (const [agent, msgs] of items) {
      for (const m of msgs) {
        if (m.kind !== 'run') continue;
        const t = Date.parse(m.startedAt);
        insert.run(agent, m.runId, m.job, m.operation, m.trigger, t, t, m.status, m.exitCode, m.durationMs, m.bytesAdded ?? null, m.bytesTotal ?? null, m.files ?? null, m.snapshotId ?? null, m.logTail);
      }
    }
  });
  const t0 = performance.now();
  for (const items of work) commit.immediate(items);
  const ms = performance.now() - t0;
  db.close();
  return ms;
}

const base = bare();
const ms = lifeline();
rmSync(dir, { recursive: true, force: true });
const rate = (t: number) => Math.round((messages / t) * 1000).toLocaleString('en-US');
console.log(`in-process ingest: ${messages.toLocaleString('en-US')} run messages in ${COMMITS} commits of ${BATCHES_PER_COMMIT} batches of 100, ${AGENTS} agents × 20 jobs, ${process.version}`);
console.log(`  bare table, no index:  ${rate(base)} msg/s (${base.toFixed(0)} ms)`);
console.log(`  lifeline ingest:       ${rate(ms)} msg/s (${ms.toFixed(0)} ms)`);
console.log(`  ratio lifeline/bare:   ${(base / ms).toFixed(2)}`);
