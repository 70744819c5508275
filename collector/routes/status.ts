import type { FastifyPluginAsync } from 'fastify';
import type { AppContext } from '../context';
import { getStatus, type StatusReport } from '../status';

/** GET /api/v1/status (the same object the status page renders) and GET /healthz. */
export function statusRoutes(ctx: AppContext): FastifyPluginAsync {
  return async (scope) => {
    const ping = ctx.db.prepare('SELECT 1');
    scope.get('/api/v1/status', async (): Promise<StatusReport> => getStatus(ctx.db, ctx.now()));
    scope.get('/healthz', async () => {
      ping.get();
      return { ok: true };
    });
  };
}
