import { fullDisk, storageFailure, unwritable, type Db, type FailureKind, type StorageFailure } from './db';
import { httpError, type HttpError } from './errors';
import { memoByObject } from './memo';

// The collector's view of its database's health while it runs: storage failures seen by requests,
// the evaluator or the start check (db-repair.ts) make /healthz degraded and turn into 503s with
// Retry-After.

/** A lock held by another process is over once no request met it for this long. */
const BUSY_CLEARS_MS = 30_000;
/** Retry-After on a 503 for a storage failure: soon for a lock, later for anything an operator has to fix. */
const retryAfterSeconds = (kind: FailureKind) => (kind === 'busy' ? 5 : 60);

export interface HealthReport {
  ok: boolean;
  /** Names the database and the cause. */
  reason?: string;
  /** The SQLite error code behind it (ENOSPC: the filesystem was seen full at start). */
  code?: string;
  since?: string;
}

interface Problem extends StorageFailure {
  since: number;
  last: number;
}

/**
 * The run-time state of one database for /healthz: storage failures seen by requests, by the
 * evaluator or by the start check make it degraded. Damage stays until a restart; the other
 * failures clear when their cause is gone (space freed, writable again, a write committed, the
 * lock gone for a while).
 */
export class DbHealth {
  private problem: Problem | null = null;
  /** Told about each new problem (not each repeat), e.g. to log it once. */
  onProblem?: (failure: StorageFailure) => void;

  constructor(
    readonly file: string,
    private readonly now: () => number = Date.now,
  ) {}

  get damaged(): boolean {
    return this.problem?.kind === 'damaged';
  }

  /** Notes a failed database call; returns its classification, or null when it is not a storage failure. */
  record(err: unknown): StorageFailure | null {
    const failure = storageFailure(this.file, err);
    if (failure) this.note(failure);
    return failure;
  }

  note(failure: StorageFailure): void {
    const now = this.now();
    const p = this.problem;
    if (p && (p.kind === 'damaged' || (p.kind === failure.kind && p.reason === failure.reason))) {
      p.last = now;
      return;
    }
    this.problem = { ...failure, since: now, last: now };
    this.onProblem?.(failure);
  }

  /** A write committed: whatever failed before, short of damage, is over. */
  stored(): void {
    if (this.problem && this.problem.kind !== 'damaged') this.problem = null;
  }

  /** The current problem, if it still holds (its cause is looked at again first). */
  current(): StorageFailure | null {
    const p = this.problem;
    if (p && this.over(p)) this.problem = null;
    return this.problem;
  }

  report(): HealthReport {
    const p = this.current() as Problem | null;
    return p ? { ok: false, reason: p.reason, code: p.code, since: new Date(p.since).toISOString() } : { ok: true };
  }

  private over(p: Problem): boolean {
    switch (p.clears) {
      case 'space':
        return fullDisk(this.file) === null;
      case 'access':
        return unwritable(this.file) === null;
      case 'time':
        return this.now() - p.last >= BUSY_CLEARS_MS;
      default:
        return false;
    }
  }
}

/** The health record of an open database (one per connection, created on first use). */
export const healthOf = memoByObject((db: Db) => new DbHealth(db.name));

/** The 503 answer (with Retry-After) for a storage failure; `code` says what could not be done. */
export function refusal(failure: StorageFailure, code: 'E_CANNOT_STORE' | 'E_DATABASE'): HttpError {
  const err = httpError(code, failure.reason);
  err.headers['retry-after'] = String(retryAfterSeconds(failure.kind));
  return err;
}

/** Records `err` against the database's health and maps it to a 503, or null when it is not a storage failure (a bug: 500). */
export function storageRefusal(db: Db, err: unknown, code: 'E_CANNOT_STORE' | 'E_DATABASE'): HttpError | null {
  const failure = healthOf(db).record(err);
  return failure && refusal(failure, code);
}

/** Throws E_CANNOT_STORE while the database is known to be damaged: writing more into it risks what it still holds. */
export function refuseWritesIfDamaged(db: Db): void {
  const h = healthOf(db);
  if (h.damaged) throw refusal(h.current()!, 'E_CANNOT_STORE');
}
