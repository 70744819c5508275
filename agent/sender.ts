import { AGENT_HEADER, MAX_BATCH, SIGNATURE_HEADER } from '../shared/protocol-constants';
import { clockOffsetMs } from './clock';
import { postBytes, type PostAnswer } from './http-post';
import type { CollectorTls } from './collector-tls';
import { sign } from '../shared/signing';
import { nextDelay } from './backoff';
import type { Spool, SpooledMessage } from './spool';

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

export interface SenderOptions {
  spool: Spool;
  /** Collector base URL, e.g. http://10.0.0.5:9470 */
  url: string;
  agent: string;
  /** Ed25519 secret key, 64 bytes (tweetnacl layout). */
  secretKey: Uint8Array;
  /** Most messages per request (at most the protocol's MAX_BATCH). */
  batch?: number;
  maxBodyBytes?: number;
  log?: (level: LogLevel, msg: string) => void;
  baseMs?: number;
  capMs?: number;
  fetchTimeoutMs?: number;
  /** How an https:// collector's certificate is checked (agent/collector-tls.ts). */
  tls?: CollectorTls;
}

export interface SenderState {
  lastSuccessAt: string | null;
  lastError: string | null;
  lastErrorAt: string | null;
  consecutiveFailures: number;
  /** What the collector's last answer meant, when it was not an acknowledgement. */
  lastRefusal: 'unreachable' | 'unknown-agent' | 'cannot-store' | 'failed' | 'busy' | null;
}

const utf8 = new TextEncoder();
// The request's own send time goes last: `{"messages":[…],"sentAt":"2026-11-29T02:00:00.000Z"}`.
const BODY_OVERHEAD = Buffer.byteLength(`{"messages":[],"sentAt":"${new Date(0).toISOString()}"}`);
const MAX_RETRY_AFTER_MS = 3_600_000;
/** Times one message alone may fail with a 5xx before a later message is tried to tell a poisoned message from a broken collector. */
const POISON_TRIES = 3;

/** 'idle': the spool is empty; a number: wait that long (ms) before the next attempt. */
type Step = 'idle' | number;

type Answer = PostAnswer;

/**
 * Drains the spool to the collector in signed batches. Messages leave the spool only when the
 * collector acknowledged them (200) or refused them for good (400, or too large); every other
 * outcome keeps them and retries with backoff.
 */
export class Sender {
  private readonly spool: Spool;
  private readonly endpoint: string;
  private readonly agent: string;
  private readonly secretKey: Uint8Array;
  private readonly maxBodyBytes: number;
  private readonly log: (level: LogLevel, msg: string) => void;
  private readonly baseMs: number;
  private readonly capMs: number;
  private readonly fetchTimeoutMs: number;
  private readonly tls: CollectorTls;
  // Lowered after a 413; the collector's limit does not change while we run.
  private batchLimit: number;

  private started = false;
  private loop: Promise<void> | null = null;
  // Waiting flush() calls, each with how many consecutive failures it tolerates.
  private readonly flushers = new Map<(empty: boolean) => void, number>();
  private kicked = false;
  private wake: (() => void) | null = null;
  private wakeOnKick = false;
  private inflight: AbortController | null = null;

  private failures = 0;
  private lastRefusal: SenderState['lastRefusal'] = null;
  /**
   * After a batch failed with a 5xx, its messages go one at a time up to this seq, so one that
   * the collector cannot store (a bug on its side) is found and cannot hold up the others.
   */
  private isolateThrough: number | null = null;
  /** A message that failed alone with a 5xx, and how often. */
  private suspect: { seq: number; failures: number } | null = null;
  private lastSuccessAt: string | null = null;
  private lastError: string | null = null;
  private lastErrorAt: string | null = null;
  private clockOffset: number | null = null;

  constructor(opts: SenderOptions) {
    this.spool = opts.spool;
    this.endpoint = `${opts.url.replace(/\/+$/, '')}/api/v1/reports`;
    this.agent = opts.agent;
    this.secretKey = opts.secretKey;
    this.maxBodyBytes = opts.maxBodyBytes ?? 900 * 1024;
    this.log = opts.log ?? (() => {});
    this.baseMs = opts.baseMs ?? 1000;
    this.capMs = opts.capMs ?? 300_000;
    this.fetchTimeoutMs = opts.fetchTimeoutMs ?? 15_000;
    this.tls = opts.tls ?? {};
    this.batchLimit = Math.min(MAX_BATCH, Math.max(1, opts.batch ?? 100));
  }

  /** Sends whatever is pending, then sleeps until kick(). */
  start(): void {
    this.started = true;
    this.ensureLoop();
  }

  /** Something was appended: send it now, unless we are backing off after a failure. */
  kick(): void {
    this.kicked = true;
    if (this.wakeOnKick) this.wake?.();
  }

  /** Stops the loop and aborts a request in flight (its messages stay in the spool). */
  async stop(): Promise<void> {
    this.started = false;
    for (const done of [...this.flushers.keys()]) done(false);
    await this.halt();
  }

  /** Sends until the spool is empty (true), or `timeoutMs` is up or `maxFailures` tries in a row failed (false). Works without start(). */
  async flush(timeoutMs: number, maxFailures = Infinity): Promise<boolean> {
    const empty = await new Promise<boolean>((resolve) => {
      // Deliberately a ref'd timer: `lifeline-agent run` awaits this before it exits.
      const timer = setTimeout(() => done(false), timeoutMs);
      const done = (result: boolean) => {
        clearTimeout(timer);
        this.flushers.delete(done);
        resolve(result);
      };
      this.flushers.set(done, maxFailures);
      this.ensureLoop();
      this.kick();
    });
    if (!this.wanted()) await this.halt();
    return empty;
  }

  state(): SenderState {
    return { lastSuccessAt: this.lastSuccessAt, lastError: this.lastError, lastErrorAt: this.lastErrorAt, consecutiveFailures: this.failures, lastRefusal: this.lastRefusal };
  }

  /** Collector clock minus ours (ms) from the `Date` header of its last answer; null before any answer. */
  clockOffsetMs(): number | null {
    return this.clockOffset;
  }

  private wanted(): boolean {
    return this.started || this.flushers.size > 0;
  }

  private ensureLoop(): void {
    this.loop ??= this.run();
  }

  private async halt(): Promise<void> {
    this.inflight?.abort(new Error('the sender is stopping'));
    this.wake?.();
    await this.loop;
  }

  private async run(): Promise<void> {
    await null; // lets ensureLoop store this.loop before the exit below can clear it
    for (;;) {
      if (!this.wanted()) {
        this.loop = null;
        return;
      }
      this.kicked = false;
      let next: Step;
      try {
        next = await this.step();
      } catch (err) {
        next = this.failed(`spool error: ${(err as Error).message}`, 'error');
      }
      if (!this.wanted()) continue;
      if (next === 'idle') {
        for (const done of [...this.flushers.keys()]) done(true);
        if (!this.kicked && this.wanted()) await this.pause(null);
      } else if (next > 0) {
        await this.pause(next);
      }
    }
  }

  /** Waits `ms`, or (null) until kick(); halt() ends either. No timer while idle. */
  private pause(ms: number | null): Promise<void> {
    return new Promise((resolve) => {
      const timer = ms === null ? undefined : setTimeout(() => done(), ms);
      const done = () => {
        clearTimeout(timer);
        this.wake = null;
        this.wakeOnKick = false;
        resolve();
      };
      this.wake = done;
      this.wakeOnKick = ms === null;
    });
  }

  /** The next batch: normally up to batchLimit, one at a time while a 5xx is being isolated. */
  private nextBatch(): { items: SpooledMessage[]; probe: boolean } {
    if (this.isolateThrough === null && this.suspect === null) return { items: this.spool.pending(this.batchLimit), probe: false };
    const head = this.spool.pending(2);
    if (head.length === 0 || (this.suspect && head[0].seq !== this.suspect.seq)) this.suspect = null;
    if (this.suspect && this.suspect.failures >= POISON_TRIES && head.length > 1) return { items: [head[1]], probe: true };
    if (this.suspect || (head.length > 0 && this.isolateThrough !== null && head[0].seq <= this.isolateThrough)) return { items: head.slice(0, 1), probe: false };
    this.isolateThrough = null;
    return { items: this.spool.pending(this.batchLimit), probe: false };
  }

  private async step(): Promise<Step> {
    const { items, probe } = this.nextBatch();
    if (items.length === 0) return 'idle';
    const parts: string[] = [];
    let size = BODY_OVERHEAD;
    for (const item of items) {
      const json = JSON.stringify(item.message);
      const bytes = Buffer.byteLength(json);
      if (parts.length === 0 && BODY_OVERHEAD + bytes > this.maxBodyBytes) {
        this.refuse(item, `too large to send: ${bytes} bytes, the request limit is ${this.maxBodyBytes}`);
        return 0;
      }
      if (parts.length > 0 && size + 1 + bytes > this.maxBodyBytes) break;
      size += bytes + (parts.length > 0 ? 1 : 0);
      parts.push(json);
    }
    const batch = items.slice(0, parts.length);
    const body = utf8.encode(`{"messages":[${parts.join(',')}],"sentAt":"${new Date().toISOString()}"}`);

    let answer: Answer;
    try {
      answer = await this.post(body);
    } catch (err) {
      if (!this.wanted()) return 0;
      this.lastRefusal = 'unreachable';
      return this.failed(`cannot reach the collector at ${this.endpoint}: ${describe(err)}`);
    }
    const { status } = answer;
    if (status >= 200 && status < 300) {
      this.spool.ack(batch.map((m) => m.seq));
      if (probe && this.suspect) {
        const suspect = this.spool.pending(1).find((m) => m.seq === this.suspect!.seq);
        if (suspect) this.refuse(suspect, `the collector failed on it ${this.suspect.failures} times (5xx) while it stores later messages: ${this.lastError ?? ''}`.trim());
        this.suspect = null;
      } else if (this.suspect?.seq === batch[0].seq) {
        this.suspect = null;
      }
      if (this.failures > 0) this.log('info', `the collector answers again after ${this.failures} failed attempt(s): delivering the backlog`);
      this.failures = 0;
      this.lastRefusal = null;
      this.lastSuccessAt = new Date().toISOString();
      return 0;
    }
    const error = errorOf(answer.text);
    if (status === 400) return this.refused400(batch, error, answer.text);
    if (status === 413) {
      if (batch.length === 1) {
        this.refuse(batch[0], `the collector refused it as too large (413, ${body.length} bytes)`);
        return 0;
      }
      this.batchLimit = Math.max(1, Math.floor(batch.length / 2));
      this.log('warn', `the collector refused ${batch.length} messages in ${body.length} bytes as too large (413): sending at most ${this.batchLimit} per request`);
      return 0;
    }
    if (status === 401) {
      this.lastRefusal = 'unknown-agent';
      return this.failed(`the collector at ${this.endpoint} does not know agent "${this.agent}" or its key (401${error.code ? ` ${error.code}` : ''}): enroll it with \`lifeline-agent enroll URL TOKEN\` or list its public key in collector.yaml`, 'error');
    }
    if (status === 429) {
      this.lastRefusal = 'busy';
      return this.failed('the collector asks to slow down (429)', 'warn', retryAfterMs(answer.retryAfter));
    }
    if (status === 503) {
      this.lastRefusal = 'cannot-store';
      return this.failed(`the collector cannot store reports now (503${error.code ? ` ${error.code}` : ''}: ${error.message ?? answer.text.slice(0, 200)})`, 'error', retryAfterMs(answer.retryAfter));
    }
    this.lastRefusal = 'failed';
    if (status >= 500) this.serverError(batch, probe);
    return this.failed(`the collector at ${this.endpoint} answered ${status}: ${error.message ?? answer.text.slice(0, 200)}`);
  }

  /** A 5xx the collector could not explain: isolate the batch, and count a lone message's failures. */
  private serverError(batch: SpooledMessage[], probe: boolean): void {
    if (probe) {
      // A later message fails too: the collector is broken, not the message. Start over.
      if (this.suspect) this.suspect.failures = 0;
      return;
    }
    if (batch.length > 1) {
      this.isolateThrough = batch[batch.length - 1].seq;
      return;
    }
    const seq = batch[0].seq;
    this.suspect = this.suspect?.seq === seq ? { seq, failures: this.suspect.failures + 1 } : { seq, failures: 1 };
  }

  private async post(body: Uint8Array<ArrayBuffer>): Promise<Answer> {
    const abort = new AbortController();
    this.inflight = abort;
    try {
      const headers = { 'content-type': 'application/json', [AGENT_HEADER]: this.agent, [SIGNATURE_HEADER]: sign(body, this.secretKey) };
      const sentAt = Date.now();
      const answer = await postBytes(this.endpoint, body, headers, { timeoutMs: this.fetchTimeoutMs, signal: abort.signal, tls: this.tls });
      // Any answer (even a refusal) carries the collector's time.
      this.clockOffset = clockOffsetMs(sentAt, Date.now(), answer.date) ?? this.clockOffset;
      return answer;
    } finally {
      this.inflight = null;
    }
  }

  /** A 400 names the message it refused (by index, else by path); that one is quarantined. */
  private refused400(batch: SpooledMessage[], error: ErrorFields, text: string): Step {
    let index = typeof error.index === 'number' ? error.index : Number(/^messages\.(\d+)/.exec(String(error.path ?? ''))?.[1] ?? 0);
    if (!Number.isInteger(index) || index < 0 || index >= batch.length) index = 0;
    const detail = typeof error.message === 'string' ? error.message : text.slice(0, 200);
    const where = typeof error.path === 'string' && error.path ? ` at ${error.path}` : '';
    this.refuse(batch[index], `the collector refused it (400${typeof error.code === 'string' ? ` ${error.code}` : ''}): ${detail}${where}`);
    return 0;
  }

  private refuse(item: SpooledMessage, reason: string): void {
    this.spool.reject(item.seq, reason);
    const msg = `message seq ${item.seq} (${item.message.kind}) set aside in ${this.spool.dir}/rejected: ${reason}`;
    this.lastError = msg;
    this.lastErrorAt = new Date().toISOString();
    this.log('error', msg);
  }

  private failed(msg: string, level: LogLevel = 'warn', delayMs?: number | null): number {
    this.failures++;
    for (const [done, max] of [...this.flushers]) if (this.failures >= max) done(false);
    this.lastError = msg;
    this.lastErrorAt = new Date().toISOString();
    const delay = Math.max(1, delayMs ?? nextDelay(this.failures, { baseMs: this.baseMs, capMs: this.capMs }));
    this.log(level, `${msg}; messages stay in the spool, retrying in ${(delay / 1000).toFixed(1)} s`);
    return delay;
  }
}

interface ErrorFields {
  code?: string;
  message?: string;
  path?: unknown;
  index?: unknown;
}

/** The collector's error body ({ error: { code, message, path, index } }), or nothing when it is not one. */
function errorOf(text: string): ErrorFields {
  try {
    const e = (JSON.parse(text) as { error?: Record<string, unknown> }).error ?? {};
    return { ...e, code: typeof e.code === 'string' ? e.code : undefined, message: typeof e.message === 'string' ? e.message : undefined };
  } catch {
    return {};
  }
}

function retryAfterMs(header: string | null): number | null {
  if (!header) return null;
  const ms = /^\s*\d+\s*$/.test(header) ? Number(header) * 1000 : Date.parse(header) - Date.now();
  return Number.isFinite(ms) ? Math.min(MAX_RETRY_AFTER_MS, Math.max(0, ms)) : null;
}

function describe(err: unknown): string {
  const e = err as Error & { cause?: { code?: string; message?: string } };
  const cause = e?.cause?.code ?? e?.cause?.message;
  const msg = e?.message ?? String(err);
  return cause ? `${msg} (${cause})` : msg;
}
