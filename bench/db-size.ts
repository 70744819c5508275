// Database size under bounded history (collector/history/) beside the same stream kept forever.
//
// Usage: node --import tsx bench/db-size.ts [days for 100 jobs = 365] [days for 10,000 jobs = 120]
//
// Each case feeds two collector databases (collector/db.ts openDb, all migrations) the same
// simulated stream through the real ingest (collector/ingest.ts): per agent a heartbeat a minute
// (the agent's default), and per job a run-start and a run with a log tail of 1.5–4 KiB (restic
// style lines with varying numbers). Jobs are 10 % hourly, 70 % daily and 20 % weekly; 3 % of runs
// fail, each failure opening an incident that resolves a day later with two sent notifications,
// and a weekly report goes out. One database is pruned once a simulated day with the default
// `history:` windows (serve prunes hourly; the size is the same), the other never. Sizes are the
// file after a WAL checkpoint. Host facts (fs_usage, pruned by the evaluator at 35 days either
// way) are left out. synchronous=OFF while seeding: it changes speed, not size. Prints figures;
// asserts nothing.
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openDb, type Db } from '../collector/db';
import { createIngest, type Ingest } from '../collector/ingest';
import { HISTORY_DEFAULTS, historySchema, pruneCutoffs } from '../collector/history/policy';
import { pruneHistory } from '../collector/history/prune';
import type { Message } from '../shared/protocol';

const DAY = 86_400_000;
const HOUR = 3_600_000;
const MiB = 2 ** 20;
const START = Date.parse('2026-01-01T00:00:00Z');

const days100 = Number(process.argv[2] ?? 365);
const days10k = Number(process.argv[3] ?? 120);

/** A deterministic generator, so both databases and every run of the bench see the same stream. */
function rng(seed: number) {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function logTail(r: () => number): string {
  const lines: string[] = [];
  const target = 1536 + Math.floor(r() * 2560);
  let n = 0;
  const size = () => `${(r() * 900).toFixed(3)} MiB`;
  lines.push(`using parent snapshot ${Math.floor(r() * 2 ** 32).toString(16).padStart(8, '0')}`);
  while (n < target) {
    const kind = r();
    const line =
      kind < 0.5
        ? `[${Math.floor(r() * 60)}:${String(Math.floor(r() * 60)).padStart(2, '0')}] ${(r() * 100).toFixed(2)}%  ${Math.floor(r() * 90000)} files ${size()}, total ${Math.floor(r() * 200000)} files ${size()}, 0 errors ETA ${Math.floor(r() * 30)}:${String(Math.floor(r() * 60)).padStart(2, '0')}`
        : kind < 0.8
          ? `Files:         ${Math.floor(r() * 500)} new,   ${Math.floor(r() * 900)} changed, ${Math.floor(r() * 90000)} unmodified`
          : `Added to the repository: ${size()} (${size()} stored)`;
    lines.push(line);
    n += line.length + 1;
  }
  return lines.join('\n');
}

type Schedule = 'hourly' | 'daily' | 'weekly';

interface Sim {
  agents: number;
  jobsPerAgent: number;
  days: number;
}

interface Store {
  db: Db;
  file: string;
  ingest: Ingest;
  bounded: boolean;
}

function store(dir: string, name: string, bounded: boolean): Store {
  const file = join(dir, `${name}.db`);
  const db = openDb(file);
  db.pragma('synchronous = OFF');
  return { db, file, ingest: createIngest(db), bounded };
}

function sizeOf(s: Store): number {
  s.db.pragma('wal_checkpoint(TRUNCATE)');
  return statSync(s.file).size;
}

const rows = (db: Db, sql: string) => db.prepare(sql).pluck().get() as number;

function simulate(sim: Sim): void {
  const jobs = sim.agents * sim.jobsPerAgent;
  console.log(`\n${jobs.toLocaleString('en')} jobs (${sim.agents} agents × ${sim.jobsPerAgent}), ${sim.days} simulated days`);
  const dir = mkdtempSync(join(tmpdir(), 'lifeline-db-size-'));
  const stores = [store(dir, 'bounded', true), store(dir, 'unbounded', false)];
  const policy = historySchema.parse({});
  const schedules: Schedule[] = [];
  for (let j = 0; j < sim.jobsPerAgent; j++) schedules.push(j % 10 === 0 ? 'hourly' : j % 10 < 8 ? 'daily' : 'weekly');
  const names = Array.from({ length: sim.agents }, (_, a) => `host${a}`);
  for (const s of stores) {
    const ins = s.db.prepare(`INSERT INTO agents (name, public_key, source, created_at) VALUES (?, 'k', 'config', ?)`);
    for (const n of names) ins.run(n, START);
  }
  const seqs = new Array<number>(sim.agents).fill(0);
  const incident = stores.map((s) =>
    s.db.prepare(
      `INSERT INTO incidents (key, rule, severity, agent, job, asset, tier, title, detail, opened_at, since, last_seen_failing_at, resolved_at, last_notified_at)
       VALUES (?, 'run-failed', 'critical', ?, ?, ?, 2, ?, ?, ?, ?, ?, ?, ?)`,
    ),
  );
  const notification = stores.map((s) =>
    s.db.prepare(`INSERT INTO outbox (incident_id, channel, event, payload, created_at, next_attempt_at, attempts, sent_at) VALUES (?, 'ntfy', ?, ?, ?, NULL, 1, ?)`),
  );
  const started = performance.now();
  const table: string[][] = [['day', 'bounded MiB', 'unbounded MiB', 'runs kept', 'with log', 'messages kept', 'runs stored (unbounded)']];
  let pruneMs = 0;
  let prunes = 0;
  const sizes: { day: number; bounded: number; unbounded: number }[] = [];
  for (let day = 0; day < sim.days; day++) {
    const r = rng(day + 1);
    for (let hour = 0; hour < 24; hour++) {
      const at = START + day * DAY + hour * HOUR;
      for (let a = 0; a < sim.agents; a++) {
        const batch: Message[] = [];
        const msg = (m: object, t: number) => batch.push({ ...m, agent: names[a], seq: ++seqs[a], sentAt: new Date(t).toISOString() } as Message);
        for (let min = 0; min < 60; min++) msg({ kind: 'heartbeat', uptimeMs: 1000, spool: { pending: 0, dropped: 0 } }, at + min * 60_000);
        const failures: { job: string; t: number }[] = [];
        for (let j = 0; j < sim.jobsPerAgent; j++) {
          const sched = schedules[j];
          const due = sched === 'hourly' || (hour === (j % 6) + 1 && (sched === 'daily' || day % 7 === j % 7));
          if (!due) continue;
          const job = `job${j}`;
          // A UUID, as the agent gives every run.
          const runId = `${(a * 1e6 + j).toString(16).padStart(8, '0')}-${day.toString(16).padStart(4, '0')}-4${hour.toString(16).padStart(3, '0')}-8000-${Math.floor(r() * 2 ** 48).toString(16).padStart(12, '0')}`;
          const startedAt = at + (j % 50) * 1000;
          const durationMs = 30_000 + Math.floor(r() * 600_000);
          const failed = r() < 0.03;
          msg({ kind: 'run-start', runId, job, operation: 'backup', trigger: 'schedule', startedAt: new Date(startedAt).toISOString() }, startedAt);
          msg(
            {
              kind: 'run',
              runId,
              job,
              operation: 'backup',
              trigger: 'schedule',
              startedAt: new Date(startedAt).toISOString(),
              finishedAt: new Date(startedAt + durationMs).toISOString(),
              status: failed ? 'failure' : 'success',
              exitCode: failed ? 1 : 0,
              durationMs,
              bytesAdded: Math.floor(r() * 2 ** 30),
              bytesTotal: 2 ** 36 + Math.floor(r() * 2 ** 34),
              files: Math.floor(r() * 200_000),
              snapshotId: Math.floor(r() * 2 ** 52).toString(16),
              ...(failed ? { error: 'Fatal: unable to open repository: connection refused' } : {}),
              logTail: logTail(r),
            },
            startedAt + durationMs,
          );
          if (failed) failures.push({ job, t: startedAt + durationMs });
        }
        const receivedAt = at + HOUR - 1000;
        stores.forEach((s, i) => {
          s.db.transaction(() => {
            s.ingest(a + 1, batch, receivedAt);
            for (const f of failures) {
              const key = `run-failed:${names[a]}:${f.job}:${f.t}`;
              const id = Number(incident[i].run(key, names[a], f.job, f.job, `${f.job} failed`, 'Fatal: unable to open repository: connection refused', f.t, f.t, f.t, f.t + DAY, f.t).lastInsertRowid);
              const payload = JSON.stringify({ title: `${f.job} failed on ${names[a]}`, body: 'Fatal: unable to open repository: connection refused'.repeat(4) });
              notification[i].run(id, 'open', payload, f.t, f.t + 2000);
              notification[i].run(id, 'resolved', payload, f.t + DAY, f.t + DAY + 2000);
            }
          })();
        });
      }
    }
    const now = START + (day + 1) * DAY;
    if (day % 7 === 6) for (const n of notification) n.run(null, 'report', 'x'.repeat(2000), now, now + 1000);
    const t0 = performance.now();
    pruneHistory(stores[0].db, pruneCutoffs(now, policy));
    pruneMs += performance.now() - t0;
    prunes++;
    if ((day + 1) % (sim.days < 60 ? 5 : 30) === 0 || day + 1 === sim.days) {
      const [b, u] = stores.map(sizeOf);
      sizes.push({ day: day + 1, bounded: b, unbounded: u });
      table.push([
        String(day + 1),
        (b / MiB).toFixed(1),
        (u / MiB).toFixed(1),
        rows(stores[0].db, 'SELECT count(*) FROM runs').toLocaleString('en'),
        rows(stores[0].db, 'SELECT count(*) FROM runs WHERE log_tail IS NOT NULL').toLocaleString('en'),
        rows(stores[0].db, 'SELECT count(*) FROM messages').toLocaleString('en'),
        rows(stores[1].db, 'SELECT count(*) FROM runs').toLocaleString('en'),
      ]);
    }
  }
  const widths = table[0].map((_, c) => Math.max(...table.map((row) => row[c].length)));
  for (const row of table) console.log('  ' + row.map((v, c) => v.padStart(widths[c])).join('  '));
  const last = sizes[sizes.length - 1];
  const prev = sizes.length >= 2 ? sizes[sizes.length - 2] : null;
  if (prev) {
    const perDay = (x: number, y: number) => ((x - y) / (last.day - prev.day) / MiB).toFixed(3);
    console.log(`  growth over the last ${last.day - prev.day} days: bounded ${perDay(last.bounded, prev.bounded)} MiB/day, unbounded ${perDay(last.unbounded, prev.unbounded)} MiB/day`);
    if (last.day < 365) {
      const project = (size: number, prevSize: number) => ((size + ((size - prevSize) / (last.day - prev.day)) * (365 - last.day)) / MiB).toFixed(0);
      console.log(`  fewer than 365 days simulated (2 cores); the last interval's growth carried to a year: bounded ~${project(last.bounded, prev.bounded)} MiB (an upper bound: its logs still fill their windows), unbounded ~${project(last.unbounded, prev.unbounded)} MiB`);
    }
  }
  // Where the bounded database's bytes are, by table and index (SQLite's dbstat).
  try {
    const parts = stores[0].db
      .prepare<[], { name: string; bytes: number }>(`SELECT name, sum(pgsize) AS bytes FROM dbstat GROUP BY name ORDER BY bytes DESC LIMIT 8`)
      .all()
      .map((p) => `${p.name} ${(p.bytes / MiB).toFixed(1)}`);
    console.log(`  bounded, MiB by table/index: ${parts.join(', ')}`);
  } catch {
    // dbstat is compiled out of this SQLite
  }
  console.log(`  pruning: ${prunes} daily passes, mean ${(pruneMs / prunes).toFixed(0)} ms each; simulation ${((performance.now() - started) / 1000).toFixed(0)} s`);
  for (const s of stores) s.db.close();
  rmSync(dir, { recursive: true, force: true });
}

const d = HISTORY_DEFAULTS;
console.log(
  `history windows (defaults): log tails ${d.runs / DAY} d (successes: newest ${d.logsPerJob} per job), summaries ${d.summaries / DAY} d, ` +
    `notifications ${d.notifications / DAY} d, resolved incidents ${d.incidents / DAY} d, de-duplication ${d.dedup / DAY} d`,
);
if (days100 > 0) simulate({ agents: 10, jobsPerAgent: 10, days: days100 });
if (days10k > 0) simulate({ agents: 100, jobsPerAgent: 100, days: days10k });
