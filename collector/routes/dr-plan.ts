import type { FastifyPluginAsync, FastifyReply } from 'fastify';
import type { AppContext } from '../context';
import { httpError } from '../errors';
import { drPlanMarkdown, renderDrPlan } from '../page/dr-plan';
import { drPlanFor, type DrPlan } from '../view/dr-plan';
import { createViewSource } from '../view/source';
import { sendPage } from './pages';

/**
 * "If this host died now": GET /hosts/:agent/dr-plan (page), /hosts/:agent/dr-plan.md (Markdown
 * for printing), /api/v1/hosts/:agent/dr-plan (JSON; ?format=md: the Markdown). Read access as
 * every page and the JSON API (access.ts guards every GET).
 */
export function drPlanRoutes(ctx: AppContext): FastifyPluginAsync {
  return async (scope) => {
    const source = createViewSource(ctx.db, ctx.config);
    const plan = (params: unknown): DrPlan => {
      const { agent } = params as { agent: string };
      const host = agent === undefined ? null : source.hostAssets(agent);
      if (!host) throw httpError('E_NO_SUCH', 'agent', JSON.stringify(agent));
      return drPlanFor({ ...host, assets: host.assets.flatMap((a) => source.asset(a) ?? []) }, ctx.now());
    };
    const markdown = (reply: FastifyReply, v: DrPlan) =>
      reply.type('text/markdown; charset=utf-8').header('x-content-type-options', 'nosniff').header('cache-control', 'no-store').send(drPlanMarkdown(v));

    scope.get('/hosts/:agent/dr-plan', async (req, reply) => sendPage(reply, renderDrPlan(plan(req.params))));
    scope.get('/hosts/:agent/dr-plan.md', async (req, reply) => markdown(reply, plan(req.params)));
    scope.get('/api/v1/hosts/:agent/dr-plan', async (req, reply) => {
      const v = plan(req.params);
      return (req.query as { format?: string }).format === 'md' ? markdown(reply, v) : { plan: v };
    });
  };
}
