import type { FastifyPluginAsync } from 'fastify';
import { z } from 'zod';
import type { AppContext } from '../context';
import { httpError, invalidField } from '../errors';
import { IncidentStore } from '../incidents/store';
import { buildReport, reportMarkdown } from '../reports';
import { adminCheck } from './access';

const isoTime = z.iso.datetime({ offset: true }).transform((s) => Date.parse(s));
const ackBody = z.object({ by: z.string().min(1).max(100).default('admin') }).strict().prefault({});
const muteBody = z.object({ asset: z.string().min(1).max(64).nullable().default(null), until: isoTime, reason: z.string().max(500).default('') }).strict();
const maintenanceBody = z
  .object({ startsAt: isoTime, endsAt: isoTime, asset: z.string().min(1).max(64).optional(), reason: z.string().max(500).optional() })
  .strict()
  .refine((m) => m.endsAt > m.startsAt, { message: 'endsAt must be after startsAt', path: ['endsAt'] });

function parseBody<S extends z.ZodType>(schema: S, body: unknown): z.output<S> {
  const r = schema.safeParse(body ?? {});
  if (!r.success) throw invalidField(r.error.issues[0].path, r.error.issues[0].message);
  return r.data;
}

/**
 * Incidents and reports: reading is as open as the status page; acknowledging, muting and maintenance
 * windows need the admin token (access.ts adminCheck).
 */
export function incidentRoutes(ctx: AppContext): FastifyPluginAsync {
  return async (scope) => {
    const store = new IncidentStore(ctx.db, { channels: ctx.config.notify, publicUrl: ctx.config.publicUrl });
    const requireAdmin = adminCheck(ctx);

    scope.get('/api/v1/incidents', async (req) => {
      const state = (req.query as { state?: string }).state === 'all' ? 'all' : 'open';
      return { incidents: store.listIncidents({ state }) };
    });
    scope.get('/api/v1/reports/:period', async (req) => {
      const period = (req.params as { period: string }).period;
      if (period !== 'week' && period !== 'month') throw httpError('E_NO_SUCH', 'report period', JSON.stringify(period));
      const report = buildReport(ctx.db, ctx.config, period, ctx.now());
      return { report, markdown: reportMarkdown(report) };
    });
    scope.post('/api/v1/incidents/:id/ack', async (req) => {
      requireAdmin(req);
      const id = Number((req.params as { id: string }).id);
      const { by } = parseBody(ackBody, req.body);
      if (!Number.isInteger(id) || !store.acknowledge(id, by, ctx.now())) throw httpError('E_NO_SUCH', 'open incident', JSON.stringify(id));
      return { incident: store.getIncident(id) };
    });
    scope.post('/api/v1/mutes', async (req) => {
      requireAdmin(req);
      const m = parseBody(muteBody, req.body);
      return { id: store.mute(m.asset, m.until, m.reason, ctx.now()) };
    });
    scope.delete('/api/v1/mutes/:id', async (req) => {
      requireAdmin(req);
      const id = Number((req.params as { id: string }).id);
      if (!Number.isInteger(id) || !store.unmute(id)) throw httpError('E_NO_SUCH', 'mute', JSON.stringify((req.params as { id: string }).id));
      return { ok: true };
    });
    scope.post('/api/v1/maintenance', async (req) => {
      requireAdmin(req);
      const m = parseBody(maintenanceBody, req.body);
      return { id: store.addMaintenance(m) };
    });
  };
}
