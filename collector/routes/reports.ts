import type { FastifyPluginAsync, FastifyRequest } from 'fastify';
import { formatPath, reportBodySchema, type ReportAck } from '../../shared/protocol';
import { agentFinder } from '../agents';
import type { AppContext } from '../context';
import { healthOf, refuseWritesIfDamaged, storageRefusal } from '../db-health';
import { httpError, invalidField } from '../errors';
import { createGroupCommit } from '../ingest';
import { ingestStats } from '../metrics/ingest-stats';
import { RateLimiter } from '../rate-limit';
import { acceptRawBody, authenticated, parseJson } from './signed-body';

/** POST /api/v1/reports: a signed batch of messages from one agent, stored all or nothing. */
export function reportsRoute(ctx: AppContext): FastifyPluginAsync {
  return async (scope) => {
    acceptRawBody(scope);
    const findAgent = agentFinder(ctx.db);
    const ingest = createGroupCommit(ctx.db);
    const limiter = new RateLimiter(ctx.config.limits.ratePerSecond, ctx.config.limits.burst);
    const stats = ingestStats(ctx);
    scope.addHook('onError', async (_req, _reply, err) => stats.refused(err));

    const store = async (req: FastifyRequest): Promise<ReportAck> => {
      // 1–2. Authenticate over the exact received bytes, then rate-limit the agent.
      const now = ctx.now();
      const { agent, body } = authenticated(req, findAgent, limiter, now);

      // 3–5. Parse and validate everything before storing anything.
      const parsed = reportBodySchema.safeParse(parseJson(body));
      if (!parsed.success) {
        const issue = parsed.error.issues[0];
        throw invalidField(issue.path, issue.message);
      }
      const { messages, sentAt } = parsed.data;
      const foreign = messages.findIndex((m) => m.agent !== agent.name);
      if (foreign >= 0) {
        const err = httpError('E_AGENT_MISMATCH', JSON.stringify(messages[foreign].agent), JSON.stringify(agent.name));
        err.path = formatPath(['messages', foreign, 'agent']);
        err.index = foreign;
        throw err;
      }

      // 6. One transaction (savepoint) per batch, committed with whatever else arrived this turn.
      const ack = await ingest(agent.id, messages, now, sentAt ? Date.parse(sentAt) : null);
      stats.stored(ack);
      return ack;
    };

    // A database that cannot store the batch now (full, read-only, failing, damaged, locked)
    // answers 503 E_CANNOT_STORE with Retry-After: the agent keeps the batch in its spool and
    // retries. A known-damaged database takes no more writes; a committed one ends a transient failure.
    const health = healthOf(ctx.db);
    scope.post('/api/v1/reports', async (req): Promise<ReportAck> => {
      try {
        refuseWritesIfDamaged(ctx.db);
        const ack = await store(req);
        if (ack.accepted > 0) health.stored();
        return ack;
      } catch (err) {
        throw storageRefusal(ctx.db, err, 'E_CANNOT_STORE') ?? err;
      }
    });
  };
}
