import { parentPort, workerData } from 'node:worker_threads';
import { openDb, type Db } from '../db';
import { Evaluator, type EvaluatorOptions } from './evaluator';

// The evaluation loop inside a worker thread, on its own connection (WAL: it reads while the
// main thread writes; busy_timeout: its incident writes wait for ingest's transactions), so a
// slow pass never delays a request. Started by worker-host.ts; it sends back "a pass queued
// notifications" (the main thread's OutboxSender sends them), each completed pass and errors.

/** What the worker needs to build its Evaluator: the options, with a database path for its own connection. */
export interface EvaluatorWorkerData extends Omit<EvaluatorOptions, 'db'> {
  database: string;
  everyMs: number;
}

export type WorkerMessage =
  | { type: 'queued' }
  | { type: 'error'; message: string; stack?: string; code?: string }
  /** A pass completed (for the collector's self-watch: /metrics and /healthz). */
  | { type: 'pass'; at: number; ms: number; findings: number; full: boolean };

/**
 * The evaluator's own connection. Its page cache is kept small: a pass reads most pages once and
 * keeps what it needs as views, and filling the collector's usual 32 MB cache costs a first pass
 * after start more (memory SQLite allocates page by page) than reading a page again costs later.
 */
export function openEvaluatorDb(file: string): Db {
  const db = openDb(file);
  db.pragma('cache_size = -2000');
  return db;
}

/** The worker's body: a pass every `everyMs` until the host posts 'stop'. */
export function runEvaluatorWorker(): void {
  const port = parentPort!;
  const data = workerData as EvaluatorWorkerData;
  const db = openEvaluatorDb(data.database);
  const evaluator = new Evaluator({ db, ...data });
  const send = (m: WorkerMessage) => port.postMessage(m);
  const tick = () => {
    try {
      const r = evaluator.pass(Date.now());
      send({ type: 'pass', at: Date.now(), ms: r.ms, findings: r.findings.length, full: r.full });
      if (r.queued > 0) send({ type: 'queued' });
    } catch (err) {
      send({ type: 'error', message: (err as Error).message ?? String(err), stack: (err as Error).stack, code: (err as { code?: string }).code });
    }
  };
  tick();
  // Unref'd: the port, not the timer, keeps the worker alive until 'stop'.
  const timer = setInterval(tick, data.everyMs).unref();
  port.on('message', (m) => {
    if (m !== 'stop') return;
    clearInterval(timer);
    db.close();
    port.close();
  });
}
