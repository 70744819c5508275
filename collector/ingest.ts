import type { Db } from './db';
import type { HelloMessage, Message, ReportAck } from '../shared/protocol';
import { createJobStateStore } from './evaluate/job-state-store';

const ms = (iso: string) => Date.parse(iso);
const json = (v: unknown) => (v === undefined ? null : JSON.stringify(v));

export type Ingest = (agentId: number, messages: readonly Message[], receivedAt: number) => ReportAck;

/**
 * Returns a function that stores one validated batch in a single transaction: all of it or
 * nothing. (agent, seq) is de-duplicated by the messages table, so a replayed message changes
 * nothing. State that a message replaces (catalog, spool stats, inventory, host facts) is only
 * replaced by a message with a higher seq, so a late-arriving older message cannot roll it back.
 */
export function createIngest(db: Db): Ingest {
  const insertMessage = db.prepare(
    `INSERT OR IGNORE INTO messages (agent_id, seq, kind, sent_at, received_at) VALUES (?, ?, ?, ?, ?)`,
  );
  const touch = db.prepare(`UPDATE agents SET last_seen = max(coalesce(last_seen, 0), ?) WHERE id = ?`);
  const hello = db.prepare(
    `UPDATE agents SET version = ?, hostname = ?, timezone = ?, heartbeat_ms = ?, hello_seq = ?
     WHERE id = ? AND (hello_seq IS NULL OR hello_seq < ?)`,
  );
  const upsertJob = db.prepare(
    `INSERT INTO jobs (agent_id, name, asset, tier, driver, target_name, target_location, target_media,
                       schedule, timeout_ms, retention, verify, restore_test, restore, active, updated_at, created_at)
     VALUES (@agentId, @name, @asset, @tier, @driver, @targetName, @targetLocation, @targetMedia,
             @schedule, @timeoutMs, @retention, @verify, @restoreTest, @restore, 1, @now, @now)
     ON CONFLICT (agent_id, name) DO UPDATE SET
       asset = excluded.asset, tier = excluded.tier, driver = excluded.driver,
       target_name = excluded.target_name, target_location = excluded.target_location, target_media = excluded.target_media,
       schedule = excluded.schedule, timeout_ms = excluded.timeout_ms, retention = excluded.retention,
       verify = excluded.verify, restore_test = excluded.restore_test, restore = excluded.restore, active = 1, updated_at = excluded.updated_at`,
  );
  // Jobs dropped from the catalog are kept (their runs stay meaningful) but no longer expected.
  const retireJobs = db.prepare(
    `UPDATE jobs SET active = 0, updated_at = ? WHERE agent_id = ? AND active = 1 AND name NOT IN (SELECT value FROM json_each(?))`,
  );
  const heartbeat = db.prepare(
    `UPDATE agents SET spool_pending = ?, spool_dropped = ?, heartbeat_seq = ?
     WHERE id = ? AND (heartbeat_seq IS NULL OR heartbeat_seq < ?)`,
  );
  // A run-start never overwrites: its run may already have finished (messages can be reordered).
  const runStart = db.prepare(
    `INSERT INTO runs (agent_id, run_id, job, operation, trigger, started_at, status) VALUES (?, ?, ?, ?, ?, ?, 'running')
     ON CONFLICT (agent_id, run_id) DO NOTHING`,
  );
  // A new run (the usual case) is one insert. A run already stored (after its run-start, or
  // delivered again) conflicts and is read, then updated: its old row tells how the job's
  // state changes.
  const RUN_COLUMNS = `job, operation, trigger, started_at, finished_at, status, exit_code, signal, duration_ms, bytes_added, bytes_total, files, snapshot_id, error, log_tail`;
  const RUN_VALUES = `@job, @operation, @trigger, @startedAt, @finishedAt, @status, @exitCode, @signal, @durationMs, @bytesAdded, @bytesTotal, @files, @snapshotId, @error, @logTail`;
  const insertRun = db.prepare(
    `INSERT INTO runs (agent_id, run_id, ${RUN_COLUMNS}) VALUES (@agentId, @runId, ${RUN_VALUES})
     ON CONFLICT (agent_id, run_id) DO NOTHING`,
  );
  const updateRun = db.prepare(`UPDATE runs SET (${RUN_COLUMNS}) = (${RUN_VALUES}) WHERE id = @id`);
  const storedRun = db.prepare<[number, string], { id: number; job: string; operation: string; status: string; startedAt: number }>(
    `SELECT id, job, operation, status, started_at AS startedAt FROM runs WHERE agent_id = ? AND run_id = ?`,
  );
  const jobState = createJobStateStore(db);
  const inventory = db.prepare(
    `INSERT INTO inventory (agent_id, job, target, snapshots, times, seq, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)
     ON CONFLICT (agent_id, job, target) DO UPDATE SET
       snapshots = excluded.snapshots, times = excluded.times, seq = excluded.seq, updated_at = excluded.updated_at
     WHERE excluded.seq > inventory.seq`,
  );
  const host = db.prepare(
    `INSERT INTO host_facts (agent_id, facts, seq, updated_at) VALUES (?, ?, ?, ?)
     ON CONFLICT (agent_id) DO UPDATE SET facts = excluded.facts, seq = excluded.seq, updated_at = excluded.updated_at
     WHERE excluded.seq > host_facts.seq`,
  );

  const usage = db.prepare(`INSERT OR IGNORE INTO fs_usage (agent_id, mount, at, used_bytes, size_bytes) VALUES (?, ?, ?, ?, ?)`);

  function applyHello(agentId: number, m: HelloMessage, now: number): void {
    if (hello.run(m.version, m.hostname, m.timezone, m.heartbeatMs, m.seq, agentId, m.seq).changes === 0) return;
    for (const j of m.jobs) {
      upsertJob.run({
        agentId,
        name: j.name,
        asset: j.asset,
        tier: j.tier,
        driver: j.driver,
        targetName: j.target.name,
        targetLocation: j.target.location,
        targetMedia: j.target.media,
        schedule: j.schedule,
        timeoutMs: j.timeoutMs,
        retention: JSON.stringify(j.retention),
        verify: json(j.verify),
        restoreTest: json(j.restoreTest),
        restore: json(j.restore),
        now,
      });
    }
    retireJobs.run(now, agentId, JSON.stringify(m.jobs.map((j) => j.name)));
  }

  function apply(agentId: number, m: Message, now: number): void {
    switch (m.kind) {
      case 'hello':
        return applyHello(agentId, m, now);
      case 'heartbeat':
        heartbeat.run(m.spool.pending, m.spool.dropped, m.seq, agentId, m.seq);
        return;
      case 'run-start': {
        const startedAt = ms(m.startedAt);
        const r = runStart.run(agentId, m.runId, m.job, m.operation, m.trigger, startedAt);
        if (r.changes > 0) {
          jobState.advance(agentId, m.job, { id: Number(r.lastInsertRowid), operation: m.operation, status: 'running', startedAt, finishedAt: null, durationMs: null, bytesAdded: null, bytesTotal: null });
        }
        return;
      }
      case 'run': {
        const startedAt = ms(m.startedAt);
        const finishedAt = ms(m.finishedAt);
        const row = {
          agentId,
          runId: m.runId,
          job: m.job,
          operation: m.operation,
          trigger: m.trigger,
          startedAt,
          finishedAt,
          status: m.status,
          exitCode: m.exitCode,
          signal: m.signal ?? null,
          durationMs: m.durationMs,
          bytesAdded: m.bytesAdded ?? null,
          bytesTotal: m.bytesTotal ?? null,
          files: m.files ?? null,
          snapshotId: m.snapshotId ?? null,
          error: m.error ?? null,
          logTail: m.logTail,
        };
        const step = { operation: m.operation, status: m.status, startedAt, finishedAt, durationMs: m.durationMs, bytesAdded: row.bytesAdded, bytesTotal: row.bytesTotal };
        const inserted = insertRun.run(row);
        if (inserted.changes > 0) {
          jobState.advance(agentId, m.job, { id: Number(inserted.lastInsertRowid), ...step });
          return;
        }
        const before = storedRun.get(agentId, m.runId)!;
        updateRun.run({ ...row, id: before.id });
        // A running one finishing steps the state; any other rewrite of a stored run is rare
        // and recomputed from the runs table.
        if (before.status === 'running' && before.job === m.job && before.operation === m.operation && before.startedAt === startedAt) {
          jobState.advance(agentId, m.job, { id: before.id, ...step });
        } else {
          jobState.rebuild(agentId, m.job);
          if (before.job !== m.job) jobState.rebuild(agentId, before.job);
        }
        return;
      }
      case 'inventory':
        if (inventory.run(agentId, m.job, m.target, JSON.stringify(m.snapshots), JSON.stringify(m.snapshots.map((s) => ms(s.time))), m.seq, now).changes > 0) {
          jobState.touch(agentId, m.job);
        }
        return;
      case 'host': {
        const { agent: _a, seq: _s, sentAt: _t, kind: _k, ...facts } = m;
        host.run(agentId, JSON.stringify(facts), m.seq, now);
        for (const f of m.filesystems) usage.run(agentId, f.mount, ms(m.sentAt), f.usedBytes, f.sizeBytes);
        return;
      }
    }
  }

  return db.transaction((agentId: number, messages: readonly Message[], receivedAt: number): ReportAck => {
    let accepted = 0;
    try {
      for (const m of [...messages].sort((a, b) => a.seq - b.seq)) {
        if (insertMessage.run(agentId, m.seq, m.kind, ms(m.sentAt), receivedAt).changes === 0) continue;
        apply(agentId, m, receivedAt);
        accepted++;
      }
      // Each job's state is written once per batch, inside its transaction.
      jobState.flush();
    } catch (err) {
      jobState.discard();
      throw err;
    }
    // Only new messages count as contact: a replayed old batch must not hide a silent agent.
    if (accepted > 0) touch.run(receivedAt, agentId);
    return { accepted, duplicates: messages.length - accepted };
  });
}

interface Pending {
  agentId: number;
  messages: readonly Message[];
  receivedAt: number;
  resolve: (ack: ReportAck) => void;
  reject: (err: unknown) => void;
}

/**
 * Group commit: batches that arrive in the same event-loop turn are stored in one outer
 * transaction, so many requests share one fsync (synchronous=FULL). Each batch still runs in its
 * own savepoint: one that fails is rolled back alone and only its request gets the error. A
 * request is answered only after the commit that made its batch durable.
 */
export function createGroupCommit(db: Db, ingest: Ingest = createIngest(db)): (agentId: number, messages: readonly Message[], receivedAt: number) => Promise<ReportAck> {
  let queue: Pending[] = [];
  const commitAll = db.transaction((items: Pending[]) =>
    items.map((p) => {
      try {
        return { ack: ingest(p.agentId, p.messages, p.receivedAt) };
      } catch (error) {
        return { error };
      }
    }),
  );
  const flush = () => {
    const items = queue;
    queue = [];
    let results;
    try {
      results = commitAll(items);
    } catch (error) {
      for (const p of items) p.reject(error);
      return;
    }
    results.forEach((r, i) => ('ack' in r ? items[i].resolve(r.ack!) : items[i].reject(r.error)));
  };
  return (agentId, messages, receivedAt) =>
    new Promise((resolve, reject) => {
      if (queue.length === 0) setImmediate(flush);
      queue.push({ agentId, messages, receivedAt, resolve, reject });
    });
}
