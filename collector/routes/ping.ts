import { readFileSync } from 'node:fs';
import type { FastifyInstance, FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import type { AppContext } from '../context';
import { isRefusal, parsePingPath, parseRid, pingOutcome, NOT_FOUND, type PingRefusal } from '../checks/ping';
import { CHECK_LOG_CHARS, CheckStore, type StoredCheck } from '../checks/store';
import { RateLimiter } from '../rate-limit';
import { secretMatcher } from './access';

/** Pings a check may send at once, and refilled per second: borgmatic sends 2–3 in a burst, cron wrappers 1–2 a run. */
export const PING_BURST = 20;
export const PINGS_PER_SECOND = 1;

/** Bytes of a ping's body kept while it streams in: enough for CHECK_LOG_CHARS characters of any UTF-8. */
const KEPT_BYTES = CHECK_LOG_CHARS * 4;

/**
 * Healthchecks truncates a long body instead of refusing the ping (a refused ping is a lost
 * run): the body is read whatever its size, keeping only its end (the log's newest lines), so
 * memory stays bounded per request. Any content type: curl posts form-encoded, borgmatic none.
 */
function acceptTailOfBody(scope: FastifyInstance): void {
  scope.removeAllContentTypeParsers();
  scope.addContentTypeParser('*', (_req, payload, done) => {
    let kept: Buffer[] = [];
    let size = 0;
    let cut = false;
    payload.on('data', (chunk: Buffer) => {
      kept.push(chunk);
      size += chunk.length;
      if (size > 2 * KEPT_BYTES) {
        const all = Buffer.concat(kept);
        kept = [all.subarray(all.length - KEPT_BYTES)];
        size = KEPT_BYTES;
        cut = true;
      }
    });
    payload.on('end', () => {
      const all = Buffer.concat(kept);
      done(null, { text: all.subarray(Math.max(0, all.length - KEPT_BYTES)).toString('utf8'), cut: cut || all.length > KEPT_BYTES });
    });
    payload.on('error', (err) => done(err, undefined));
  });
}

/** A ping's body as text (any bytes; invalid UTF-8 is replaced, never refused), "...\n" first when cut. */
export function bodyText(req: FastifyRequest): string {
  const body = req.body as { text: string; cut: boolean } | undefined;
  return body ? `${body.cut ? '...\n' : ''}${body.text}` : '';
}

/** Healthchecks' plain answers ("OK", "not found", …), with its two headers on success. */
export function answer(reply: FastifyReply, status: number, body: string): FastifyReply {
  reply.code(status).type('text/plain; charset=utf-8');
  if (status < 300) reply.header('ping-body-limit', String(CHECK_LOG_CHARS)).header('access-control-allow-origin', '*');
  return reply.send(body);
}

/**
 * GET|HEAD|POST /ping/<uuid>[/start|/fail|/log|/<0-255>] and /ping/<ping-key>/<slug>[/…]: a
 * Healthchecks-compatible ping. Unauthenticated by design (the UUID, or the ping key, is the
 * secret); an unknown one changes nothing and answers `404 not found`. Limited per check.
 */
export function pingRoutes(ctx: AppContext): FastifyPluginAsync {
  return async (scope) => {
    acceptTailOfBody(scope);
    const store = new CheckStore(ctx.db, ctx.config.rules.grace);
    const limiter = new RateLimiter(PINGS_PER_SECOND, PING_BURST);
    const keyFile = ctx.config.intake.pingKeyFile;
    const pingKey = keyFile ? secretMatcher(readFileSync(keyFile, 'utf8').trim(), 'intake.pingKeyFile') : null;

    const lookup = (target: ReturnType<typeof parsePingPath>): StoredCheck | PingRefusal => {
      if (isRefusal(target)) return target;
      if (target.by === 'id') return store.find(target.id) ?? NOT_FOUND;
      if (target.slug !== target.slug.toLowerCase()) return target.refusal!;
      // The key is compared in constant time; the slug is the check's name.
      if (!pingKey?.(target.key)) return NOT_FOUND;
      return store.findByName(target.slug) ?? NOT_FOUND;
    };

    scope.route({
      method: ['GET', 'POST'],
      url: '/ping/*',
      handler: async (req, reply) => {
        const target = parsePingPath((req.params as { '*': string })['*']);
        const check = lookup(target);
        if ('status' in check) return answer(reply, check.status, check.body);
        const ping = target as Exclude<typeof target, PingRefusal>;
        if (ping.refusal) return answer(reply, ping.refusal.status, ping.refusal.body);
        const rid = parseRid((req.query as Record<string, unknown>).rid);
        if ('status' in rid) return answer(reply, rid.status, rid.body);
        const now = ctx.now();
        const wait = limiter.take(check.id, now);
        if (wait > 0) return answer(reply.header('retry-after', String(wait)), 429, 'rate limited');
        const text = bodyText(req);
        if (ping.action === 'start') store.start(check, rid.rid, now);
        else if (ping.action === 'log') store.log(check, rid.rid, text);
        else store.finish(check, rid.rid, { ...pingOutcome(ping.action, ping.exitStatus), log: text }, now);
        return answer(reply, 200, 'OK');
      },
    });
  };
}
