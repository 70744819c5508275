import type { Db } from './db';
import type { HelloMessage, Message, ReportAck } from '../shared/protocol';
import { createJobStateStore } from './evaluate/job-state-store';
import { CHECK_DRIVER } from './rules/types';
import { datastoreMount } from './evaluate/agent-messages';
import { encodeVerified } from './evaluate/verified-codec';

const ms = (iso: string) => Date.parse(iso);
const json = (v: unknown) => (v === undefined ? null : JSON.stringify(v));

/** A request's clock differing from ours by more than this is corrected (network delay stays below it). */
export const CLOCK_TOLERANCE_MS = 60_000;
/** A run still 'running' this long past its job's timeout, while its agent reports later things, lost its result. */
export const RESULT_LOST_GRACE_MS = 10 * 60_000;

/**
 * Stores one validated batch. `requestSentAt` is the agent's clock when it built the request
 * (the signed body's `sentAt`; null from agents before it was sent).
 */
export type Ingest = (agentId: number, messages: readonly Message[], receivedAt: number, requestSentAt?: number | null) => ReportAck;

/**
 * What the collector believes of an agent's times. An agent's clock can be wrong (NTP broken is
 * common): a run stamped hours ahead would make its asset look fresh and stay the "newest" run
 * after real ones. Times are shifted by the skew measured on this request (when it is larger
 * than network delay), and whatever is still in the future is taken as "now": no age is ever
 * negative. The agent's own times stay in the messages (and `clock_ahead_ms` on a run) for display.
 */
export function agentClock(receivedAt: number, requestSentAt: number | null | undefined) {
  const skew = requestSentAt === null || requestSentAt === undefined ? null : requestSentAt - receivedAt;
  const shift = skew !== null && Math.abs(skew) > CLOCK_TOLERANCE_MS ? skew : 0;
  return {
    skew,
    /** A past event's time as the collector's clock would have said it. */
    believe: (t: number) => Math.min(t - shift, receivedAt),
    /** A planned (future) time, corrected but not capped. */
    plan: (t: number) => t - shift,
  };
}

/**
 * Returns a function that stores one validated batch in a single transaction: all of it or
 * nothing. (agent, seq) is de-duplicated by the messages table and, past its window, the agent's
 * seq floor, so a replayed message changes nothing. State that a message replaces (catalog, spool stats, inventory, host facts, the Proxmox and PBS views) is only
 * replaced by a message with a higher seq, so a late-arriving older message cannot roll it back.
 */
export function createIngest(db: Db): Ingest {
  const insertMessage = db.prepare(
    `INSERT OR IGNORE INTO messages (agent_id, seq, kind, sent_at, received_at) VALUES (?, ?, ?, ?, ?)`,
  );
  // Every seq at or below the agent's floor was received before the de-duplication window
  // (collector/history/prune.ts moved those messages into this one number).
  const seqFloor = db.prepare<[number], number | null>(`SELECT seq_floor FROM agents WHERE id = ?`).pluck();
  const touch = db.prepare(`UPDATE agents SET last_seen = max(coalesce(last_seen, 0), ?) WHERE id = ?`);
  const hello = db.prepare(
    `UPDATE agents SET version = ?, hostname = ?, timezone = ?, heartbeat_ms = ?, hello_seq = ?
     WHERE id = ? AND (hello_seq IS NULL OR hello_seq < ?)`,
  );
  const upsertJob = db.prepare(
    `INSERT INTO jobs (agent_id, name, asset, tier, driver, target_name, target_location, target_media,
                       schedule, timeout_ms, retention, verify, restore_test, restore, role, source_target, active, updated_at, created_at)
     VALUES (@agentId, @name, @asset, @tier, @driver, @targetName, @targetLocation, @targetMedia,
             @schedule, @timeoutMs, @retention, @verify, @restoreTest, @restore, @role, @sourceTarget, 1, @now, @now)
     ON CONFLICT (agent_id, name) DO UPDATE SET
       asset = excluded.asset, tier = excluded.tier, driver = excluded.driver,
       target_name = excluded.target_name, target_location = excluded.target_location, target_media = excluded.target_media,
       schedule = excluded.schedule, timeout_ms = excluded.timeout_ms, retention = excluded.retention,
       verify = excluded.verify, restore_test = excluded.restore_test, restore = excluded.restore, role = excluded.role, source_target = excluded.source_target, active = 1, updated_at = excluded.updated_at`,
  );
  // Jobs dropped from the catalog are kept (their runs stay meaningful) but no longer expected.
  const retireJobs = db.prepare(
    `UPDATE jobs SET active = 0, updated_at = ? WHERE agent_id = ? AND active = 1 AND name NOT IN (SELECT value FROM json_each(?))`,
  );
  const heartbeat = db.prepare(
    `UPDATE agents SET spool_pending = ?, spool_dropped = ?, spool_rejected = ?, spool_lost = ?, spool_error = ?, heartbeat_seq = ?
     WHERE id = ? AND (heartbeat_seq IS NULL OR heartbeat_seq < ?)`,
  );
  const clock = db.prepare(`UPDATE agents SET clock_skew_ms = ?, clock_skew_at = ? WHERE id = ?`);
  const lastSent = db.prepare(`UPDATE agents SET last_sent_at = max(coalesce(last_sent_at, 0), ?) WHERE id = ? RETURNING last_sent_at AS lastSentAt`);
  // Runs whose result never came although the agent has reported things since, past the run's
  // timeout: set aside or lost on the agent. Closed, so the page never shows "running" forever.
  const lostRuns = db.prepare<[number, number, number], { id: number; job: string; startedAt: number; timeoutMs: number; driver: string }>(
    `SELECT r.id, r.job, r.started_at AS startedAt, j.timeout_ms AS timeoutMs, j.driver
     FROM runs r JOIN jobs j ON j.agent_id = r.agent_id AND j.name = r.job
     WHERE r.agent_id = ? AND r.status = 'running' AND j.timeout_ms > 0 AND r.started_at + j.timeout_ms + ? < ?`,
  );
  const closeLost = db.prepare(`UPDATE runs SET status = 'failure', finished_at = ?, error = ? WHERE id = ? AND status = 'running'`);
  // A run-start never overwrites: its run may already have finished (messages can be reordered).
  const runStart = db.prepare(
    `INSERT INTO runs (agent_id, run_id, job, operation, trigger, started_at, status, scheduled_for, attempt, clock_ahead_ms)
     VALUES (?, ?, ?, ?, ?, ?, 'running', ?, ?, ?)
     ON CONFLICT (agent_id, run_id) DO NOTHING`,
  );
  // A new run (the usual case) is one insert. A run already stored (after its run-start, or
  // delivered again) conflicts and is read, then updated: its old row tells how the job's
  // state changes.
  const RUN_COLUMNS = `job, operation, trigger, started_at, finished_at, status, exit_code, signal, duration_ms, bytes_added, bytes_total, files, snapshot_id, error, log_tail, scheduled_for, attempt, retry_at, clock_ahead_ms`;
  const RUN_VALUES = `@job, @operation, @trigger, @startedAt, @finishedAt, @status, @exitCode, @signal, @durationMs, @bytesAdded, @bytesTotal, @files, @snapshotId, @error, @logTail, @scheduledFor, @attempt, @retryAt, @clockAheadMs`;
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
    `INSERT INTO inventory (agent_id, job, target, snapshots, times, verified, seq, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
     ON CONFLICT (agent_id, job, target) DO UPDATE SET
       snapshots = excluded.snapshots, times = excluded.times, verified = excluded.verified, seq = excluded.seq, updated_at = excluded.updated_at
     WHERE excluded.seq > inventory.seq`,
  );
  const host = db.prepare(
    `INSERT INTO host_facts (agent_id, facts, seq, updated_at) VALUES (?, ?, ?, ?)
     ON CONFLICT (agent_id) DO UPDATE SET facts = excluded.facts, seq = excluded.seq, updated_at = excluded.updated_at
     WHERE excluded.seq > host_facts.seq`,
  );
  const proxmox = db.prepare(
    `INSERT INTO proxmox (agent_id, body, seq, updated_at) VALUES (?, ?, ?, ?)
     ON CONFLICT (agent_id) DO UPDATE SET body = excluded.body, seq = excluded.seq, updated_at = excluded.updated_at
     WHERE excluded.seq > proxmox.seq`,
  );
  const pbs = db.prepare(
    `INSERT INTO pbs (agent_id, body, seq, updated_at) VALUES (?, ?, ?, ?)
     ON CONFLICT (agent_id) DO UPDATE SET body = excluded.body, seq = excluded.seq, updated_at = excluded.updated_at
     WHERE excluded.seq > pbs.seq`,
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
        role: j.role ?? 'backup',
        sourceTarget: j.source?.target ?? null,
        now,
      });
    }
    retireJobs.run(now, agentId, JSON.stringify(m.jobs.map((j) => j.name)));
  }

  function apply(agentId: number, m: Message, now: number, t: ReturnType<typeof agentClock>): void {
    switch (m.kind) {
      case 'hello':
        return applyHello(agentId, m, now);
      case 'heartbeat': {
        const s = m.spool;
        heartbeat.run(s.pending, s.dropped, s.rejected ?? null, s.lost ?? null, s.error ?? null, m.seq, agentId, m.seq);
        return;
      }
      case 'run-start': {
        const reported = ms(m.startedAt);
        const startedAt = t.believe(reported);
        const scheduledFor = m.scheduledFor ? t.plan(ms(m.scheduledFor)) : null;
        const r = runStart.run(agentId, m.runId, m.job, m.operation, m.trigger, startedAt, scheduledFor, m.attempt ?? null, reported - startedAt || null);
        if (r.changes > 0) {
          jobState.advance(agentId, m.job, { id: Number(r.lastInsertRowid), operation: m.operation, status: 'running', startedAt, finishedAt: null, durationMs: null, bytesAdded: null, bytesTotal: null });
        }
        return;
      }
      case 'run': {
        const reported = ms(m.finishedAt);
        // One correction for both ends: the duration is the agent's to tell.
        const ahead = reported - t.believe(reported);
        const startedAt = ms(m.startedAt) - ahead;
        const finishedAt = reported - ahead;
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
          scheduledFor: m.scheduledFor ? t.plan(ms(m.scheduledFor)) : null,
          attempt: m.attempt ?? null,
          retryAt: m.retryAt ? t.plan(ms(m.retryAt)) : null,
          clockAheadMs: ahead || null,
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
        // A snapshot the tool stamped in the future (the host's clock ahead) is taken as taken now.
        const times = JSON.stringify(m.snapshots.map((s) => Math.min(ms(s.time), now)));
        if (inventory.run(agentId, m.job, m.target, JSON.stringify(m.snapshots), times, encodeVerified(m.snapshots), m.seq, now).changes > 0) {
          jobState.touch(agentId, m.job);
        }
        return;
      case 'host': {
        const { agent: _a, seq: _s, sentAt: _t, kind: _k, ...facts } = m;
        host.run(agentId, JSON.stringify(facts), m.seq, now);
        for (const f of m.filesystems) usage.run(agentId, f.mount, t.believe(ms(m.sentAt)), f.usedBytes, f.sizeBytes);
        return;
      }
      case 'proxmox': {
        const { agent: _a, seq: _s, sentAt: _t, kind: _k, ...body } = m;
        proxmox.run(agentId, JSON.stringify(body), m.seq, now);
        return;
      }
      case 'pbs': {
        const { agent: _a, seq: _s, sentAt: _t, kind: _k, ...body } = m;
        pbs.run(agentId, JSON.stringify(body), m.seq, now);
        // Usage samples for the collector's own forecast (PBS gives none for a short history),
        // beside the filesystems' under a name no mount point has.
        const at = t.believe(ms(m.sentAt));
        for (const d of m.datastores) {
          if (d.usedBytes !== undefined && d.totalBytes !== undefined) usage.run(agentId, datastoreMount(d.name), at, d.usedBytes, d.totalBytes);
        }
        return;
      }
    }
  }

  /** Closes the agent's runs whose result is lost (see lostRuns); their jobs' states are rebuilt. */
  function closeLostRuns(agentId: number, lastSentAt: number): void {
    for (const r of lostRuns.all(agentId, RESULT_LOST_GRACE_MS, lastSentAt)) {
      const minutes = Math.round(r.timeoutMs / 60_000);
      // A check's start ping with no end: whatever pings it stopped between the two.
      const error = r.driver === CHECK_DRIVER
        ? `result lost: a start ping came, but no success or failure ping within the check's timeout (${minutes} min).`
        : `result lost: the agent never reported how this run ended, and has reported later things since, past the job's timeout ` +
          `(${minutes} min). Its result was set aside or could not be stored on the agent: see \`lifeline-agent status\` there.`;
      closeLost.run(r.startedAt + r.timeoutMs, error, r.id);
      jobState.rebuild(agentId, r.job);
    }
  }

  return db.transaction((agentId: number, messages: readonly Message[], receivedAt: number, requestSentAt: number | null = null): ReportAck => {
    let accepted = 0;
    const t = agentClock(receivedAt, requestSentAt);
    let newestSent = -Infinity;
    const floor = seqFloor.get(agentId) ?? null;
    try {
      for (const m of [...messages].sort((a, b) => a.seq - b.seq)) {
        if (floor !== null && m.seq <= floor) continue;
        const sentAt = t.believe(ms(m.sentAt));
        if (insertMessage.run(agentId, m.seq, m.kind, sentAt, receivedAt).changes === 0) continue;
        apply(agentId, m, receivedAt, t);
        newestSent = Math.max(newestSent, sentAt);
        accepted++;
      }
      if (accepted > 0) {
        const { lastSentAt } = lastSent.get(newestSent, agentId) as { lastSentAt: number };
        closeLostRuns(agentId, lastSentAt);
      }
      // Each job's state is written once per batch, inside its transaction.
      jobState.flush();
    } catch (err) {
      jobState.discard();
      throw err;
    }
    // Only new messages count as contact: a replayed old batch must not hide a silent agent,
    // nor tell of a clock as it was when the batch was first sent.
    if (accepted > 0) {
      touch.run(receivedAt, agentId);
      if (t.skew !== null) clock.run(t.skew, receivedAt, agentId);
    }
    return { accepted, duplicates: messages.length - accepted };
  });
}

interface Pending {
  agentId: number;
  messages: readonly Message[];
  receivedAt: number;
  requestSentAt: number | null;
  resolve: (ack: ReportAck) => void;
  reject: (err: unknown) => void;
}

/**
 * Group commit: batches that arrive in the same event-loop turn are stored in one outer
 * transaction, so many requests share one fsync (synchronous=FULL). Each batch still runs in its
 * own savepoint: one that fails is rolled back alone and only its request gets the error. A
 * request is answered only after the commit that made its batch durable.
 */
export function createGroupCommit(db: Db, ingest: Ingest = createIngest(db)): (agentId: number, messages: readonly Message[], receivedAt: number, requestSentAt?: number | null) => Promise<ReportAck> {
  let queue: Pending[] = [];
  const commitAll = db.transaction((items: Pending[]) =>
    items.map((p) => {
      try {
        return { ack: ingest(p.agentId, p.messages, p.receivedAt, p.requestSentAt) };
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
      // IMMEDIATE: the batch reads (seq floors, job states) before it writes, and a deferred
      // transaction whose snapshot another connection (the evaluator, a CLI command) wrote past
      // fails at its first write with SQLITE_BUSY at once, without waiting.
      results = commitAll.immediate(items);
    } catch (error) {
      for (const p of items) p.reject(error);
      return;
    }
    results.forEach((r, i) => ('ack' in r ? items[i].resolve(r.ack!) : items[i].reject(r.error)));
  };
  return (agentId, messages, receivedAt, requestSentAt = null) =>
    new Promise((resolve, reject) => {
      if (queue.length === 0) setImmediate(flush);
      queue.push({ agentId, messages, receivedAt, requestSentAt, resolve, reject });
    });
}
