import { createHash, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import fastifyCookie from '@fastify/cookie';
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import type { AppContext } from '../context';
import { httpError } from '../errors';
import { parseUsersFile, passwordChecker, weakUsersWarning } from '../passwords';

// Read access to the page, the JSON read API and /metrics (config `access.read`). Only GET and
// HEAD are guarded: agents' signed reports and enrollment have their own authentication, and
// admin actions check the admin token (adminCheck below), whatever the read mode.
//
// Cookies go through @fastify/cookie (parsing and Set-Cookie). Bearer and basic auth stay here
// rather than in @fastify/bearer-auth / @fastify/basic-auth: one hook serves three modes, the read
// token is also taken from ?token= (a link that signs a phone in) and its cookie, which
// bearer-auth cannot do, and errors keep the collector's own shape and codes (E_READ_AUTH,
// E_ADMIN_TOKEN); what is left is a header regex and a constant-time compare, written once.

export const READ_COOKIE = 'lifeline_read';
const OPEN_PATHS = new Set(['/healthz']);

const digest = (s: string) => createHash('sha256').update(s).digest();

/** The token of an "Authorization: Bearer <token>" header, if there is one. */
export const bearerToken = (req: FastifyRequest): string | undefined => /^Bearer\s+(\S+)$/i.exec(req.headers.authorization ?? '')?.[1];

/** A constant-time test against a secret read from a file (compared as sha256, so lengths do not leak). */
export function secretMatcher(secret: string, what: string): (given: string | undefined) => boolean {
  if (secret === '') throw new Error(`${what} is empty`);
  const want = digest(secret);
  return (given) => given !== undefined && timingSafeEqual(digest(given), want);
}

/** The one admin-token check (acknowledge, mute, maintenance): throws E_ADMIN_DISABLED or E_ADMIN_TOKEN. */
export function adminCheck(ctx: AppContext): (req: FastifyRequest) => void {
  const file = ctx.config.adminTokenFile;
  const matches = file ? secretMatcher(readFileSync(file, 'utf8').trim(), 'adminTokenFile') : null;
  return (req) => {
    if (!matches) throw httpError('E_ADMIN_DISABLED');
    if (!matches(bearerToken(req))) throw httpError('E_ADMIN_TOKEN');
  };
}

/**
 * Enforces `access.read` on every route; register it on the app before the routes. `warn` hears
 * about a usersFile still holding unsalted passwords.
 */
export function readAccess(ctx: AppContext, warn: (message: string) => void = () => {}): FastifyPluginAsync {
  const plugin: FastifyPluginAsync = async (app) => {
    const { access } = ctx.config;
    if (access.read === 'open') return;
    await app.register(fastifyCookie);
    const allowed = access.read === 'token' ? tokenCheck(readFileSync(access.tokenFile!, 'utf8').trim()) : basicCheck(access.usersFile!, warn);
    app.addHook('onRequest', async (req, reply) => {
      if ((req.method !== 'GET' && req.method !== 'HEAD') || OPEN_PATHS.has(req.url.split('?')[0]) || /^\/(ping|intake)\//.test(req.url)) return;
      if (!(await allowed(req, reply))) {
        const err = httpError('E_READ_AUTH', access.read === 'token' ? 'a read token: "Authorization: Bearer <token>" or ?token=' : 'a user name and password');
        if (access.read === 'basic') err.headers['www-authenticate'] = 'Basic realm="Lifeline", charset="UTF-8"';
        throw err;
      }
      // Signed in through a link: drop the token from the address bar and history.
      if (access.read === 'token' && /[?&]token=/.test(req.url) && (req.headers.accept ?? '').includes('text/html')) {
        return reply.redirect(withoutToken(req.url), 303);
      }
    });
  };
  // The hook covers the whole app, not only this plugin's scope (what fastify-plugin does).
  return Object.assign(plugin, { [Symbol.for('skip-override')]: true });
}

type Check = (req: FastifyRequest, reply: FastifyReply) => boolean | Promise<boolean>;

function tokenCheck(token: string): Check {
  const matches = secretMatcher(token, 'access.tokenFile');
  return (req, reply) => {
    const bearer = bearerToken(req);
    if (bearer !== undefined) return matches(bearer);
    const query = (req.query as Record<string, unknown> | undefined)?.token;
    if (typeof query === 'string') {
      if (!matches(query)) return false;
      // A link with ?token= signs the browser in: the cookie carries the token from then on.
      reply.setCookie(READ_COOKIE, query, { httpOnly: true, sameSite: 'strict', path: '/', secure: req.protocol === 'https' });
      return true;
    }
    return matches(req.cookies[READ_COOKIE]);
  };
}

function basicCheck(file: string, warn: (message: string) => void): Check {
  const { users, weak } = parseUsersFile(readFileSync(file, 'utf8'));
  const warning = weakUsersWarning(file, weak);
  if (warning) warn(warning);
  const check = passwordChecker(users);
  return async (req) => {
    const m = /^Basic\s+([A-Za-z0-9+/=]+)$/i.exec(req.headers.authorization ?? '');
    if (!m) return false;
    const decoded = Buffer.from(m[1], 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    return colon >= 0 && check(decoded.slice(0, colon), decoded.slice(colon + 1));
  };
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
