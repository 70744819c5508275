import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { Db } from '../db';
import { CHANNELS } from './channels/index';
import type { ChannelConfig } from './routing';
import { NotifyError, type Channel, type ChannelIo, type NotificationMessage } from './types';

// Delivers the outbox. A row is claimed by compare-and-set before it is sent, so two senders
// never send it twice; a claim whose lease has expired (the sender died mid-send) is taken over,
// so a crash loses nothing; a row marked sent is never picked again. The one window left is a
// crash after the service accepted a message and before `sent_at` was written: that message is
// sent again (at-least-once there, as with any outbox); the lease must exceed the send timeout.
// Channels get a delivery id that is the same on every attempt, so a service that de-duplicates
// (the webhook's Idempotency-Key) can close that window on its side.

export interface OutboxRow {
  id: number;
  incident_id: number | null;
  channel: string;
  event: string;
  payload: string;
  created_at: number;
  next_attempt_at: number | null;
  attempts: number;
  claimed_at: number | null;
  claim_token: string | null;
  sent_at: number | null;
  last_error: string | null;
}

export interface Claim {
  row: OutboxRow;
  token: string;
}

export interface RetryPolicy {
  /** Attempts before giving up (the row keeps its last_error and is never tried again). */
  maxAttempts: number;
  baseDelayMs: number;
  maxDelayMs: number;
  /** 0..1, for tests. */
  random: () => number;
}

export const DEFAULT_RETRY: Readonly<RetryPolicy> = Object.freeze({ maxAttempts: 10, baseDelayMs: 30_000, maxDelayMs: 3_600_000, random: Math.random });
export const DEFAULT_LEASE_MS = 120_000;
export const DEFAULT_SEND_TIMEOUT_MS = 30_000;

/**
 * Claims up to `limit` due rows: unsent, not given up, next attempt reached, and unclaimed or
 * claimed longer than `leaseMs` ago. Each claim is a compare-and-set on the claim we saw.
 */
export function claimDue(db: Db, now: number, limit: number, leaseMs = DEFAULT_LEASE_MS): Claim[] {
  const due = db
    .prepare(
      `SELECT * FROM outbox
       WHERE sent_at IS NULL AND next_attempt_at IS NOT NULL AND next_attempt_at <= ?
         AND (claimed_at IS NULL OR claimed_at <= ?)
       ORDER BY next_attempt_at, id LIMIT ?`,
    )
    .all(now, now - leaseMs, limit) as OutboxRow[];
  const cas = db.prepare(
    `UPDATE outbox SET claimed_at = ?, claim_token = ?
     WHERE id = ? AND sent_at IS NULL AND claimed_at IS ? AND claim_token IS ?`,
  );
  const claims: Claim[] = [];
  for (const row of due) {
    const token = randomUUID();
    if (cas.run(now, token, row.id, row.claimed_at, row.claim_token).changes === 1) {
      claims.push({ row: { ...row, claimed_at: now, claim_token: token }, token });
    }
  }
  return claims;
}

/** Marks a claimed row sent; false if the claim was lost (lease expired and taken over). */
export function markSent(db: Db, claim: Claim, now: number): boolean {
  return (
    db
      .prepare('UPDATE outbox SET sent_at = ?, next_attempt_at = NULL, attempts = attempts + 1, claimed_at = NULL, claim_token = NULL, last_error = NULL WHERE id = ? AND claim_token = ? AND sent_at IS NULL')
      .run(now, claim.row.id, claim.token).changes === 1
  );
}

/** Delay before attempt n+1 after n failed attempts: exponential, capped, with jitter in [½, 1]. */
export function backoffMs(attempts: number, policy: RetryPolicy): number {
  const exp = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** Math.max(0, attempts - 1));
  return Math.round(exp * (0.5 + 0.5 * policy.random()));
}

/** Records a failed attempt: schedules a retry, or gives up (next_attempt_at NULL). Returns which. */
export function markFailed(db: Db, claim: Claim, now: number, error: string, retryable: boolean, policy: RetryPolicy): 'retry' | 'gave-up' | 'lost' {
  const attempts = claim.row.attempts + 1;
  const giveUp = !retryable || attempts >= policy.maxAttempts;
  const next = giveUp ? null : now + backoffMs(attempts, policy);
  const changes = db
    .prepare('UPDATE outbox SET attempts = ?, next_attempt_at = ?, claimed_at = NULL, claim_token = NULL, last_error = ? WHERE id = ? AND claim_token = ? AND sent_at IS NULL')
    .run(attempts, next, error.slice(0, 1000), claim.row.id, claim.token).changes;
  if (changes !== 1) return 'lost';
  return giveUp ? 'gave-up' : 'retry';
}

export interface SenderLog {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

export interface OutboxSenderOptions {
  db: Db;
  channels: readonly ChannelConfig[];
  /** Channel registry; tests may add their own. */
  registry?: Readonly<Record<string, Channel>>;
  io?: Partial<ChannelIo>;
  intervalMs?: number;
  leaseMs?: number;
  batch?: number;
  retry?: Partial<RetryPolicy>;
  clock?: () => number;
  log?: SenderLog;
}

export interface DrainResult {
  sent: number;
  retried: number;
  gaveUp: number;
  lost: number;
}

/** Stable across retries and restarts, distinct between databases' rows of the same id. */
export const deliveryId = (row: Pick<OutboxRow, 'id' | 'created_at'>): string => `lifeline-${row.created_at}-${row.id}`;

export async function readSecretFile(path: string): Promise<string> {
  try {
    return (await readFile(path, 'utf8')).trim();
  } catch (err) {
    // The path is config, not secret; the contents never reach a message.
    throw new NotifyError(`cannot read secret file ${path}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`, false);
  }
}

export class OutboxSender {
  private readonly db: Db;
  private readonly byName: Map<string, ChannelConfig>;
  private readonly registry: Readonly<Record<string, Channel>>;
  private readonly io: ChannelIo;
  private readonly intervalMs: number;
  private readonly leaseMs: number;
  private readonly batch: number;
  private readonly retry: RetryPolicy;
  private readonly clock: () => number;
  private readonly log?: SenderLog;
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;
  private again = false;

  constructor(opts: OutboxSenderOptions) {
    this.db = opts.db;
    this.byName = new Map(opts.channels.map((c) => [c.name, c]));
    this.registry = opts.registry ?? CHANNELS;
    this.io = { fetch: globalThis.fetch, readSecret: readSecretFile, timeoutMs: DEFAULT_SEND_TIMEOUT_MS, ...opts.io };
    this.intervalMs = opts.intervalMs ?? 5_000;
    this.leaseMs = opts.leaseMs ?? DEFAULT_LEASE_MS;
    if (this.leaseMs <= this.io.timeoutMs) throw new RangeError('the outbox lease must be longer than the send timeout');
    this.batch = opts.batch ?? 20;
    this.retry = { ...DEFAULT_RETRY, ...opts.retry };
    this.clock = opts.clock ?? Date.now;
    this.log = opts.log;
  }

  /** Polls every intervalMs; the timer is unref'd so it never keeps the process alive. */
  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => this.poke(), this.intervalMs);
    this.timer.unref();
    this.poke();
  }

  /** Drains now (e.g. right after an evaluation queued rows); overlapping calls coalesce. */
  poke(): void {
    if (this.running) {
      this.again = true;
      return;
    }
    const loop = async () => {
      do {
        this.again = false;
        await this.drainOnce(this.clock()).catch((err) => this.log?.error({ err }, 'outbox drain failed'));
      } while (this.again && this.timer);
    };
    const p = loop();
    this.running = p;
    void p.finally(() => {
      if (this.running === p) this.running = null;
    });
  }

  /** Stops polling and waits for a send in progress to finish. */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.again = false;
    await this.running;
  }

  /** Claims and sends what is due at `now`, one row at a time. */
  async drainOnce(now: number): Promise<DrainResult> {
    const result: DrainResult = { sent: 0, retried: 0, gaveUp: 0, lost: 0 };
    // One claim at a time: a slow batch must not hold claims on rows it has not reached yet.
    for (let i = 0; i < this.batch; i++) {
      const [claim] = claimDue(this.db, now, 1, this.leaseMs);
      if (!claim) break;
      const outcome = await this.deliver(claim);
      if (outcome === null) {
        if (markSent(this.db, claim, now)) result.sent++;
        else result.lost++;
        continue;
      }
      const r = markFailed(this.db, claim, now, outcome.message, outcome.retryable, this.retry);
      const fields = { outboxId: claim.row.id, channel: claim.row.channel, attempt: claim.row.attempts + 1, error: outcome.message };
      if (r === 'retry') {
        result.retried++;
        this.log?.warn(fields, 'notification failed; will retry');
      } else if (r === 'gave-up') {
        result.gaveUp++;
        this.log?.error(fields, 'notification failed; giving up');
      } else result.lost++;
    }
    return result;
  }

  /** null when delivered, else why not. */
  private async deliver(claim: Claim): Promise<{ message: string; retryable: boolean } | null> {
    const config = this.byName.get(claim.row.channel);
    if (!config) return { message: `channel ${claim.row.channel} is no longer configured`, retryable: false };
    const channel = this.registry[config.type];
    if (!channel) return { message: `unknown channel type ${config.type}`, retryable: false };
    let message: NotificationMessage;
    try {
      message = JSON.parse(claim.row.payload) as NotificationMessage;
    } catch {
      return { message: 'payload is not valid JSON', retryable: false };
    }
    try {
      await channel.send(message, config.options, { ...this.io, deliveryId: deliveryId(claim.row) });
      return null;
    } catch (err) {
      if (err instanceof NotifyError) return { message: err.message, retryable: err.retryable };
      // An unexpected exception is a bug in the channel, not the service: retrying may still help.
      return { message: err instanceof Error ? err.message : String(err), retryable: true };
    }
  }
}
