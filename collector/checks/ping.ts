import { UUID_RE } from './schema';

// The Healthchecks ping API read as Healthchecks reads it (hc/api/urls.py and views.py `ping`,
// `ping_by_slug`; shared/REFERENCE-INTEGRATIONS.md §9), so every client that speaks it —
// borgmatic's hook, Backrest, cron `curl` wrappers — works unchanged pointed at Lifeline.

export type PingAction = 'success' | 'start' | 'fail' | 'log';

/** What a ping path names: a check by UUID or by ping key and slug, and what happened. */
export type PingTarget = ({ by: 'id'; id: string } | { by: 'slug'; key: string; slug: string }) & {
  action: PingAction;
  /** The exit status of /<0-255>; null for the other suffixes. */
  exitStatus: number | null;
};

/** A refusal with Healthchecks' own status and text. */
export interface PingRefusal {
  status: 400 | 404;
  body: 'not found' | 'invalid url format' | 'invalid uuid format';
}

export const NOT_FOUND: PingRefusal = { status: 404, body: 'not found' };
export const INVALID_URL: PingRefusal = { status: 400, body: 'invalid url format' };

const SLUG_RE = /^[-a-zA-Z0-9_]+$/;
const SUFFIXES: Record<string, PingAction> = { '': 'success', start: 'start', fail: 'fail', log: 'log' };

/**
 * The part of a ping URL after `/ping/` → what it names. Healthchecks' URL patterns: `<uuid>`,
 * `<uuid>/`, `<uuid>/start|fail|log|<int>`, and `<ping-key>/<slug>` with the same suffixes.
 * An exit status above 255 and a slug not in lowercase are `400 invalid url format` (checked
 * after the lookup there, so the caller applies `refusal` only once the check exists).
 */
export function parsePingPath(rest: string): (PingTarget & { refusal?: PingRefusal }) | PingRefusal {
  const parts = rest.split('/');
  let head: { by: 'id'; id: string } | { by: 'slug'; key: string; slug: string };
  let tail: string[];
  if (UUID_RE.test(parts[0])) {
    head = { by: 'id', id: parts[0].toLowerCase() };
    tail = parts.slice(1);
  } else {
    if (parts.length < 2 || !SLUG_RE.test(parts[0]) || !SLUG_RE.test(parts[1])) return NOT_FOUND;
    head = { by: 'slug', key: parts[0], slug: parts[1] };
    tail = parts.slice(2);
  }
  if (tail.length > 1) return NOT_FOUND;
  const suffix = tail[0] ?? '';
  let action = SUFFIXES[suffix];
  let exitStatus: number | null = null;
  if (action === undefined) {
    if (!/^[0-9]+$/.test(suffix)) return NOT_FOUND;
    exitStatus = Number(suffix);
    action = exitStatus === 0 ? 'success' : 'fail';
  }
  const target: PingTarget & { refusal?: PingRefusal } = { ...head, action, exitStatus };
  if ((exitStatus !== null && exitStatus > 255) || (head.by === 'slug' && head.slug !== head.slug.toLowerCase())) target.refusal = INVALID_URL;
  return target;
}

export const isRefusal = (p: PingTarget | PingRefusal): p is PingRefusal => 'status' in p;

/** `?rid=`: absent, or a UUID in canonical form (either case); anything else `400 invalid uuid format`. */
export function parseRid(rid: unknown): { rid: string | null } | PingRefusal {
  if (rid === undefined) return { rid: null };
  if (typeof rid !== 'string' || !UUID_RE.test(rid)) return { status: 400, body: 'invalid uuid format' };
  return { rid: rid.toLowerCase() };
}

/** What a completion ping says of the run: fail or a non-zero exit status is a failure. */
export function pingOutcome(action: 'success' | 'fail', exitStatus: number | null): { status: 'success' | 'failure'; exitCode: number | null; error?: string } {
  if (action === 'success') return { status: 'success', exitCode: exitStatus };
  return {
    status: 'failure',
    exitCode: exitStatus,
    error: exitStatus === null ? 'the check reported a failure (/fail ping)' : `the check reported exit status ${exitStatus}`,
  };
}

/**
 * The path with the secret part blanked, for logs: a check's UUID keeps its first 8 digits (to
 * tell checks apart), a ping key or an intake id is dropped. Other paths are returned unchanged.
 */
export function redactIntakePath(url: string): string {
  return url.replace(/^\/(ping|intake\/[a-z]+)\/([^/?]*)/i, (_m, route: string, secret: string) =>
    `/${route}/${UUID_RE.test(secret) ? `${secret.slice(0, 8)}-REDACTED` : 'REDACTED'}`,
  );
}
