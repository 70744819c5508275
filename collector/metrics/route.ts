import type { FastifyPluginAsync } from 'fastify';
import type { AppContext } from '../context';
import { ingestStats } from './ingest-stats';
import { createMetricsReader } from './read';
import { createMetrics } from './registry';
import { selfWatchFamilies } from './self-watch';

/** GET /metrics: the Prometheus text format, read access like the status page. */
export function metricsRoute(ctx: AppContext): FastifyPluginAsync {
  return async (scope) => {
    const metrics = createMetrics({
      read: createMetricsReader(ctx),
      now: ctx.now,
      ingest: ingestStats(ctx),
      live: selfWatchFamilies(ctx.db, ctx.now),
    });
    scope.get('/metrics', async (_req, reply) => reply.type(metrics.contentType).send(await metrics.render()));
  };
}
