import Fastify, { LogController, type FastifyError, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { syncConfigAgents } from './agents';
import { compressReads } from './compress';
import type { CollectorConfig } from './config';
import type { AppContext } from './context';
import type { Db } from './db';
import { storageRefusal } from './db-health';
import { jsonEscapingHidden } from '../shared/display-text';
import { HttpError, httpError } from './errors';
import { metricsRoute } from './metrics/route';
import { enrollRoute } from './routes/enroll';
import { reportsRoute } from './routes/reports';
import { checkRoute } from './routes/check';
import { incidentRoutes } from './routes/incidents';
import { statusRoutes } from './routes/status';
import { pageRoutes } from './routes/pages';
import { drPlanRoutes } from './routes/dr-plan';
import { readAccess, redactUrl } from './routes/access';
import { pingRoutes } from './routes/ping';
import { intakeRoutes } from './routes/intake';
import { checksAdminRoutes } from './routes/checks-admin';
import { CheckStore } from './checks/store';
import { redactIntakePath } from './checks/ping';

export interface BuildOptions {
  config: CollectorConfig;
  db: Db;
  /** Epoch milliseconds; defaults to Date.now. */
  now?: () => number;
  /** Log (serve) at config.logLevel (`info`: a line per request); off by default so tests stay quiet. */
  logger?: boolean;
  /** Serve HTTPS with this certificate and key (collector/tls.ts); plain HTTP without. */
  https?: { cert: Buffer; key: Buffer };
}

/** Builds the collector's HTTP app without listening; tests drive it with app.inject. */
export function buildApp({ config, db, now = Date.now, logger: logging = false, https }: BuildOptions): FastifyInstance {
  const logger = logging ? { level: config.logLevel } : false;
  syncConfigAgents(db, config.agents, now());
  new CheckStore(db, config.rules.grace).syncConfig(config.checks, now());
  const ctx: AppContext = { config, db, now };
  // Fastify types an HTTPS instance apart; routes and hooks are the same for both.
  const app = (https
    ? Fastify({ logger, bodyLimit: config.limits.bodyBytes, logController: new OneLineLog(), https })
    : Fastify({ logger, bodyLimit: config.limits.bodyBytes, logController: new OneLineLog() })) as unknown as FastifyInstance;

  app.setErrorHandler((err: FastifyError | HttpError, req, reply) => {
    const e = toHttpError(err, config.limits.bodyBytes, db);
    if (e.statusCode >= 500) req.log.error({ err }, 'request failed');
    return reply.code(e.statusCode).headers(e.headers).send(e.body());
  });
  app.setNotFoundHandler((req, reply) => {
    const e = httpError('E_NOT_FOUND', req.method, req.url.split('?')[0]);
    return reply.code(e.statusCode).send(e.body());
  });

  // Agent text in JSON answers reaches terminals (curl) and log viewers: bidi and C1 controls
  // go out as \u escapes (JSON.stringify escapes only C0). The parsed data is unchanged.
  app.setReplySerializer((payload) => jsonEscapingHidden(payload));
  app.register(readAccess(ctx, (message) => app.log.warn(message)));
  compressReads(app);
  app.register(reportsRoute(ctx));
  app.register(enrollRoute(ctx));
  app.register(checkRoute(ctx));
  app.register(statusRoutes(ctx));
  app.register(pageRoutes(ctx));
  app.register(drPlanRoutes(ctx));
  app.register(incidentRoutes(ctx));
  app.register(metricsRoute(ctx));
  app.register(pingRoutes(ctx));
  app.register(intakeRoutes(ctx));
  app.register(checksAdminRoutes(ctx));
  return app;
}

/** One short line per finished request instead of Fastify's two verbose ones (agents report every minute). */
class OneLineLog extends LogController {
  override incomingRequest(): void {}
  override requestCompleted(error: Error | null | undefined, req: FastifyRequest, reply: FastifyReply): void {
    const line = { method: req.method, url: redactIntakePath(redactUrl(req.url)), status: reply.statusCode, ms: Math.round(reply.elapsedTime) };
    if (error) reply.log.error({ ...line, err: error }, 'request failed');
    else reply.log.info(line, 'request');
  }
}

/**
 * Maps Fastify's own errors onto ours, so every error body has the same shape and a code. A
 * failing database (full, read-only, I/O error, damaged, locked) is a 503 with Retry-After and is
 * recorded for /healthz; E_INTERNAL is left for bugs.
 */
function toHttpError(err: FastifyError | HttpError, bodyLimit: number, db: Db): HttpError {
  if (err instanceof HttpError) return err;
  if (err.code === 'FST_ERR_CTP_BODY_TOO_LARGE') return httpError('E_BODY_TOO_LARGE', bodyLimit);
  if (err.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') return httpError('E_UNSUPPORTED_MEDIA_TYPE');
  const status = err.statusCode ?? 500;
  if (status >= 400 && status < 500) return httpError('E_BAD_REQUEST', err.message);
  return storageRefusal(db, err, 'E_DATABASE') ?? httpError('E_INTERNAL');
}
