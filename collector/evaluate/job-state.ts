import type { RunOperation, RunState } from '../rules/types';

// Each job's history as the rules read it, kept up to date at ingest (table job_state), so an
// evaluation reads one small row per job instead of querying the runs table per job. It always
// equals what the runs table says: `nextJobState` is the pure step for a new run or a running one
// finishing; anything else is recomputed from the runs table (job-state-store.ts).
//
// Runs are named by row id and start, in the runs table's order (newest started_at, then highest
// id, first). Each kept backup carries the numbers the rules compare, so a first pass reads full
// run rows only for the few a finding or the page prints (stored compactly: job-state-codec.ts).

/** Finished backups the rules look at (anomaly medians, the newest failure). */
export const RECENT_BACKUPS = 20;
/** Newest backups by start kept in the state: the newest (maybe running) plus 20 finished. */
export const KEPT_BACKUPS = RECENT_BACKUPS + 1;

/** A run's row id and start. */
export interface RunKey {
  id: number;
  startedAt: number;
}

/** A kept backup: its key and the numbers the rules compare. */
export interface BackupEntry extends RunKey {
  status: RunState;
  finishedAt: number | null;
  durationMs: number | null;
  bytesAdded: number | null;
  bytesTotal: number | null;
}

export interface JobState {
  /** Newest backups (any status), newest first, at most KEPT_BACKUPS. */
  backups: BackupEntry[];
  /** finishedAt of the newest backup with status success|warning. */
  lastSuccess: number | null;
  lastVerify: RunKey | null;
  lastRestoreTest: RunKey | null;
  lastPrune: RunKey | null;
}

export const EMPTY_JOB_STATE: Readonly<JobState> = Object.freeze({ backups: [], lastSuccess: null, lastVerify: null, lastRestoreTest: null, lastPrune: null });

/** A stored run, as much of it as the state needs. */
export interface StoredRun extends BackupEntry {
  operation: RunOperation;
}

/** True when `a` ranks before `b` in the runs table's newest-first order. */
const newer = (a: RunKey, b: RunKey) => a.startedAt > b.startedAt || (a.startedAt === b.startedAt && a.id > b.id);

/**
 * The state after `run` was stored: a new row, or a stored row with the same job, operation
 * and start that was updated (a running backup finishing). Pure.
 */
export function nextJobState(prev: Readonly<JobState>, run: StoredRun): JobState {
  const key: RunKey = { id: run.id, startedAt: run.startedAt };
  switch (run.operation) {
    case 'backup': {
      const good = (run.status === 'success' || run.status === 'warning') && run.finishedAt !== null;
      const lastSuccess = good ? Math.max(prev.lastSuccess ?? -Infinity, run.finishedAt!) : prev.lastSuccess;
      const { id, startedAt, status, finishedAt, durationMs, bytesAdded, bytesTotal } = run;
      const entry: BackupEntry = { id, startedAt, status, finishedAt, durationMs, bytesAdded, bytesTotal };
      return { ...prev, backups: withBackup(prev.backups, entry), lastSuccess };
    }
    case 'verify':
      return { ...prev, lastVerify: newest(prev.lastVerify, key) };
    case 'restore-test':
      return { ...prev, lastRestoreTest: newest(prev.lastRestoreTest, key) };
    case 'prune':
      return { ...prev, lastPrune: newest(prev.lastPrune, key) };
  }
}

const newest = (kept: RunKey | null, key: RunKey): RunKey => (kept === null || kept.id === key.id || newer(key, kept) ? key : kept);

function withBackup(prev: readonly BackupEntry[], entry: BackupEntry): BackupEntry[] {
  // A kept run that finished keeps its place (same start) and takes its new numbers.
  const same = prev.findIndex((r) => r.id === entry.id);
  if (same >= 0) return prev.map((r, i) => (i === same ? entry : r));
  const pos = prev.findIndex((r) => newer(entry, r));
  if (pos < 0) return prev.length < KEPT_BACKUPS ? [...prev, entry] : (prev as BackupEntry[]);
  return [...prev.slice(0, pos), entry, ...prev.slice(pos)].slice(0, KEPT_BACKUPS);
}
