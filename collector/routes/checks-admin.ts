import { randomUUID } from 'node:crypto';
import type { FastifyPluginAsync } from 'fastify';
import type { AppContext } from '../context';
import { httpError, invalidField } from '../errors';
import { checkSchema, type Check } from '../checks/schema';
import { CheckStore, type StoredCheck } from '../checks/store';
import { adminCheck } from './access';
import { parseJson } from './signed-body';

/** A check as the admin API shows it: its ids are secrets, so only the admin token reads them. */
function shown(c: StoredCheck, publicUrl: string | undefined): Check & { source: string; pingUrl: string } {
  return { ...c.check, source: c.source, pingUrl: `${publicUrl?.replace(/\/$/, '') ?? ''}/ping/${c.id}` };
}

/**
 * /api/v1/checks, with the admin token: list (GET), create (POST, the same fields as
 * collector.yaml `checks:`; `id` is made when absent), delete (DELETE /api/v1/checks/<id>, for
 * checks made here: one from collector.yaml is removed by editing the file).
 */
export function checksAdminRoutes(ctx: AppContext): FastifyPluginAsync {
  return async (scope) => {
    const requireAdmin = adminCheck(ctx);
    const store = new CheckStore(ctx.db, ctx.config.rules.grace);
    const publicUrl = ctx.config.publicUrl;

    scope.get('/api/v1/checks', async (req) => {
      requireAdmin(req);
      return { checks: store.list().map((c) => shown(c, publicUrl)) };
    });

    scope.post('/api/v1/checks', async (req, reply) => {
      requireAdmin(req);
      const raw = Buffer.isBuffer(req.body) ? parseJson(req.body) : (req.body ?? {});
      const input = typeof raw === 'object' && raw !== null && !Array.isArray(raw) ? { id: randomUUID(), ...raw } : raw;
      const parsed = checkSchema.safeParse(input);
      if (!parsed.success) throw invalidField(parsed.error.issues[0].path, parsed.error.issues[0].message);
      const check = parsed.data;
      if (store.find(check.id)) throw httpError('E_CHECK_CONFLICT', 'id');
      if (!store.create(check, ctx.now())) throw httpError('E_CHECK_CONFLICT', 'name');
      return reply.code(201).send({ check: shown(store.find(check.id)!, publicUrl) });
    });

    scope.delete('/api/v1/checks/:id', async (req) => {
      requireAdmin(req);
      const id = (req.params as { id: string }).id;
      const result = store.remove(id, ctx.now());
      if (result === 'unknown') throw httpError('E_NO_SUCH', 'check', 'with this id');
      if (result === 'config') throw httpError('E_BAD_REQUEST', 'this check is declared in collector.yaml: remove it there');
      return { removed: true };
    });
  };
}
