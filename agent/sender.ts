import { AGENT_HEADER, MAX_BATCH, SIGNATURE_HEADER } from '../shared/protocol-constants';
import { clockOffsetMs } from './clock';
import { postBytes, type PostAnswer } from './http-post';
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
}

export interface SenderState {
  lastSuccessAt: string | null;
  lastError: string | null;
  lastErrorAt: string | null;
  consecutiveFailures: number;
}

const utf8 = new TextEncoder();
const BODY_OVERHEAD = Buffer.byteLength('{"messages":[]}');
const MAX_RETRY_AFTER_MS = 3_600_000;
const ENROLL_HINT = 'the collector does not know this agent or its key: run `lifeline-agent enroll`';

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
    return { lastSuccessAt: this.lastSuccessAt, lastError: this.lastError, lastErrorAt: this.lastErrorAt, consecutiveFailures: this.failures };
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

  private async step(): Promise<Step> {
    const items = this.spool.pending(this.batchLimit);
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
    const body = utf8.encode(`{"messages":[${parts.join(',')}]}`);

    let answer: Answer;
    try {
      answer = await this.post(body);
    } catch (err) {
      if (!this.wanted()) return 0;
      return this.failed(`cannot reach the collector at ${this.endpoint}: ${describe(err)}`);
    }
    const { status } = answer;
    if (status >= 200 && status < 300) {
      this.spool.ack(batch.map((m) => m.seq));
      if (this.failures > 0) this.log('info', `the collector answers again after ${this.failures} failed attempt(s): delivering the backlog`);
      this.failures = 0;
      this.lastSuccessAt = new Date().toISOString();
      return 0;
    }
    if (status === 400) return this.refused400(batch, answer.text);
    if (status === 413) {
      if (batch.length === 1) {
        this.refuse(batch[0], `the collector refused it as too large (413, ${body.length} bytes)`);
        return 0;
      }
      this.batchLimit = Math.max(1, Math.floor(batch.length / 2));
      this.log('warn', `the collector refused ${batch.length} messages in ${body.length} bytes as too large (413): sending at most ${this.batchLimit} per request`);
      return 0;
    }
    if (status === 401) return this.failed(ENROLL_HINT, 'error');
    if (status === 429) return this.failed('the collector asks to slow down (429)', 'warn', retryAfterMs(answer.retryAfter));
    return this.failed(`the collector at ${this.endpoint} answered ${status}: ${answer.text.slice(0, 200)}`);
  }

  private async post(body: Uint8Array<ArrayBuffer>): Promise<Answer> {
    const abort = new AbortController();
    this.inflight = abort;
    try {
      const headers = { 'content-type': 'application/json', [AGENT_HEADER]: this.agent, [SIGNATURE_HEADER]: sign(body, this.secretKey) };
      const sentAt = Date.now();
      const answer = await postBytes(this.endpoint, body, headers, { timeoutMs: this.fetchTimeoutMs, signal: abort.signal });
      // Any answer (even a refusal) carries the collector's time.
      this.clockOffset = clockOffsetMs(sentAt, Date.now(), answer.date) ?? this.clockOffset;
      return answer;
    } finally {
      this.inflight = null;
    }
  }

  /** A 400 names the message it refused (by index, else by path); that one is quarantined. */
  private refused400(batch: SpooledMessage[], text: string): Step {
    let error: { code?: unknown; message?: unknown; path?: unknown; index?: unknown } = {};
    try {
      error = (JSON.parse(text) as { error?: typeof error }).error ?? {};
    } catch {
      /* not JSON: no index, the first message is blamed */
    }
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
