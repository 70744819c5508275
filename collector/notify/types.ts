import type { z } from 'zod';
import type { Severity, Tier } from '../incidents/types';

export type NotifyEvent = 'open' | 'reminder' | 'resolved' | 'report';
export const NOTIFY_EVENTS: readonly NotifyEvent[] = ['open', 'reminder', 'resolved', 'report'];

/** What every channel is asked to deliver; stored as the outbox row's JSON payload. */
export interface NotificationMessage {
  event: NotifyEvent;
  severity: Severity;
  title: string;
  /** Markdown. */
  body: string;
  tags: string[];
  clickUrl?: string;
  asset?: string;
  tier?: Tier;
}

/** The zod namespace, handed to channels by the config loader (see `Channel.options`). */
export type Zod = typeof z;

/** What a channel may use to deliver; tests and the sender pass their own. */
export interface ChannelIo {
  fetch: typeof fetch;
  /** Reads a secret file (trimmed) at send time; its contents must never be logged. */
  readSecret(path: string): Promise<string>;
  /** Per-attempt time limit for one delivery (HTTP request or child process). */
  timeoutMs: number;
  /** The same on every attempt at one notification (its outbox row): for services that de-duplicate. */
  deliveryId?: string;
}

/**
 * One notification service. Adding a channel is one new module and one line in
 * channels/index.ts. `options` is a factory taking zod, like agent drivers.
 */
export interface Channel<O = any> {
  type: string;
  options(z: Zod): z.ZodType<O>;
  send(message: NotificationMessage, options: O, io: ChannelIo): Promise<void>;
}

/** A delivery failure; `retryable` says whether the outbox should try again later. */
export class NotifyError extends Error {
  constructor(message: string, readonly retryable: boolean, readonly status?: number) {
    super(message);
    this.name = 'NotifyError';
  }
}

/** 5xx, 429 and 408 are worth retrying; other 4xx mean the request itself is wrong. */
export function retryableStatus(status: number): boolean {
  return status >= 500 || status === 429 || status === 408;
}

const MAX_ERROR_TEXT = 300;

/** Turns a non-2xx response into a NotifyError, quoting a bounded part of its body. */
export async function httpFailure(what: string, res: Response): Promise<NotifyError> {
  let text = '';
  try {
    text = (await res.text()).replace(/\s+/g, ' ').trim().slice(0, MAX_ERROR_TEXT);
  } catch {
    // The body is only for the error message.
  }
  // A service may echo the request (a URL with its token) in an error page.
  text = redactUrlsIn(text);
  return new NotifyError(`${what} answered HTTP ${res.status}${text ? `: ${text}` : ''}`, retryableStatus(res.status), res.status);
}

/** fetch with the io's time limit; network errors and timeouts become retryable NotifyErrors. */
export async function post(io: ChannelIo, what: string, url: string, init: { headers: Record<string, string>; body: string }): Promise<Response> {
  try {
    return await io.fetch(url, { method: 'POST', headers: init.headers, body: init.body, signal: AbortSignal.timeout(io.timeoutMs), redirect: 'error' });
  } catch (err) {
    const reason = err instanceof Error ? (err.name === 'TimeoutError' ? `no answer within ${io.timeoutMs} ms` : ((err.cause as Error | undefined)?.message ?? err.message)) : String(err);
    // fetch quotes what it refuses: a URL with credentials, or a header value (the token itself).
    return Promise.reject(new NotifyError(`${what}: cannot reach ${redactUrl(url)}: ${redactUrlsIn(reason, [init.headers.Authorization])}`, true));
  }
}

/** Keeps scheme, host and path of a URL; drops credentials and query (they may hold tokens). */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.host}${u.pathname}`;
  } catch {
    return '(invalid url)';
  }
}

/**
 * Text for an error or a log line with every secret it might quote taken out: the given values
 * (a header the channel built from a secret file) and any URL's credentials and query (http),
 * or everything after the scheme (Apprise's service URLs carry tokens in any part).
 */
export function redactUrlsIn(text: string, secrets: readonly (string | undefined)[] = []): string {
  let out = text;
  for (const s of secrets) if (s && s.length >= 3) out = out.split(s).join('(redacted)');
  return out.replace(/\b([a-z][a-z0-9+.-]*):\/\/[^\s"'<>]+/gi, (url, scheme: string) =>
    /^https?$/i.test(scheme) ? redactUrl(url) : `${scheme}://(redacted)`,
  );
}

/** Cuts a string to at most `maxBytes` of UTF-8 without splitting a character, marking the cut. */
export function truncateUtf8(text: string, maxBytes: number, marker = '\n…(truncated)'): string {
  const buf = Buffer.from(text, 'utf8');
  if (buf.length <= maxBytes) return text;
  const room = maxBytes - Buffer.byteLength(marker);
  let end = Math.max(0, room);
  // Step back over UTF-8 continuation bytes (10xxxxxx) so no character is split.
  while (end > 0 && (buf[end] & 0xc0) === 0x80) end--;
  return buf.subarray(0, end).toString('utf8') + marker;
}

const SECRET_FILE_SCHEMAS = new WeakSet<object>();

/**
 * A path option naming a secret file: absolute, read at send time. Declaring an option with it
 * is what makes the config loader check the file (exists, readable, mode 0600) at start.
 */
export function secretFile(z: Zod) {
  const schema = z.string().refine((p) => p.startsWith('/'), { message: 'expected an absolute path' });
  SECRET_FILE_SCHEMAS.add(schema);
  return schema;
}

/** Whether an option's schema (optional or defaulted or not) was declared with secretFile(). */
export function isSecretFileOption(schema: unknown): boolean {
  let s = schema as { unwrap?: () => unknown } | undefined;
  for (let depth = 0; s && depth < 5; depth++) {
    if (SECRET_FILE_SCHEMAS.has(s)) return true;
    s = typeof s.unwrap === 'function' ? (s.unwrap() as typeof s) : undefined;
  }
  return false;
}
