import { createHash, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { FastifyReply, FastifyRequest, onRequestHookHandler } from 'fastify';
import type { AppContext } from '../context';
import { httpError } from '../errors';

// Read access to the page, the JSON read API and /metrics (config `access.read`). Only GET and
// HEAD are guarded: agents' signed reports and enrollment have their own authentication, and
// admin actions check the admin token themselves, whatever the read mode.

export const READ_COOKIE = 'lifeline_read';
const OPEN_PATHS = new Set(['/healthz']);

const digest = (s: string) => createHash('sha256').update(s).digest();
const same = (a: Buffer, b: Buffer) => a.length === b.length && timingSafeEqual(a, b);

/** A request hook enforcing `access.read`; register it once on the app (it covers every route). */
export function readAccess(ctx: AppContext): onRequestHookHandler {
  const { access } = ctx.config;
  if (access.read === 'open') return async () => {};
  const allowed = access.read === 'token' ? tokenCheck(readFileSync(access.tokenFile!, 'utf8').trim()) : basicCheck(parseUsers(readFileSync(access.usersFile!, 'utf8')));
  return async (req, reply) => {
    if ((req.method !== 'GET' && req.method !== 'HEAD') || OPEN_PATHS.has(req.url.split('?')[0])) return;
    if (!allowed(req, reply)) {
      const err = httpError('E_READ_AUTH', access.read === 'token' ? 'a read token: "Authorization: Bearer <token>" or ?token=' : 'a user name and password');
      if (access.read === 'basic') err.headers['www-authenticate'] = 'Basic realm="Lifeline", charset="UTF-8"';
      throw err;
    }
    // Signed in through a link: drop the token from the address bar and history.
    if (access.read === 'token' && /[?&]token=/.test(req.url) && (req.headers.accept ?? '').includes('text/html')) {
      return reply.redirect(withoutToken(req.url), 303);
    }
  };
}

type Check = (req: FastifyRequest, reply: FastifyReply) => boolean;

function tokenCheck(token: string): Check {
  if (token === '') throw new Error('access.tokenFile is empty');
  const want = digest(token);
  return (req, reply) => {
    const bearer = /^Bearer\s+(\S+)$/i.exec(req.headers.authorization ?? '')?.[1];
    if (bearer !== undefined) return same(digest(bearer), want);
    const query = (req.query as Record<string, unknown> | undefined)?.token;
    if (typeof query === 'string') {
      if (!same(digest(query), want)) return false;
      // A link with ?token= signs the browser in: the cookie carries the token from then on.
      const secure = req.protocol === 'https' ? '; Secure' : '';
      reply.header('set-cookie', `${READ_COOKIE}=${encodeURIComponent(query)}; HttpOnly; SameSite=Strict; Path=/${secure}`);
      return true;
    }
    const cookie = readCookie(req.headers.cookie, READ_COOKIE);
    return cookie !== null && same(digest(cookie), want);
  };
}

function basicCheck(users: Map<string, Buffer>): Check {
  const nobody = digest('\0no such user');
  return (req) => {
    const m = /^Basic\s+([A-Za-z0-9+/=]+)$/i.exec(req.headers.authorization ?? '');
    if (!m) return false;
    const decoded = Buffer.from(m[1], 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon < 0) return false;
    const want = users.get(decoded.slice(0, colon));
    // Compare even for an unknown user, so the answer takes as long either way.
    const ok = same(digest(decoded.slice(colon + 1)), want ?? nobody);
    return ok && want !== undefined;
  };
}

/** usersFile: one "user:password" or "user:sha256:<64 hex>" per line; # comments and blank lines ignored. */
export function parseUsers(text: string): Map<string, Buffer> {
  const users = new Map<string, Buffer>();
  text.split('\n').forEach((raw, i) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    const colon = line.indexOf(':');
    if (colon <= 0 || colon === line.length - 1) throw new Error(`access.usersFile line ${i + 1}: expected "user:password" or "user:sha256:<hex>"`);
    const secret = line.slice(colon + 1);
    const hashed = /^sha256:([0-9a-fA-F]{64})$/.exec(secret);
    users.set(line.slice(0, colon), hashed ? Buffer.from(hashed[1], 'hex') : digest(secret));
  });
  if (users.size === 0) throw new Error('access.usersFile lists no users');
  return users;
}

function readCookie(header: string | undefined, name: string): string | null {
  for (const part of (header ?? '').split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) {
      try {
        return decodeURIComponent(part.slice(eq + 1).trim());
      } catch {
        return null;
      }
    }
  }
  return null;
}

function withoutToken(url: string): string {
  const [path, query = ''] = url.split('?', 2);
  const rest = query.split('&').filter((p) => p !== '' && !/^token=/i.test(p));
  return rest.length ? `${path}?${rest.join('&')}` : path;
}

/**
 * The URL with a ?token= value blanked, for request logs: secrets never reach a log. The name is
 * compared decoded, as Fastify reads it (`?%74oken=` signs in just like `?token=`).
 */
export function redactUrl(url: string): string {
  const q = url.indexOf('?');
  if (q < 0) return url;
  const params = url
    .slice(q + 1)
    .split('&')
    .map((p) => {
      const eq = p.indexOf('=');
      return eq >= 0 && decodedName(p.slice(0, eq)).toLowerCase() === 'token' ? `${p.slice(0, eq)}=REDACTED` : p;
    });
  return `${url.slice(0, q)}?${params.join('&')}`;
}

function decodedName(raw: string): string {
  try {
    return decodeURIComponent(raw.replace(/\+/g, ' '));
  } catch {
    return raw;
  }
}
