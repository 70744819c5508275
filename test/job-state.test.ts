import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { test } from 'node:test';
import Database from 'better-sqlite3';
import type { Db } from '../collector/db';
import { EMPTY_JOB_STATE, KEPT_BACKUPS, nextJobState, type BackupEntry, type JobState, type RunKey } from '../collector/evaluate/job-state';
import { decodeBackupColumns, decodeBackups, encodeBackups } from '../collector/evaluate/job-state-codec';
import { createJobStateStore } from '../collector/evaluate/job-state-store';
import { createIngest } from '../collector/ingest';
import { MIGRATIONS, migrate } from '../collector/migrations';
import type { RunView } from '../collector/rules/types';
import type { Message } from '../shared/protocol';
import { collectorConfig, rulesConfig, tierPolicies } from '../collector/config';
import { createGatherer } from '../collector/evaluate/gather';
import { tempDb, tempDir } from './collector-helpers';

const T = Date.parse('2026-03-01T02:00:00Z');
const HOUR = 3_600_000;

type Run = Parameters<typeof nextJobState>[1];
const r = (id: number, startedAt: number, over: Partial<Run> = {}): Run => ({
  id, operation: 'backup', status: 'success', startedAt, finishedAt: startedAt + 60_000, durationMs: 60_000, bytesAdded: 10, bytesTotal: 1_000, ...over,
});
const k = (id: number, startedAt: number): RunKey => ({ id, startedAt });
/** A kept backup: a success at `startedAt`, a minute long. */
const b = (id: number, startedAt: number): BackupEntry => {
  const { operation: _, ...entry } = r(id, startedAt);
  return entry;
};
const ids = (s: JobState) => s.backups.map((e) => e.id);
const withBackups = (...entries: BackupEntry[]): JobState => ({ ...EMPTY_JOB_STATE, backups: entries });

test('nextJobState, step by step', async (t) => {
  const full = Array.from({ length: KEPT_BACKUPS }, (_, i) => b(100 + i, T - i * HOUR));
  const cases: { name: string; prev: JobState; run: Run; check: (s: JobState) => void }[] = [
    { name: 'a first run becomes the only backup and the last success', prev: EMPTY_JOB_STATE, run: r(1, T), check: (s) => (assert.deepEqual(ids(s), [1]), assert.equal(s.lastSuccess, T + 60_000)) },
    { name: 'a newer run goes first', prev: withBackups(b(1, T)), run: r(2, T + HOUR), check: (s) => assert.deepEqual(ids(s), [2, 1]) },
    { name: 'an older run (out of order) goes behind', prev: withBackups(b(1, T)), run: r(2, T - HOUR), check: (s) => assert.deepEqual(ids(s), [1, 2]) },
    { name: 'at the same start the later-stored run ranks first', prev: withBackups(b(1, T)), run: r(2, T), check: (s) => assert.deepEqual(ids(s), [2, 1]) },
    { name: 'at the same start an earlier-stored run ranks behind', prev: withBackups(b(5, T)), run: r(2, T), check: (s) => assert.deepEqual(ids(s), [5, 2]) },
    { name: 'a run older than all of a full list is not kept', prev: withBackups(...full), run: r(1, T - 100 * HOUR), check: (s) => assert.deepEqual(ids(s), full.map((f) => f.id)) },
    {
      name: 'a new run pushes the oldest of a full list out',
      prev: withBackups(...full),
      run: r(999, T + HOUR),
      check: (s) => (assert.equal(s.backups.length, KEPT_BACKUPS), assert.equal(s.backups[0].id, 999), assert.equal(s.backups.at(-1)!.id, full[KEPT_BACKUPS - 2].id)),
    },
    { name: 'a running backup that finishes keeps its place', prev: withBackups(b(2, T), b(1, T - HOUR)), run: r(2, T, { status: 'failure' }), check: (s) => assert.deepEqual(ids(s), [2, 1]) },
    {
      name: 'a running backup that finishes takes its outcome and numbers',
      prev: nextJobState(withBackups(b(1, T - HOUR)), r(2, T, { status: 'running', finishedAt: null, durationMs: null, bytesAdded: null, bytesTotal: null })),
      run: r(2, T, { status: 'warning', durationMs: 5, bytesAdded: 6, bytesTotal: 7 }),
      check: (s) => assert.deepEqual(s.backups[0], { id: 2, startedAt: T, status: 'warning', finishedAt: T + 60_000, durationMs: 5, bytesAdded: 6, bytesTotal: 7 }),
    },
    { name: 'a failure leaves the last success alone', prev: { ...EMPTY_JOB_STATE, lastSuccess: T }, run: r(3, T + HOUR, { status: 'failure' }), check: (s) => assert.equal(s.lastSuccess, T) },
    { name: 'a running backup leaves the last success alone', prev: { ...EMPTY_JOB_STATE, lastSuccess: T }, run: r(3, T + HOUR, { status: 'running', finishedAt: null }), check: (s) => assert.equal(s.lastSuccess, T) },
    { name: 'a warning counts as a success', prev: { ...EMPTY_JOB_STATE, lastSuccess: T }, run: r(3, T + HOUR, { status: 'warning' }), check: (s) => assert.equal(s.lastSuccess, T + HOUR + 60_000) },
    { name: 'an older success arriving late does not move the last success back', prev: { ...EMPTY_JOB_STATE, lastSuccess: T }, run: r(3, T - 2 * HOUR), check: (s) => assert.equal(s.lastSuccess, T) },
    { name: 'a newer verify replaces the kept one', prev: { ...EMPTY_JOB_STATE, lastVerify: k(1, T) }, run: r(2, T + HOUR, { operation: 'verify' }), check: (s) => assert.deepEqual(s.lastVerify, k(2, T + HOUR)) },
    { name: 'an older prune arriving late is ignored', prev: { ...EMPTY_JOB_STATE, lastPrune: k(1, T) }, run: r(2, T - HOUR, { operation: 'prune' }), check: (s) => assert.deepEqual(s.lastPrune, k(1, T)) },
    { name: 'a later-stored restore drill at the same start ranks first', prev: { ...EMPTY_JOB_STATE, lastRestoreTest: k(1, T) }, run: r(2, T, { operation: 'restore-test' }), check: (s) => assert.deepEqual(s.lastRestoreTest, k(2, T)) },
    { name: 'a verify leaves the backups alone', prev: withBackups(b(1, T)), run: r(2, T + HOUR, { operation: 'verify' }), check: (s) => (assert.deepEqual(ids(s), [1]), assert.deepEqual(s.lastVerify, k(2, T + HOUR))) },
  ];
  for (const c of cases) await t.test(c.name, () => c.check(nextJobState(c.prev, c.run)));
});

test('kept backups survive the compact encoding exactly, at the edges of the numbers', async (t) => {
  const e = (over: Partial<BackupEntry>): BackupEntry => ({ ...b(7, T), ...over });
  const cases: [string, BackupEntry[]][] = [
    ['no backups', []],
    ['a running backup: no finish, no numbers', [e({ status: 'running', finishedAt: null, durationMs: null, bytesAdded: null, bytesTotal: null })]],
    ['zeros are not nulls', [e({ durationMs: 0, bytesAdded: 0, bytesTotal: 0, finishedAt: T })]],
    // The protocol accepts every safe integer as a count (issue 10: a schema-valid run got a 500).
    ['the largest safe numbers', [e({ durationMs: Number.MAX_SAFE_INTEGER, bytesAdded: Number.MAX_SAFE_INTEGER, bytesTotal: Number.MAX_SAFE_INTEGER })]],
    ['a finish before the start (agent clock stepped back)', [e({ finishedAt: T - 5_000 })]],
    ['every status', (['running', 'success', 'warning', 'failure', 'timeout', 'skipped'] as const).map((status, i) => e({ id: 10 - i, status }))],
    ['ids and starts out of their usual order (a rewritten run)', [e({ id: 5, startedAt: T }), e({ id: 9, startedAt: T }), e({ id: 1, startedAt: T + HOUR })]],
    ['times before 1970 and huge ids', [e({ id: 2 ** 40, startedAt: -86_400_000, finishedAt: -1 })]],
    ['a full list', Array.from({ length: KEPT_BACKUPS }, (_, i) => b(1_000_000 - i * 37, T - i * 86_400_000))],
  ];
  for (const [name, entries] of cases) await t.test(name, () => assert.deepEqual(decodeBackups(encodeBackups(entries)), entries));
  await t.test('a typical full list takes about as much room as the ids and starts did as JSON', () => {
    const list = Array.from({ length: KEPT_BACKUPS }, (_, i) => ({ ...b(1_000_000 - i * 137, T - i * 86_400_000), bytesTotal: 5_600_000_000 + i, bytesAdded: 123_456 }));
    const json = JSON.stringify(list.map((x) => [x.id, x.startedAt]));
    assert.ok(encodeBackups(list).length <= json.length, `${encodeBackups(list).length} bytes against ${json.length}`);
  });
  await t.test('numbers it cannot store exactly are refused, not stored wrong', () => {
    assert.throws(() => encodeBackups([e({ durationMs: 1.5 })]), /not storable/);
    assert.throws(() => encodeBackups([e({ bytesTotal: -1 })]), /not storable/);
    assert.throws(() => encodeBackups([e({ bytesTotal: 2 ** 53 + 2 })]), /not storable/);
  });
  await t.test('cut or foreign bytes are refused', () => {
    const bytes = encodeBackups([b(1, T)]);
    assert.throws(() => decodeBackups(bytes.subarray(0, bytes.length - 1)), /cut short/);
    assert.throws(() => decodeBackups(Uint8Array.of(9, 0)), /unknown job state format/);
    assert.throws(() => decodeBackups(Uint8Array.of(1, 0xff, 0xff, 0x7f)), /claims 2097151 backups/);
  });
  await t.test('as columns, read like the entries: by index, from the end, and a selection of them', () => {
    const entries = [e({ id: 9, status: 'running', finishedAt: null }), e({ id: 8, status: 'failure' }), e({ id: 7, status: 'running', finishedAt: null }), e({ id: 6 })];
    const [none, cols, one] = decodeBackupColumns([null, encodeBackups(entries), encodeBackups([entries[3]])]);
    assert.deepEqual([[...none], [...one]], [[], [entries[3]]], 'several jobs decoded together keep their own');
    assert.deepEqual([...cols], entries);
    assert.deepEqual([cols.at(0), cols.at(-1), cols.at(4), cols.at(-5)], [entries[0], entries[3], undefined, undefined]);
    assert.equal(cols.indexOf((s) => s === 'success'), 3);
    assert.equal(cols.indexOf((s) => s === 'timeout'), -1);
    const finished = (s: string) => s !== 'running';
    assert.deepEqual([...cols.select(finished, 20)], [entries[1], entries[3]]);
    assert.deepEqual([...cols.select(finished, 1)], [entries[1]]);
    assert.deepEqual([...cols.select(() => true, 2)], entries.slice(0, 2));
    assert.deepEqual([...cols.select((s) => s !== 'success', 20)], entries.slice(0, 3));
    assert.equal(cols.select(() => true, 20), cols, 'all of them: the same columns');
    assert.throws(() => decodeBackupColumns([Uint8Array.of(1, 1, 6, 0, 0, 0, 0, 0, 0)]), /unknown run status code/);
  });
});

// What the rules' view of a job means, asked of the runs table directly.
function expected(db: Db, agentId: number, job: string): JobState {
  const cols = 'id, started_at AS startedAt';
  const numbers = 'status, finished_at AS finishedAt, duration_ms AS durationMs, bytes_added AS bytesAdded, bytes_total AS bytesTotal';
  const newest = (op: string) =>
    (db.prepare(`SELECT ${cols} FROM runs WHERE agent_id = ? AND job = ? AND operation = ? ORDER BY started_at DESC, id DESC LIMIT 1`).get(agentId, job, op) as RunKey | undefined) ?? null;
  return {
    backups: db
      .prepare(`SELECT ${cols}, ${numbers} FROM runs WHERE agent_id = ? AND job = ? AND operation = 'backup' ORDER BY started_at DESC, id DESC LIMIT ?`)
      .all(agentId, job, KEPT_BACKUPS) as BackupEntry[],
    lastSuccess: (db.prepare(`SELECT max(finished_at) AS t FROM runs WHERE agent_id = ? AND job = ? AND operation = 'backup' AND status IN ('success', 'warning')`).get(agentId, job) as { t: number | null }).t,
    lastVerify: newest('verify'),
    lastRestoreTest: newest('restore-test'),
    lastPrune: newest('prune'),
  };
}

// The rules' view of a job's history, asked of the runs table directly (what gather read before job_state).
function expectedView(db: Db, agentId: number, job: string) {
  const cols = `run_id AS runId, operation, status, started_at AS startedAt, finished_at AS finishedAt, duration_ms AS durationMs,
                bytes_added AS bytesAdded, bytes_total AS bytesTotal, error, retry_at AS retryAt, attempt,
                exit_code AS exitCode, files, snapshot_id AS snapshotId, (log_tail IS NOT NULL AND log_tail <> '') AS hasLog`;
  const withId = `id, ${cols}`;
  // SQLite answers the flag as 0 or 1.
  type Row = Omit<RunView, 'hasLog'> & { hasLog: number };
  const asView = (r: Row | undefined): RunView | undefined => (r ? { ...r, hasLog: r.hasLog === 1 } : r);
  const newest = (op: string) =>
    asView(db.prepare(`SELECT ${cols} FROM runs WHERE agent_id = ? AND job = ? AND operation = ? ORDER BY started_at DESC, id DESC LIMIT 1`).get(agentId, job, op) as Row | undefined) ?? null;
  const recent = db
    .prepare(`SELECT ${withId} FROM runs WHERE agent_id = ? AND job = ? AND operation = 'backup' ORDER BY started_at DESC, id DESC LIMIT ?`)
    .all(agentId, job, KEPT_BACKUPS)
    .map((r) => asView(r as Row & { id: number })) as (RunView & { id: number })[];
  // Full views carry no row id; the recent summaries carry it along.
  const full = (v: (RunView & { id: number }) | undefined): RunView | null => {
    if (!v) return null;
    const { id: _, ...view } = v;
    return view;
  };
  return {
    lastBackup: full(recent[0]),
    lastOutcome: full(recent.find((v) => v.status !== 'running' && v.status !== 'skipped')),
    lastSuccess: expected(db, agentId, job).lastSuccess,
    recentBackups: recent
      .filter((v) => v.status !== 'running')
      .slice(0, KEPT_BACKUPS - 1)
      .map(({ id, status, startedAt, finishedAt, durationMs, bytesAdded, bytesTotal }) => ({ id, status, startedAt, finishedAt, durationMs, bytesAdded, bytesTotal })),
    lastVerify: newest('verify'),
    lastRestoreTest: newest('restore-test'),
    lastPrune: newest('prune'),
  };
}

function addAgent(db: Db): number {
  return Number(db.prepare(`INSERT INTO agents (name, public_key, source, created_at) VALUES ('pve1', 'x', 'config', 0)`).run().lastInsertRowid);
}

// A small deterministic PRNG, so a failure replays.
function prng(seed: number) {
  let s = seed;
  return () => ((s = (s * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 31);
}

test('the state kept at ingest equals the runs table through reordered, re-delivered and rewritten runs', () => {
  const { db } = tempDb();
  const agentId = addAgent(db);
  const job = db.prepare(
    `INSERT INTO jobs (agent_id, name, asset, tier, driver, target_name, target_location, target_media, schedule, timeout_ms, retention, updated_at)
     VALUES (?, ?, ?, 1, 'restic', 'usb', 'onsite', 'usb', '0 2 * * *', 0, '{"daily":7}', 0)`,
  );
  for (const name of ['etc', 'pg']) job.run(agentId, name, name);
  const cfg = collectorConfig({});
  const tiers = tierPolicies(cfg);
  const ingest = createIngest(db);
  const store = createJobStateStore(db);
  const rand = prng(42);
  const pick = <X>(xs: readonly X[]) => xs[Math.floor(rand() * xs.length)];
  const jobs = ['etc', 'pg'];
  const ops = ['backup', 'backup', 'backup', 'verify', 'prune', 'restore-test'] as const;
  const known: { runId: string; job: string; operation: string; startedAt: number }[] = [];
  const sent: Message[] = [];
  let seq = 0;
  for (let step = 0; step < 400; step++) {
    const batch: Message[] = [];
    for (let k = 0; k < 1 + Math.floor(rand() * 4); k++) {
      const reuse = known.length > 0 && rand() < 0.4;
      const base = reuse ? pick(known) : { runId: randomUUID(), job: pick(jobs), operation: pick(ops), startedAt: T + Math.floor(rand() * 40) * HOUR };
      if (!reuse) known.push(base);
      // Now and then a run rewrites a stored one: another start, even another job.
      const startedAt = rand() < 0.1 ? T + Math.floor(rand() * 40) * HOUR : base.startedAt;
      const job = rand() < 0.05 ? pick(jobs) : base.job;
      const common = { agent: 'pve1', seq: ++seq, sentAt: new Date(T).toISOString(), runId: base.runId, job, operation: base.operation, trigger: 'schedule' };
      batch.push(
        rand() < 0.4
          ? ({ ...common, kind: 'run-start', startedAt: new Date(startedAt).toISOString() } as Message)
          : ({
              ...common,
              kind: 'run',
              startedAt: new Date(startedAt).toISOString(),
              finishedAt: new Date(startedAt + 60_000).toISOString(),
              status: pick(['success', 'warning', 'failure', 'timeout', 'skipped'] as const),
              exitCode: 0,
              durationMs: Math.floor(rand() * 1000),
              ...(rand() < 0.5 ? { bytesAdded: Math.floor(rand() * 1e6), bytesTotal: Math.floor(rand() * 2 ** 50) } : {}),
              logTail: '',
            } as Message),
      );
    }
    // Batches arrive shuffled, and sometimes an old message is delivered again.
    batch.sort(() => rand() - 0.5);
    if (sent.length > 0 && rand() < 0.3) batch.push(pick(sent));
    sent.push(...batch);
    // Received after every run's time: the walk is about the state, not about clamping.
    ingest(agentId, batch, T + 41 * HOUR);
    for (const job of jobs) assert.deepEqual(store.get(agentId, job), expected(db, agentId, job), `step ${step}, job ${job}`);
    // The gatherer's views (kept between calls until the state's version moves) say the same.
    if (step % 10 === 0) {
      for (const v of createGatherer(db).gather(tiers, rulesConfig(cfg)).jobs) {
        const { lastBackup, lastOutcome, lastSuccess, recentBackups, lastVerify, lastRestoreTest, lastPrune } = v;
        assert.deepEqual({ lastBackup, lastOutcome, lastSuccess, recentBackups: [...recentBackups], lastVerify, lastRestoreTest, lastPrune }, expectedView(db, agentId, v.job), `step ${step}, view of ${v.job}`);
      }
    }
  }
  assert.ok(store.get(agentId, 'etc').backups.length === KEPT_BACKUPS, 'the walk filled a whole list');
});

test('upgrading a database fills the state from the runs already stored', () => {
  const file = join(tempDir(), 'old.db');
  const raw = new Database(file);
  for (const [i, sql] of MIGRATIONS.slice(0, 4).entries()) {
    raw.exec(sql as string);
    raw.pragma(`user_version = ${i + 1}`);
  }
  const agentId = addAgent(raw);
  const insert = raw.prepare(
    `INSERT INTO runs (agent_id, run_id, job, operation, trigger, started_at, finished_at, status, duration_ms, bytes_total, error)
     VALUES (?, ?, ?, ?, 'schedule', ?, ?, ?, 60000, ?, ?)`,
  );
  const statuses = ['success', 'failure', 'warning', 'running'];
  for (let i = 0; i < 30; i++) {
    const running = statuses[i % 4] === 'running';
    insert.run(agentId, randomUUID(), 'etc', 'backup', T + (i % 25) * HOUR, running ? null : T + i * HOUR + 1, statuses[i % 4], i, i % 2 ? 'boom' : null);
  }
  insert.run(agentId, randomUUID(), 'etc', 'verify', T, T + 1, 'failure', null, 'bad pack');
  insert.run(agentId, randomUUID(), 'pg', 'prune', T, T + 1, 'success', null, null);
  migrate(raw);
  const store = createJobStateStore(raw);
  assert.deepEqual(store.get(agentId, 'etc'), expected(raw, agentId, 'etc'));
  assert.deepEqual(store.get(agentId, 'pg'), expected(raw, agentId, 'pg'));
  assert.equal(store.get(agentId, 'etc').backups.length, KEPT_BACKUPS);
  raw.close();
});

test("a listing's snapshot names are read when first asked for, from the listing its times came with", () => {
  const { db } = tempDb();
  const agentId = addAgent(db);
  db.prepare(
    `INSERT INTO jobs (agent_id, name, asset, tier, driver, target_name, target_location, target_media, schedule, timeout_ms, retention, updated_at)
     VALUES (?, 'etc', 'etc', 1, 'restic', 'usb', 'onsite', 'usb', '0 2 * * *', 0, '{"daily":7}', 0)`,
  ).run(agentId);
  const ingest = createIngest(db);
  const listing = (seq: number, ids: string[]) =>
    ({ kind: 'inventory', agent: 'pve1', seq, sentAt: new Date(T).toISOString(), job: 'etc', target: 'usb', snapshots: ids.map((id, i) => ({ id, time: new Date(T - i * HOUR).toISOString() })) }) as Message;
  ingest(agentId, [listing(1, ['a1', 'a2'])], T);
  const cfg = collectorConfig({});
  const view = () => createGatherer(db).gather(tierPolicies(cfg), rulesConfig(cfg)).jobs.find((j) => j.job === 'etc')!.inventory!;
  // Gathered, then replaced before anyone asked for the names: the times have none to go with.
  const stale = view();
  assert.equal(stale.times.length, 2);
  ingest(agentId, [listing(2, ['b1', 'b2', 'b3'])], T);
  assert.deepEqual(stale.ids(), ['(a listing replaced since)', '(a listing replaced since)']);
  const fresh = view();
  assert.deepEqual(fresh.ids(), ['b1', 'b2', 'b3']);
  ingest(agentId, [listing(3, ['c1'])], T);
  assert.deepEqual(fresh.ids(), ['b1', 'b2', 'b3'], 'asked once, kept');
});
