import type { FastifyPluginAsync } from 'fastify';
import type { AppContext } from '../context';
import { httpError } from '../errors';
import { collectorHealth } from '../self-watch';
import { createStatusReader, type StatusReport } from '../status';
import { assetDetailView, type AssetDetailView } from '../view/asset';
import { overviewView, type OverviewView } from '../view/overview';
import { createViewSource, type RunLog } from '../view/source';

/**
 * The JSON read API: the same view models the pages render (GET /api/v1/overview,
 * /api/v1/assets/:asset), a run's log tail on demand, the flat status list, and /healthz.
 */
export function statusRoutes(ctx: AppContext): FastifyPluginAsync {
  return async (scope) => {
    const ping = ctx.db.prepare('SELECT 1');
    const source = createViewSource(ctx.db, ctx.config);
    const status = createStatusReader(ctx.db, ctx.config);
    scope.addHook('onSend', async (_req, reply) => {
      reply.header('x-content-type-options', 'nosniff');
    });

    scope.get('/api/v1/status', async (): Promise<StatusReport> => status(ctx.now()));
    scope.get('/api/v1/overview', async (): Promise<OverviewView> => overviewView(source.overview(), ctx.now()));
    scope.get('/api/v1/assets/:asset', async (req): Promise<AssetDetailView> => {
      const { asset } = req.params as { asset: string };
      const input = source.asset(asset);
      const view = input && assetDetailView(input, ctx.now());
      if (!view) throw httpError('E_NO_SUCH', 'asset', JSON.stringify(asset));
      return view;
    });
    scope.get('/api/v1/runs/:runId/log', async (req): Promise<{ run: RunLog }> => {
      const { runId } = req.params as { runId: string };
      const run = source.runLog(runId);
      if (!run) throw httpError('E_NO_SUCH', 'run', JSON.stringify(runId));
      return { run };
    });
    // 503 with the reason while the database fails: damaged (until a restart), full, read-only,
    // I/O errors or locked (until the cause is gone or a write succeeds again); and, under serve,
    // while the evaluator has not completed a pass for 3 intervals or the outbox is stuck.
    scope.get('/healthz', async (_req, reply) => {
      ping.get();
      const health = collectorHealth(ctx.db, ctx.now());
      return reply.code(health.ok ? 200 : 503).send(health);
    });
  };
}
