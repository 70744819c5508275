import { statSync } from 'node:fs';
import { formatDuration } from '../shared/duration';
import type { Db } from './db';
import { healthOf, type HealthReport } from './db-health';
import { memoByObject } from './memo';

// The collector watching itself: what the evaluator worker and the outbox sender did lately,
// kept in the main thread (the worker posts each pass), read by /metrics, /healthz and the
// selfCheck ping. The verdict is a pure function of that state and the outbox's oldest row.

/** /healthz turns degraded after this many evaluation intervals without a completed pass. */
export const STALE_PASSES = 3;
/** Before the first pass, also the worker's start and a first full pass over a big database. */
export const FIRST_PASS_GRACE_MS = 30_000;

export interface PassInfo {
  /** Epoch ms the pass completed. */
  at: number;
  ms: number;
  findings: number;
}

export interface DeliveryCounts {
  sent: number;
  failed: number;
  gaveUp: number;
}

/** What the watch checks, once the collector runs its evaluator and sender (serve). */
export interface WatchArms {
  /** incidents.evaluateEvery, and when the evaluator started. */
  evaluation?: { everyMs: number; since: number };
  /** A notification still unsent after this long means the outbox is stuck. */
  outboxStuckMs?: number;
}

export class SelfWatch {
  lastPass: PassInfo | null = null;
  readonly deliveries = new Map<string, DeliveryCounts>();
  arms: WatchArms = {};

  passed(p: PassInfo): void {
    this.lastPass = p;
  }

  /** One delivery attempt's outcome; a given-up attempt failed too. */
  delivered(channel: string, outcome: 'sent' | 'failed' | 'gave-up'): void {
    let c = this.deliveries.get(channel);
    if (!c) this.deliveries.set(channel, (c = { sent: 0, failed: 0, gaveUp: 0 }));
    if (outcome === 'sent') c.sent++;
    else c.failed++;
    if (outcome === 'gave-up') c.gaveUp++;
  }
}

/** The watch of an open database (one per connection, like its DbHealth). */
export const selfWatchOf: (db: Db) => SelfWatch = memoByObject(() => new SelfWatch());

export interface OutboxChannelState {
  channel: string;
  /** Rows still to be sent (due now or later). */
  pending: number;
  /** Rows the sender gave up on (kept with their last error until pruned). */
  gaveUp: number;
}

export interface OutboxState {
  channels: OutboxChannelState[];
  /** created_at of the oldest row still to be sent, or null. */
  oldestPendingAt: number | null;
}

/** The outbox's pending and given-up rows per channel (through the index of unsent rows). */
export function readOutboxState(db: Db): OutboxState {
  const channels = db
    .prepare(
      `SELECT channel, sum(next_attempt_at IS NOT NULL) AS pending, sum(next_attempt_at IS NULL) AS gaveUp
       FROM outbox WHERE sent_at IS NULL GROUP BY channel ORDER BY channel`,
    )
    .all() as OutboxChannelState[];
  const oldest = db.prepare('SELECT min(created_at) AS at FROM outbox WHERE sent_at IS NULL AND next_attempt_at IS NOT NULL').get() as { at: number | null };
  return { channels, oldestPendingAt: oldest.at };
}

/** The database file and its write-ahead log, in bytes (what the disk holds for it). */
export function databaseBytes(file: string): number {
  let total = 0;
  for (const f of [file, `${file}-wal`]) {
    try {
      total += statSync(f).size;
    } catch {
      // no WAL yet (or :memory:)
    }
  }
  return total;
}

const ago = formatDuration;

/**
 * Why the collector is not doing its job, or null. Pure: the evaluator has not completed a pass
 * for STALE_PASSES intervals (before the first one: since its start, plus FIRST_PASS_GRACE_MS),
 * or a notification has waited longer than the bound.
 */
export function watchProblem(arms: WatchArms, lastPass: PassInfo | null, oldestPendingAt: number | null, now: number): string | null {
  const ev = arms.evaluation;
  if (ev) {
    const since = lastPass?.at ?? ev.since;
    if (now - since > STALE_PASSES * ev.everyMs + (lastPass ? 0 : FIRST_PASS_GRACE_MS)) {
      return lastPass
        ? `evaluation stalled: the last pass completed ${ago(now - since)} ago (incidents.evaluateEvery is ${ago(ev.everyMs)})`
        : `evaluation stalled: no pass completed in the ${ago(now - since)} since the start (incidents.evaluateEvery is ${ago(ev.everyMs)})`;
    }
  }
  if (arms.outboxStuckMs !== undefined && oldestPendingAt !== null && now - oldestPendingAt > arms.outboxStuckMs) {
    return `outbox stuck: a notification has waited ${ago(now - oldestPendingAt)} to be delivered (watchdog.outboxStuckAfter is ${ago(arms.outboxStuckMs)}); see lifeline_outbox_pending and the log for the channel`;
  }
  return null;
}

/** /healthz's answer: the database's own health first, then the evaluator and the outbox. */
export function collectorHealth(db: Db, now: number): HealthReport {
  const stored = healthOf(db).report();
  if (!stored.ok) return stored;
  const w = selfWatchOf(db);
  if (!w.arms.evaluation && w.arms.outboxStuckMs === undefined) return stored;
  const oldest = w.arms.outboxStuckMs === undefined ? null : readOutboxState(db).oldestPendingAt;
  const reason = watchProblem(w.arms, w.lastPass, oldest, now);
  return reason ? { ok: false, reason } : stored;
}
