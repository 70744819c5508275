import type { Db } from '../db';
import { EMPTY_JOB_STATE, KEPT_BACKUPS, nextJobState, type BackupEntry, type JobState, type RunKey, type StoredRun } from './job-state';
import { decodeBackups, encodeBackups } from './job-state-codec';

// Reads and writes table job_state (migrations 5 and 6). Called by ingest inside the transaction that
// stores the runs, so the state never lags the runs table. Each write replaces the row, giving it
// an id above every other row's: its version, so readers can ask what changed since. (A version
// column with its own index cost ingest twice the pages: every update moved an index entry.)

export interface StateRow {
  backups: Uint8Array;
  lastSuccess: number | null;
  lastVerify: string | null;
  lastRestoreTest: string | null;
  lastPrune: string | null;
}

export function createJobStateStore(db: Db) {
  const versionOf = db.prepare<[number, string], { version: number }>(`SELECT id AS version FROM job_state WHERE agent_id = ? AND job = ?`);
  const read = db.prepare<[number, string], StateRow & { version: number }>(
    `SELECT id AS version, backups, last_success AS lastSuccess, last_verify AS lastVerify, last_restore_test AS lastRestoreTest, last_prune AS lastPrune
     FROM job_state WHERE agent_id = ? AND job = ?`,
  );
  const write = db.prepare<[number, string, Buffer, number | null, string | null, string | null, string | null]>(
    `INSERT OR REPLACE INTO job_state (agent_id, job, backups, last_success, last_verify, last_restore_test, last_prune) VALUES (?, ?, ?, ?, ?, ?, ?)`,
  );
  // What the state means, straight from the runs table (each an index seek).
  const newestBackups = db.prepare<[number, string], BackupEntry>(
    `SELECT id, started_at AS startedAt, status, finished_at AS finishedAt, duration_ms AS durationMs,
            bytes_added AS bytesAdded, bytes_total AS bytesTotal
     FROM runs WHERE agent_id = ? AND job = ? AND operation = 'backup' ORDER BY started_at DESC, id DESC LIMIT ${KEPT_BACKUPS}`,
  );
  const lastSuccess = db.prepare<[number, string], { t: number | null }>(
    `SELECT max(finished_at) AS t FROM runs WHERE agent_id = ? AND job = ? AND operation = 'backup' AND status IN ('success', 'warning')`,
  );
  const newestOf = db.prepare<[number, string, string], RunKey>(
    `SELECT id, started_at AS startedAt FROM runs WHERE agent_id = ? AND job = ? AND operation = ? ORDER BY started_at DESC, id DESC LIMIT 1`,
  );
  const fromRuns = (agentId: number, job: string): JobState => ({
    backups: newestBackups.all(agentId, job),
    lastSuccess: lastSuccess.get(agentId, job)!.t,
    lastVerify: newestOf.get(agentId, job, 'verify') ?? null,
    lastRestoreTest: newestOf.get(agentId, job, 'restore-test') ?? null,
    lastPrune: newestOf.get(agentId, job, 'prune') ?? null,
  });

  // The states this connection last wrote or read, parsed, trusted while the stored version is
  // the same: a run usually follows another of the same job. A rolled-back write leaves the
  // stored version behind the remembered one, so the state is read again.
  const parsed = new Map<string, { version: number; state: JobState }>();
  const keyOf = (agentId: number, job: string) => `${agentId}\0${job}`;
  // States stepped in the batch being stored, written once at its end (`flush`): a batch of
  // runs usually holds several of the same job.
  const pending = new Map<string, { agentId: number; job: string; state: JobState }>();

  const get = (agentId: number, job: string): JobState => {
    const key = keyOf(agentId, job);
    const stepped = pending.get(key);
    if (stepped) return stepped.state;
    const known = parsed.get(key);
    if (known && versionOf.get(agentId, job)?.version === known.version) return known.state;
    const row = read.get(agentId, job);
    if (!row) return EMPTY_JOB_STATE;
    const state = { backups: decodeBackups(row.backups), ...parseKeys(row) };
    remember(key, row.version, state);
    return state;
  };
  const remember = (key: string, version: number, state: JobState) => {
    if (parsed.size >= 10_000) parsed.clear();
    parsed.set(key, { version, state });
  };

  return {
    /** After `run` was inserted, or a stored row of the same job, operation and start was updated. */
    advance(agentId: number, job: string, run: StoredRun): void {
      pending.set(keyOf(agentId, job), { agentId, job, state: nextJobState(get(agentId, job), run) });
    },
    /** Recomputes a job's state from the runs table (any change nextJobState does not cover). */
    rebuild(agentId: number, job: string): void {
      // The runs table already holds every run a pending step was made from; written at flush.
      pending.set(keyOf(agentId, job), { agentId, job, state: fromRuns(agentId, job) });
    },
    /** Marks the job changed without touching its runs (its inventory was replaced): rewritten at flush. */
    touch(agentId: number, job: string): void {
      const key = keyOf(agentId, job);
      if (!pending.has(key)) pending.set(key, { agentId, job, state: get(agentId, job) });
    },
    /** Writes the states stepped since the last flush; call before the batch's transaction ends. */
    flush(): void {
      for (const [key, { agentId, job, state: s }] of pending) {
        const { lastInsertRowid } = write.run(agentId, job, encodeBackups(s.backups), s.lastSuccess, json(s.lastVerify), json(s.lastRestoreTest), json(s.lastPrune));
        remember(key, Number(lastInsertRowid), s);
      }
      pending.clear();
    },
    /** Forgets unwritten steps (the batch's transaction is rolled back). */
    discard(): void {
      pending.clear();
    },
    get,
  };
}

// The other operations' newest run, as JSON [id, started_at].
const json = (k: RunKey | null) => (k === null ? null : JSON.stringify([k.id, k.startedAt]));
const parseKey = (s: string | null): RunKey | null => {
  if (s === null) return null;
  const [id, startedAt] = JSON.parse(s) as [number, number];
  return { id, startedAt };
};

/** A stored row's newest success and runs of the other operations. */
export const parseKeys = (row: Omit<StateRow, 'backups'>): Omit<JobState, 'backups'> => ({
  lastSuccess: row.lastSuccess,
  lastVerify: parseKey(row.lastVerify),
  lastRestoreTest: parseKey(row.lastRestoreTest),
  lastPrune: parseKey(row.lastPrune),
});

/** Computes every job's state from the runs table (after an upgrade, or runs stored directly). */
export function refillJobStates(db: Db): void {
  const store = createJobStateStore(db);
  const jobs = db.prepare<[], { agentId: number; job: string }>(`SELECT DISTINCT agent_id AS agentId, job FROM runs`).all();
  db.transaction(() => {
    for (const { agentId, job } of jobs) store.rebuild(agentId, job);
    store.flush();
  })();
}
