import type { FastifyPluginAsync, FastifyReply } from 'fastify';
import type { AppContext } from '../context';
import { httpError } from '../errors';
import { renderAsset } from '../page/asset';
import { renderIncidents } from '../page/incidents';
import { renderOverview } from '../page/overview';
import { renderReports } from '../page/reports';
import { buildReport } from '../reports';
import { APP_CSS } from '../static/app-css';
import { APP_JS } from '../static/app-js';
import { ICON_SVG } from '../static/icon';
import { assetDetailView } from '../view/asset';
import { incidentsView } from '../view/incidents';
import { FLEET_ASSETS, overviewModel, parseOverviewQuery, viewOf, type OverviewModel } from '../view/overview';
import { createViewSource } from '../view/source';

// Script and style only from this origin, nothing inline: an agent-supplied string that
// slipped past escaping still could not run.
export const PAGE_CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/** An HTML page with the headers every page carries. */
export const sendPage = (reply: FastifyReply, body: string) =>
  reply
    .type('text/html; charset=utf-8')
    .header('content-security-policy', PAGE_CSP)
    .header('x-content-type-options', 'nosniff')
    .header('referrer-policy', 'no-referrer')
    .header('cache-control', 'no-store')
    .send(body);

/** How long a fleet's overview model is reused (the page refreshes itself every 30 s). */
export const OVERVIEW_REUSE_MS = 15_000;

/** The HTML pages (GET /, /assets/:asset, /incidents, /reports) and their script and stylesheet. */
export function pageRoutes(ctx: AppContext): FastifyPluginAsync {
  return async (scope) => {
    const source = createViewSource(ctx.db, ctx.config);
    const html = sendPage;
    const asset = (reply: FastifyReply, type: string, body: string) =>
      reply.type(type).header('x-content-type-options', 'nosniff').header('cache-control', 'max-age=300').send(body);

    // ?tier=&agent=&name=&page=: the fleet view's filter (a plain GET form, no script needed).
    // A fleet's overview model (every asset's state: a pass over all of them) serves the page's
    // filters and pages for OVERVIEW_REUSE_MS; the footer says when it was made. A homelab's is
    // made afresh for every request (cheap, and what was just reported shows at once).
    let model: OverviewModel | null = null;
    const current = () => {
      const now = ctx.now();
      if (model && model.assets.length > FLEET_ASSETS && now >= model.now && now - model.now < OVERVIEW_REUSE_MS) return model;
      return (model = overviewModel(source.overview(), now));
    };
    scope.get('/', async (req, reply) => html(reply, renderOverview(viewOf(current(), parseOverviewQuery((req.query ?? {}) as Record<string, unknown>)))));
    scope.get('/assets/:asset', async (req, reply) => {
      const { asset: name } = req.params as { asset: string };
      const input = source.asset(name);
      const view = input && assetDetailView(input, ctx.now());
      if (!view) throw httpError('E_NO_SUCH', 'asset', JSON.stringify(name));
      return html(reply, renderAsset(view));
    });
    scope.get('/incidents', async (_req, reply) => {
      const now = ctx.now();
      return html(reply, renderIncidents(incidentsView(source.incidents(now), now)));
    });
    scope.get('/reports', async (_req, reply) => {
      const now = ctx.now();
      const hosts = source.hosts().map((h) => h.name);
      return html(reply, renderReports([buildReport(ctx.db, ctx.config, 'week', now), buildReport(ctx.db, ctx.config, 'month', now)], new Date(now).toISOString(), hosts));
    });
    scope.get('/static/app.js', async (_req, reply) => asset(reply, 'text/javascript; charset=utf-8', APP_JS));
    scope.get('/static/app.css', async (_req, reply) => asset(reply, 'text/css; charset=utf-8', APP_CSS));
    for (const url of ['/static/icon.svg', '/favicon.ico']) scope.get(url, async (_req, reply) => asset(reply, 'image/svg+xml', ICON_SVG));
  };
}
