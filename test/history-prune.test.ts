import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { statSync } from 'node:fs';
import { test } from 'node:test';
import { syncConfigAgents } from '../collector/agents';
import { collectorConfig } from '../collector/config';
import { createIngest } from '../collector/ingest';
import { HISTORY_DEFAULTS, pruneCutoffs, vacuumPages, historySchema } from '../collector/history/policy';
import { createPruner, pruneHistory } from '../collector/history/prune';
import { enableIncrementalVacuum } from '../collector/history/vacuum';
import { startHistoryPruner } from '../collector/history/service';
import type { Db } from '../collector/db';
import { TestAgent, catalogJob, count, hello, run, tempDb } from './collector-helpers';

const DAY = 86_400_000;
const HOUR = 3_600_000;

test('pruneCutoffs: each window counts back from now (table)', () => {
  const now = Date.parse('2026-06-01T00:00:00Z');
  const cases: { policy: unknown; want: Partial<ReturnType<typeof pruneCutoffs>> }[] = [
    {
      policy: {},
      want: { logsBefore: now - 90 * DAY, logsPerJob: 30, runsBefore: now - 730 * DAY, notificationsBefore: now - 30 * DAY, incidentsBefore: now - 180 * DAY, messagesBefore: now - 2 * DAY },
    },
    { policy: { runs: '7d', summaries: '365d' }, want: { logsBefore: now - 7 * DAY, runsBefore: now - 365 * DAY } },
    { policy: { logsPerJob: 5, dedup: '2d' }, want: { logsPerJob: 5, messagesBefore: now - 2 * DAY } },
    { policy: { notifications: '12h', incidents: '1d' }, want: { notificationsBefore: now - 12 * HOUR, incidentsBefore: now - DAY } },
  ];
  for (const { policy, want } of cases) {
    const got = pruneCutoffs(now, historySchema.parse(policy));
    for (const [k, v] of Object.entries(want)) assert.equal(got[k as keyof typeof got], v, `${JSON.stringify(policy)} ${k}`);
  }
});

test('history: defaults need no config; summaries shorter than runs are refused', () => {
  assert.deepEqual({ ...collectorConfig().history }, HISTORY_DEFAULTS);
  assert.throws(() => collectorConfig({ history: { runs: '90d', summaries: '30d' } }), /summaries must be at least as long as runs/);
  assert.throws(() => collectorConfig({ history: { forever: true } }), /forever/);
});

test('vacuumPages: nothing below the threshold, at most maxPages per step (table)', () => {
  const cases: [number, number][] = [
    [0, 0],
    [255, 0],
    [256, 256],
    [4000, 4000],
    [4096, 4096],
    [100_000, 4096],
  ];
  for (const [free, want] of cases) assert.equal(vacuumPages(free), want, `free ${free}`);
  assert.equal(vacuumPages(10, { minPages: 1, maxPages: 5 }), 5);
});

/** One agent's year and more of runs through the real ingest, into a real SQLite file. */
function seeded() {
  const { db, file } = tempDb();
  const agent = new TestAgent();
  syncConfigAgents(db, [{ name: agent.name, publicKey: agent.publicKey }], 0);
  const agentId = db.prepare('SELECT id FROM agents').pluck().get() as number;
  const ingest = createIngest(db);
  const now = Date.parse('2027-03-01T00:00:00Z');
  const send = (m: Parameters<TestAgent['msg']>[0], at: number) => {
    const msg = agent.msg(m, new Date(at));
    ingest(agentId, [msg], at + 1000);
    return msg;
  };
  const log = (i: number) => `restic backup run ${i}\n${'processed 1234 files, 56 MiB in 0:42\n'.repeat(80)}`;
  const backup = (job: string, startedAt: number, status = 'success', i = 0) =>
    send(
      run(job, randomUUID(), {
        startedAt: new Date(startedAt).toISOString(),
        finishedAt: new Date(startedAt + 60_000).toISOString(),
        status,
        exitCode: status === 'success' ? 0 : 1,
        logTail: log(i),
      }),
      startedAt + 60_000,
    );
  const first = send(hello([catalogJob('daily'), catalogJob('hourly'), catalogJob('retired')]), now - 1200 * DAY);
  // 'retired': 25 runs three years ago and none since.
  for (let i = 0; i < 25; i++) backup('retired', now - 1100 * DAY + i * DAY, 'success', i);
  // 'daily': 800 days of daily runs, every tenth one failing.
  for (let d = 800; d >= 1; d--) backup('daily', now - d * DAY, d % 10 === 0 ? 'failure' : 'success', d);
  // 'hourly': 300 hours, a failure among the oldest.
  for (let h = 300; h >= 1; h--) backup('hourly', now - h * HOUR, h === 290 ? 'failure' : 'success', h);
  const recent = backup('daily', now - HOUR / 2);
  return { db, file, agent, agentId, ingest, now, first, recent };
}

function incidentRow(db: Db, key: string, openedAt: number, resolvedAt: number | null): number {
  return Number(
    db
      .prepare(
        `INSERT INTO incidents (key, rule, severity, tier, title, detail, opened_at, since, last_seen_failing_at, resolved_at)
         VALUES (?, 'missed-run', 'critical', 1, ?, '', ?, ?, ?, ?)`,
      )
      .run(key, key, openedAt, openedAt, openedAt, resolvedAt).lastInsertRowid,
  );
}

function outboxRow(db: Db, incidentId: number | null, createdAt: number, state: 'sent' | 'given-up' | 'pending'): number {
  return Number(
    db
      .prepare(
        `INSERT INTO outbox (incident_id, channel, event, payload, created_at, next_attempt_at, attempts, sent_at)
         VALUES (?, 'ntfy', 'open', '{}', ?, ?, 1, ?)`,
      )
      .run(incidentId, createdAt, state === 'pending' ? createdAt + 60_000 : null, state === 'sent' ? createdAt + 1000 : null).lastInsertRowid,
  );
}

const withLog = (db: Db, job: string) => db.prepare(`SELECT count(*) FROM runs WHERE job = ? AND log_tail IS NOT NULL`).pluck().get(job) as number;
const runsOf = (db: Db, job: string) => db.prepare(`SELECT count(*) FROM runs WHERE job = ?`).pluck().get(job) as number;

test('a pruning pass on a real database file: logs, summaries, notifications, incidents and de-duplication within their windows, then the file shrinks', () => {
  const { db, file, agent, agentId, ingest, now, first, recent } = seeded();
  const ids = {
    oldResolved: incidentRow(db, 'old-resolved', now - 300 * DAY, now - 200 * DAY),
    oldResolvedPending: incidentRow(db, 'old-resolved-pending', now - 300 * DAY, now - 200 * DAY),
    openLongAgo: incidentRow(db, 'open', now - 400 * DAY, null),
    recentResolved: incidentRow(db, 'recent-resolved', now - 20 * DAY, now - 10 * DAY),
  };
  const out = {
    ofOldResolved: outboxRow(db, ids.oldResolved, now - 200 * DAY, 'sent'),
    pendingOfOld: outboxRow(db, ids.oldResolvedPending, now - 200 * DAY, 'pending'),
    sentOld: outboxRow(db, null, now - 40 * DAY, 'sent'),
    givenUpOld: outboxRow(db, null, now - 40 * DAY, 'given-up'),
    pendingOld: outboxRow(db, null, now - 40 * DAY, 'pending'),
    sentRecent: outboxRow(db, null, now - 10 * DAY, 'sent'),
  };
  const messagesBefore = count(db, 'messages');
  const c = pruneCutoffs(now, historySchema.parse({}));
  db.pragma('wal_checkpoint(TRUNCATE)');
  const sizeBefore = statSync(file).size;
  const pagesBefore = db.pragma('page_count', { simple: true }) as number;

  // Small steps, as serve runs them: none changes more than its batch.
  const pruner = createPruner(db, c, 100);
  let steps = 0;
  let last = { ...pruner.counts };
  while (pruner.step()) {
    steps++;
    const now_ = pruner.counts;
    const changed = now_.logsDropped + now_.runsDeleted + now_.notificationsDeleted + now_.incidentsDeleted + now_.messagesDeleted - (last.logsDropped + last.runsDeleted + last.notificationsDeleted + last.incidentsDeleted + last.messagesDeleted);
    assert.ok(changed <= 100, `a step changed ${changed} rows`);
    last = { ...now_ };
  }
  assert.ok(steps > 10, `${steps} steps`);
  // The rest of the pass (nothing left) and the space given back.
  const rest = pruneHistory(db, c, 100);
  assert.equal(rest.logsDropped + rest.runsDeleted + rest.messagesDeleted, 0, 'a second pass finds nothing');
  assert.ok(rest.pagesFreed > 0, 'the incremental vacuum freed pages');

  // 'daily': summaries for two years. Logs: the failures of the last 90 days (every tenth day:
  // 9) and the successes among the newest 30 runs (the newest, and days 1-29 but 10 and 20: 28).
  const daily = db.prepare(`SELECT min(started_at) AS oldest, count(*) AS n FROM runs WHERE job = 'daily'`).get() as { oldest: number; n: number };
  assert.ok(daily.oldest >= c.runsBefore, 'no summary older than the window');
  assert.equal(daily.n, 730 + 1, 'two years of daily runs and the newest one');
  const dailyLogs = (status: string) => db.prepare(`SELECT count(*) FROM runs WHERE job = 'daily' AND log_tail IS NOT NULL AND status = ?`).pluck().get(status);
  assert.equal(dailyLogs('failure'), 9);
  assert.equal(dailyLogs('success'), 28);
  assert.equal(db.prepare(`SELECT count(*) FROM runs WHERE job = 'daily' AND log_tail IS NOT NULL AND started_at < ?`).pluck().get(c.logsBefore), 0);
  // The summaries keep what the reports read.
  assert.equal(db.prepare(`SELECT count(*) FROM runs WHERE job = 'daily' AND (duration_ms IS NULL OR bytes_total IS NULL OR status IS NULL)`).pluck().get(), 0);
  // 'hourly': successes beyond the newest 30 lose their logs; the old failure keeps its own.
  assert.equal(runsOf(db, 'hourly'), 300);
  assert.equal(withLog(db, 'hourly'), 30 + 1);
  assert.equal(db.prepare(`SELECT status FROM runs WHERE job = 'hourly' AND log_tail IS NOT NULL ORDER BY started_at LIMIT 1`).pluck().get(), 'failure');
  // 'retired': older than every window, but its newest 21 runs stay (the rules' history), without logs.
  assert.equal(runsOf(db, 'retired'), 21);
  assert.equal(withLog(db, 'retired'), 0);

  // Incidents: resolved past the window go with their notifications, unless one is pending; open ones never.
  const incidents = db.prepare('SELECT id FROM incidents ORDER BY id').pluck().all();
  assert.deepEqual(incidents, [ids.oldResolvedPending, ids.openLongAgo, ids.recentResolved]);
  const outbox = db.prepare('SELECT id FROM outbox ORDER BY id').pluck().all();
  assert.deepEqual(outbox, [out.pendingOfOld, out.pendingOld, out.sentRecent]);

  // De-duplication: the old messages became the agent's floor...
  const floor = db.prepare('SELECT seq_floor FROM agents WHERE id = ?').pluck().get(agentId) as number;
  assert.ok(floor >= first.seq, `floor ${floor}`);
  // Kept: what came after the newest message older than 2 days (the hourly runs of the last 48
  // hours and the newest daily one; the daily runs of days 1 and 2 were sent before those hours).
  assert.equal(count(db, 'messages'), 48 + 1, `of ${messagesBefore}`);
  assert.equal(db.prepare('SELECT count(*) FROM messages WHERE agent_id = ? AND seq <= ?').pluck().get(agentId, floor), 0);
  // ...and a replay of a trimmed message is still refused and changes nothing, as is a recent one.
  const runsNow = count(db, 'runs');
  assert.deepEqual(ingest(agentId, [first], now), { accepted: 0, duplicates: 1 });
  assert.deepEqual(ingest(agentId, [recent], now), { accepted: 0, duplicates: 1 });
  assert.equal(count(db, 'runs'), runsNow);
  // A new message is taken.
  assert.deepEqual(ingest(agentId, [agent.msg(run('daily', randomUUID(), { startedAt: new Date(now - 60_000).toISOString(), finishedAt: new Date(now - 1000).toISOString() }), new Date(now))], now), { accepted: 1, duplicates: 0 });

  // The file shrank.
  db.pragma('wal_checkpoint(TRUNCATE)');
  const pagesAfter = db.pragma('page_count', { simple: true }) as number;
  assert.ok(pagesAfter < pagesBefore * 0.6, `${pagesAfter} pages after, ${pagesBefore} before`);
  assert.ok(statSync(file).size < sizeBefore * 0.6, `${statSync(file).size} bytes after, ${sizeBefore} before`);
  db.close();
});

test('a database made before incremental vacuum is switched to incremental vacuum once, at start, when small enough', () => {
  const { db } = tempDb();
  // As every collector database before bounded history: auto_vacuum off.
  db.pragma('auto_vacuum = NONE');
  db.exec('VACUUM');
  assert.equal(db.pragma('auto_vacuum', { simple: true }), 0);
  assert.equal(enableIncrementalVacuum(db, 1), 'too-big');
  assert.equal(enableIncrementalVacuum(db), 'switched');
  assert.equal(db.pragma('auto_vacuum', { simple: true }), 2);
  assert.equal(enableIncrementalVacuum(db), 'on');
  db.close();
});

test('serve\'s pruner runs a pass on its timer, in steps, and stops', async () => {
  const { db } = tempDb();
  const now = Date.parse('2027-03-01T00:00:00Z');
  const old = incidentRow(db, 'old', now - 300 * DAY, now - 200 * DAY);
  const open = incidentRow(db, 'open', now - 300 * DAY, null);
  const warnings: string[] = [];
  let resolvePass!: (c: { incidentsDeleted: number }) => void;
  const passed = new Promise<{ incidentsDeleted: number }>((r) => (resolvePass = r));
  const pruner = startHistoryPruner({
    db,
    policy: historySchema.parse({}),
    log: { warn: (_o, m) => warnings.push(m) },
    firstAfterMs: 0,
    now: () => now,
    onPass: (c) => resolvePass(c),
  });
  assert.equal((await passed).incidentsDeleted, 1);
  await pruner.stop();
  assert.deepEqual(db.prepare('SELECT id FROM incidents').pluck().all(), [open]);
  assert.notEqual(old, open);
  assert.deepEqual(warnings, []);
  db.close();
});
