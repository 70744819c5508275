import { formatPath } from '../shared/protocol';

// Every HTTP error the collector answers with, declared once (like Fastify's lib/errors.js):
// a stable code clients can match on, the HTTP status, and a message template ("%s" per arg).

interface ErrorDef {
  status: number;
  message: string;
}

const defs = {
  E_UNAUTHENTICATED: { status: 401, message: 'missing %s header' },
  E_UNKNOWN_AGENT: { status: 401, message: 'unknown agent %s; list it in collector.yaml or enroll it with a token' },
  E_BAD_SIGNATURE: { status: 401, message: 'signature does not verify for agent %s over the received body' },
  E_RATE_LIMITED: { status: 429, message: 'agent %s is sending too fast; retry after %s s' },
  E_BAD_JSON: { status: 400, message: 'body is not valid JSON: %s' },
  E_INVALID: { status: 400, message: '%s: %s' },
  E_AGENT_MISMATCH: { status: 400, message: 'body is from agent %s but the request header names agent %s' },
  E_BODY_TOO_LARGE: { status: 413, message: 'body is larger than %s bytes (limits.bodyBytes)' },
  E_UNSUPPORTED_MEDIA_TYPE: { status: 415, message: 'unsupported content type' },
  E_TOKEN_UNKNOWN: { status: 401, message: 'unknown enrollment token; create one with "lifeline-collector token create NAME"' },
  E_TOKEN_EXPIRED: { status: 401, message: 'enrollment token expired at %s; create a new one with "lifeline-collector token create %s"' },
  E_TOKEN_USED: { status: 401, message: 'enrollment token was already used at %s; tokens are single-use, create a new one' },
  E_TOKEN_NAME: { status: 400, message: 'enrollment token was issued for agent %s, not %s' },
  E_KEY_CONFLICT: { status: 409, message: 'agent %s is already enrolled with a different public key; remove it first to rotate the key' },
  E_NOT_FOUND: { status: 404, message: 'no route for %s %s' },
  E_NO_SUCH: { status: 404, message: 'no %s %s' },
  E_ADMIN_DISABLED: { status: 403, message: 'admin actions are disabled: set adminTokenFile in collector.yaml' },
  E_ADMIN_TOKEN: { status: 401, message: 'admin actions need "Authorization: Bearer <admin token>"' },
  E_READ_AUTH: { status: 401, message: 'reading needs %s (access.read in collector.yaml)' },
  E_BAD_REQUEST: { status: 400, message: '%s' },
  // Checks (collector/checks/) and their intake routes.
  E_INTAKE_DISABLED: { status: 403, message: '%s intake is disabled: set intake.%s in collector.yaml' },
  E_INTAKE_SECRET: { status: 401, message: 'missing or wrong %s header (intake.%s)' },
  E_CHECK_RATE_LIMITED: { status: 429, message: 'this check is reporting too fast; retry after %s s' },
  E_CHECK_CONFLICT: { status: 409, message: 'a check with this %s already exists' },
  // The database cannot store or answer now (full disk, read-only, I/O error, damage, a lock):
  // 503 with Retry-After; agents keep their spool and try again. E_INTERNAL is for bugs only.
  E_CANNOT_STORE: { status: 503, message: 'the collector cannot store reports now: %s' },
  E_DATABASE: { status: 503, message: 'the collector database cannot answer now: %s' },
  E_INTERNAL: { status: 500, message: 'internal error; see the collector log' },
} satisfies Record<string, ErrorDef>;

export type ErrorCode = keyof typeof defs;
export const ERRORS: Readonly<Record<ErrorCode, Readonly<ErrorDef>>> = Object.freeze(defs);

export interface ErrorBody {
  error: { code: ErrorCode; message: string; path?: string; index?: number };
}

export class HttpError extends Error {
  readonly statusCode: number;
  /** Extra response headers, e.g. Retry-After on 429. */
  headers: Record<string, string> = {};
  path?: string;
  index?: number;

  constructor(readonly code: ErrorCode, args: readonly unknown[] = []) {
    const def = ERRORS[code];
    let i = 0;
    super(def.message.replace(/%s/g, () => String(args[i++])));
    this.name = 'HttpError';
    this.statusCode = def.status;
  }

  body(): ErrorBody {
    const error: ErrorBody['error'] = { code: this.code, message: this.message };
    if (this.path !== undefined) error.path = this.path;
    if (this.index !== undefined) error.index = this.index;
    return { error };
  }
}

export function httpError(code: ErrorCode, ...args: unknown[]): HttpError {
  return new HttpError(code, args);
}

/** A 400 pointing at one field: path "messages.3.runId", index 3 when it is inside messages[3]. */
export function invalidField(path: readonly PropertyKey[], message: string): HttpError {
  const dotted = formatPath(path);
  const err = new HttpError('E_INVALID', [dotted || '(body)', message]);
  err.path = dotted;
  if (path[0] === 'messages' && typeof path[1] === 'number') err.index = path[1];
  return err;
}
