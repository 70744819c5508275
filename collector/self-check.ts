import type { HealthReport } from './db-health';

// The outbound dead man's switch (selfCheck: in collector.yaml): every `every`, a POST to a
// Healthchecks-style ping URL while the collector is healthy, and to <url>/fail with the reason
// as the body while /healthz is degraded (REFERENCE-INTEGRATIONS.md §9: HEAD/GET/POST; 200 OK;
// `/fail` marks the check down; the body is kept up to its ping body limit, 10,000 bytes
// self-hosted). When the collector is down, the pings stop and Healthchecks alerts the user.

/** Healthchecks keeps this much of a ping body (self-hosted PING_BODY_LIMIT default). */
const BODY_LIMIT = 10_000;
/** A ping that takes longer is given up (curl -m 10 in Healthchecks' own wrappers). */
const PING_TIMEOUT_MS = 10_000;

export interface SelfCheckOptions {
  url: string;
  everyMs: number;
  /** The collector's health now (the same answer as /healthz). */
  health: () => HealthReport;
  log: { warn: (obj: object, msg: string) => void };
  fetch?: typeof globalThis.fetch;
  timeoutMs?: number;
}

/** The ping for a health answer: the URL (with /fail when degraded) and its body. Pure. */
export function pingFor(url: string, health: HealthReport): { url: string; body: string } {
  if (health.ok) return { url, body: 'lifeline-collector ok' };
  // Before a query string, if the URL has one (?create=1, ?rid=...).
  const u = new URL(url);
  u.pathname = `${u.pathname.replace(/\/+$/, '')}/fail`;
  return { url: u.toString(), body: (health.reason ?? 'degraded').slice(0, BODY_LIMIT) };
}

/**
 * Pings now and every `everyMs` (timer unref'd). A failed ping is logged once per change (the
 * next success says so once too) and never throws; `stop()` waits for a ping in flight.
 */
export function startSelfCheck(opts: SelfCheckOptions): { stop: () => Promise<void> } {
  const doFetch = opts.fetch ?? globalThis.fetch;
  let lastError: string | null = null;
  let inFlight: Promise<void> | null = null;
  let stopped = false;
  const ping = async () => {
    let error: string | null = null;
    try {
      const p = pingFor(opts.url, opts.health());
      const res = await doFetch(p.url, {
        method: 'POST',
        body: p.body,
        headers: { 'content-type': 'text/plain; charset=utf-8', 'user-agent': 'lifeline-collector' },
        signal: AbortSignal.timeout(opts.timeoutMs ?? PING_TIMEOUT_MS),
      });
      await res.arrayBuffer().catch(() => undefined);
      if (!res.ok) error = `HTTP ${res.status}`;
    } catch (err) {
      error = (err as Error).name === 'TimeoutError' ? 'timed out' : ((err as Error).cause as Error | undefined)?.message ?? (err as Error).message;
    }
    // Only the origin is logged: a ping URL's path is its secret (whoever has it can ping).
    const where = new URL(opts.url).origin;
    if (error !== null && error !== lastError) opts.log.warn({ selfCheck: where, error }, 'selfCheck ping failed; the dead man\'s switch will report the collector down');
    if (error === null && lastError !== null) opts.log.warn({ selfCheck: where }, 'selfCheck ping delivered again');
    lastError = error;
  };
  // A ping still waiting for its answer is not joined by another.
  const tick = () => {
    if (stopped || inFlight) return;
    inFlight = ping().finally(() => (inFlight = null));
  };
  tick();
  const timer = setInterval(tick, opts.everyMs);
  timer.unref();
  return {
    async stop() {
      stopped = true;
      clearInterval(timer);
      await inFlight;
    },
  };
}
