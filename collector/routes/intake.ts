import { readFileSync } from 'node:fs';
import type { FastifyPluginAsync, FastifyRequest } from 'fastify';
import type { AppContext } from '../context';
import { httpError, invalidField } from '../errors';
import { UUID_RE } from '../checks/schema';
import { CheckStore, type StoredCheck } from '../checks/store';
import { proxmoxBodySchema, proxmoxMatches, proxmoxOutcome } from '../intake/proxmox';
import { duplicatiReport } from '../intake/duplicati';
import { RateLimiter } from '../rate-limit';
import { secretMatcher } from './access';
import { PING_BURST, PINGS_PER_SECOND } from './ping';
import { acceptRawBody, parseJson } from './signed-body';

/** The header a Proxmox webhook target sends with the secret (README: `{{ secrets.lifeline }}`). */
export const PROXMOX_SECRET_HEADER = 'x-lifeline-secret';

export interface IntakeAnswer {
  /** The checks that got a run. */
  runs: string[];
  /** Why nothing was recorded (a test notification, another operation, no matching check). */
  ignored?: string;
}

/**
 * POST /intake/proxmox/<check id>: a Proxmox VE/PBS webhook notification target. The secret
 * header is checked (constant time) before the body is read; the notification becomes a run of
 * every check whose `proxmox:` fields match it (the URL's own check when it has none).
 * POST /intake/duplicati/<check id>: Duplicati's JSON report becomes a run of that check.
 */
export function intakeRoutes(ctx: AppContext): FastifyPluginAsync {
  return async (scope) => {
    acceptRawBody(scope);
    const store = new CheckStore(ctx.db, ctx.config.rules.grace);
    const limiter = new RateLimiter(PINGS_PER_SECOND, PING_BURST);
    const secretFile = ctx.config.intake.proxmoxSecretFile;
    const proxmoxSecret = secretFile ? secretMatcher(readFileSync(secretFile, 'utf8').trim(), 'intake.proxmoxSecretFile') : null;

    /** The URL's check, rate limited; 404 for an unknown id (nothing changes). */
    const checkOf = (req: FastifyRequest): StoredCheck => {
      const id = (req.params as { id: string }).id;
      const check = UUID_RE.test(id) ? store.find(id) : undefined;
      if (!check) throw httpError('E_NO_SUCH', 'check', 'with this id');
      const wait = limiter.take(check.id, ctx.now());
      if (wait > 0) {
        const err = httpError('E_CHECK_RATE_LIMITED', wait);
        err.headers['retry-after'] = String(wait);
        throw err;
      }
      return check;
    };
    const body = (req: FastifyRequest): unknown => parseJson(Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0));

    // Proxmox lets the target's method be POST, PUT or GET (a GET has no body to read).
    scope.route({
      method: ['POST', 'PUT'],
      url: '/intake/proxmox/:id',
      handler: async (req): Promise<IntakeAnswer> => {
        if (!proxmoxSecret) throw httpError('E_INTAKE_DISABLED', 'Proxmox', 'proxmoxSecretFile');
        const given = req.headers[PROXMOX_SECRET_HEADER];
        if (!proxmoxSecret(typeof given === 'string' ? given : undefined)) throw httpError('E_INTAKE_SECRET', 'X-Lifeline-Secret', 'proxmoxSecretFile');
        const check = checkOf(req);
        const parsed = proxmoxBodySchema.safeParse(body(req));
        if (!parsed.success) throw invalidField(parsed.error.issues[0].path, parsed.error.issues[0].message);
        const n = parsed.data;
        const outcome = proxmoxOutcome(n);
        if (!outcome) return { runs: [], ignored: n.fields.type === undefined ? 'no fields.type: a test notification' : `severity ${n.severity}: not a job's end` };
        const matched = store.list().filter((c) => (c.check.proxmox ? proxmoxMatches(c.check.proxmox, n) : c.id === check.id));
        if (matched.length === 0) return { runs: [], ignored: `no check matches type=${n.fields.type}` };
        const now = ctx.now();
        for (const c of matched) store.finish(c, null, { ...outcome, startedAt: now - (outcome.durationMs ?? 0) }, now);
        return { runs: matched.map((c) => c.name) };
      },
    });

    scope.post('/intake/duplicati/:id', async (req): Promise<IntakeAnswer> => {
      const check = checkOf(req);
      const now = ctx.now();
      const report = duplicatiReport(body(req), now);
      if ('refusal' in report) throw httpError('E_BAD_REQUEST', report.refusal);
      if (report.operation !== 'Backup') return { runs: [], ignored: `operation ${report.operation}: only backups are runs of a check` };
      store.finish(check, null, { ...report.outcome, startedAt: report.outcome.startedAt ?? now }, now);
      return { runs: [check.name] };
    });
  };
}
