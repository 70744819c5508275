import type { FastifyPluginAsync } from 'fastify';
import type { AppContext } from '../context';
import { renderOverview } from '../page/overview';
import { getStatus, type StatusReport } from '../status';

/** GET / (the status page), GET /api/v1/status (the object the page renders) and GET /healthz. */
export function statusRoutes(ctx: AppContext): FastifyPluginAsync {
  return async (scope) => {
    const ping = ctx.db.prepare('SELECT 1');
    scope.get('/api/v1/status', async (): Promise<StatusReport> => getStatus(ctx.db, ctx.now()));
    scope.get('/', async (_req, reply) => reply.type('text/html; charset=utf-8').send(renderOverview(getStatus(ctx.db, ctx.now()))));
    scope.get('/healthz', async () => {
      ping.get();
      return { ok: true };
    });
  };
}
