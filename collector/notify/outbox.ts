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
//
// Channels are independent: each has its own few delivery slots, and a row is claimed only when
// its channel has a free one, so a receiver that never answers holds its own slots until its
// timeout and nobody else's. Within a channel, notifications about one incident leave in the
// order they were queued (an "opened" never arrives after its "resolved"): a row waits while an
// earlier row of its incident on that channel is unsent and still to be tried.

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
/** Deliveries in flight at once on one channel. */
export const DEFAULT_CONCURRENCY = 4;

export interface ClaimFilter {
  /** Only this channel's rows. */
  channel?: string;
  /** Rows not to claim (this sender's sends still in progress, even past their lease). */
  skip?: Iterable<number>;
}

/**
 * Claims up to `limit` due rows: unsent, not given up, next attempt reached, unclaimed or
 * claimed longer than `leaseMs` ago, and not behind an earlier row of the same incident and
 * channel that is still to be sent. Each claim is a compare-and-set on the claim we saw.
 */
export function claimDue(db: Db, now: number, limit: number, leaseMs = DEFAULT_LEASE_MS, filter: ClaimFilter = {}): Claim[] {
  const due = db
    .prepare(
      `SELECT * FROM outbox o
       WHERE sent_at IS NULL AND next_attempt_at IS NOT NULL AND next_attempt_at <= @now
         AND (claimed_at IS NULL OR claimed_at <= @leaseStart)
         AND (@channel IS NULL OR channel = @channel)
         AND id NOT IN (SELECT value FROM json_each(@skip))
         AND NOT EXISTS (
           -- Through the index of unsent rows: the sent history does not slow the claim down.
           SELECT 1 FROM outbox p INDEXED BY outbox_due
           WHERE p.sent_at IS NULL AND p.next_attempt_at IS NOT NULL
             AND p.incident_id = o.incident_id AND p.channel = o.channel AND p.id < o.id)
       ORDER BY next_attempt_at, id LIMIT @limit`,
    )
    .all({ now, leaseStart: now - leaseMs, channel: filter.channel ?? null, skip: JSON.stringify([...(filter.skip ?? [])]), limit }) as OutboxRow[];
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

/** Channels with a row that may be due at `now`, the longest-waiting first. */
export function dueChannels(db: Db, now: number, leaseMs = DEFAULT_LEASE_MS): string[] {
  const rows = db
    .prepare(
      `SELECT channel FROM outbox
       WHERE sent_at IS NULL AND next_attempt_at IS NOT NULL AND next_attempt_at <= ?
         AND (claimed_at IS NULL OR claimed_at <= ?)
       GROUP BY channel ORDER BY MIN(next_attempt_at), channel`,
    )
    .all(now, now - leaseMs) as { channel: string }[];
  return rows.map((r) => r.channel);
}

/** Marks a claimed row sent at `now`, when the service accepted it; false if the claim was lost (lease expired and taken over). */
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

/**
 * Records an attempt that failed at `now` (when it ended): schedules a retry backed off from
 * then, or gives up (next_attempt_at NULL). Returns which.
 */
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
  /** Deliveries in flight at once per channel (default 4). */
  concurrency?: number;
  /** Rows one drain claims at most; the next poll or poke goes on. */
  batch?: number;
  retry?: Partial<RetryPolicy>;
  clock?: () => number;
  log?: SenderLog;
  /** Told each attempt's outcome (a given-up attempt is 'gave-up' only), e.g. for the collector's self-watch. */
  onOutcome?: (channel: string, outcome: 'sent' | 'failed' | 'gave-up') => void;
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
  private readonly concurrency: number;
  private readonly batch: number;
  private readonly retry: RetryPolicy;
  private readonly clock: () => number;
  private readonly log?: SenderLog;
  private readonly onOutcome?: OutboxSenderOptions['onOutcome'];
  private timer: NodeJS.Timeout | null = null;
  private stopped = false;
  /** Sends in progress per channel, over all drains: the bound a hung receiver cannot exceed. */
  private readonly busy = new Map<string, number>();
  /** Rows this sender is sending; never claimed again by it, even once their lease has run out. */
  private readonly sending = new Set<number>();
  private readonly drains = new Set<Promise<unknown>>();

  constructor(opts: OutboxSenderOptions) {
    this.db = opts.db;
    this.byName = new Map(opts.channels.map((c) => [c.name, c]));
    this.registry = opts.registry ?? CHANNELS;
    this.io = { fetch: globalThis.fetch, readSecret: readSecretFile, timeoutMs: DEFAULT_SEND_TIMEOUT_MS, ...opts.io };
    this.intervalMs = opts.intervalMs ?? 5_000;
    this.leaseMs = opts.leaseMs ?? DEFAULT_LEASE_MS;
    if (this.leaseMs <= this.io.timeoutMs) throw new RangeError('the outbox lease must be longer than the send timeout');
    this.concurrency = opts.concurrency ?? DEFAULT_CONCURRENCY;
    if (!(Number.isInteger(this.concurrency) && this.concurrency >= 1)) throw new RangeError('the outbox concurrency must be a whole number of at least 1');
    this.batch = opts.batch ?? 20;
    this.retry = { ...DEFAULT_RETRY, ...opts.retry };
    this.clock = opts.clock ?? Date.now;
    this.log = opts.log;
    this.onOutcome = opts.onOutcome;
  }

  /** Polls every intervalMs; the timer is unref'd so it never keeps the process alive. */
  start(): void {
    if (this.timer) return;
    this.stopped = false;
    this.timer = setInterval(() => this.poke(), this.intervalMs);
    this.timer.unref();
    this.poke();
  }

  /**
   * Drains now (e.g. right after an evaluation queued rows). A drain still waiting on a slow
   * channel does not hold this one back: it takes whatever the free slots of other channels
   * (and of that one) allow.
   */
  poke(): void {
    if (this.stopped) return;
    void this.drainOnce(this.clock()).catch((err) => this.log?.error({ err }, 'outbox drain failed'));
  }

  /** Stops polling and claiming, and waits for the sends in progress to finish. */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.stopped = true;
    await Promise.allSettled([...this.drains]);
  }

  /**
   * Claims what is due at `now` as the channels' free slots allow, sends it, and claims more as
   * sends finish, up to `batch` rows; resolves when its sends are done. Later moments of the
   * drain (claims, answers, failures) are stamped `now` plus the time elapsed on the clock.
   */
  drainOnce(now: number): Promise<DrainResult> {
    const started = this.clock();
    const at = () => now + Math.max(0, this.clock() - started);
    const result: DrainResult = { sent: 0, retried: 0, gaveUp: 0, lost: 0 };
    let left = this.batch;
    let inFlight = 0;
    let failure: unknown = null;
    let finish!: () => void;
    const done = new Promise<void>((resolve) => (finish = resolve));

    const fill = () => {
      if (this.stopped || failure !== null) return;
      try {
        const t = at();
        for (const channel of dueChannels(this.db, t, this.leaseMs)) {
          if (left <= 0) break;
          const free = this.concurrency - (this.busy.get(channel) ?? 0);
          if (free <= 0) continue;
          for (const claim of claimDue(this.db, t, Math.min(free, left), this.leaseMs, { channel, skip: this.sending })) {
            left--;
            inFlight++;
            void this.attempt(claim, at, result).finally(() => {
              inFlight--;
              fill();
              if (inFlight === 0) finish();
            });
          }
        }
      } catch (err) {
        failure = err;
      }
    };

    fill();
    if (inFlight === 0) finish();
    const drain = done.then(() => {
      if (failure !== null) throw failure;
      return result;
    });
    this.drains.add(drain);
    void drain.then(
      () => this.drains.delete(drain),
      () => this.drains.delete(drain),
    );
    return drain;
  }

  /** One delivery attempt on a claimed row, holding a slot of its channel until it ends. */
  private async attempt(claim: Claim, at: () => number, result: DrainResult): Promise<void> {
    const { channel, id } = claim.row;
    this.busy.set(channel, (this.busy.get(channel) ?? 0) + 1);
    this.sending.add(id);
    try {
      const outcome = await this.deliver(claim);
      // Stamped when the attempt ended: sent_at is when the service accepted the message, and a
      // retry backs off from the failure, not from when the drain began.
      const ended = at();
      if (outcome === null) {
        if (markSent(this.db, claim, ended)) {
          result.sent++;
          this.onOutcome?.(channel, 'sent');
        } else result.lost++;
        return;
      }
      const r = markFailed(this.db, claim, ended, outcome.message, outcome.retryable, this.retry);
      const fields = { outboxId: id, channel, attempt: claim.row.attempts + 1, error: outcome.message };
      if (r === 'retry') {
        result.retried++;
        this.onOutcome?.(channel, 'failed');
        this.log?.warn(fields, 'notification failed; will retry');
      } else if (r === 'gave-up') {
        result.gaveUp++;
        this.onOutcome?.(channel, 'gave-up');
        this.log?.error(fields, 'notification failed; giving up');
      } else result.lost++;
    } catch (err) {
      // Recording the outcome failed (the database is closing): the claim's lease brings the row back.
      result.lost++;
      this.log?.error({ err, outboxId: id, channel }, 'cannot record a notification attempt');
    } finally {
      this.sending.delete(id);
      const n = (this.busy.get(channel) ?? 1) - 1;
      if (n === 0) this.busy.delete(channel);
      else this.busy.set(channel, n);
    }
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
