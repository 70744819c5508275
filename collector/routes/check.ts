import type { FastifyPluginAsync } from 'fastify';
import { z } from 'zod';
import { agentFinder } from '../agents';
import type { AppContext } from '../context';
import { invalidField } from '../errors';
import { RateLimiter } from '../rate-limit';
import { acceptRawBody, authenticated, parseJson } from './signed-body';

/** `{ "check": "doctor", "sentAt": "…" }`: nothing in it is stored; sentAt keeps each body distinct. */
export const checkBodySchema = z.object({ check: z.literal('doctor'), sentAt: z.iso.datetime() }).strict();

export interface CheckAnswer {
  agent: string;
  /** The collector's clock, epoch ms (the Date header has whole seconds only). */
  now: number;
}

/**
 * POST /api/v1/check: a signed no-op for `lifeline-agent doctor`. Authenticated exactly as
 * POST /api/v1/reports (agent header, Ed25519 signature over the received bytes, the same
 * 401 codes, the same per-agent rate limit), then answered without touching the database
 * beyond the key lookup: "is my key accepted?" without a message stored or a sequence used.
 */
export function checkRoute(ctx: AppContext): FastifyPluginAsync {
  return async (scope) => {
    acceptRawBody(scope);
    const findAgent = agentFinder(ctx.db);
    const limiter = new RateLimiter(ctx.config.limits.ratePerSecond, ctx.config.limits.burst);
    scope.post('/api/v1/check', async (req): Promise<CheckAnswer> => {
      const now = ctx.now();
      const { agent, body } = authenticated(req, findAgent, limiter, now);
      const parsed = checkBodySchema.safeParse(parseJson(body));
      if (!parsed.success) throw invalidField(parsed.error.issues[0].path, parsed.error.issues[0].message);
      return { agent: agent.name, now };
    });
  };
}
