import { Worker } from 'node:worker_threads';
import type { EvaluatorWorkerData, WorkerMessage } from './worker';

export interface EvaluatorWorkerOptions {
  data: EvaluatorWorkerData;
  /** A pass queued notifications: poke the sender. */
  onQueued: () => void;
  log: { error: (obj: object, msg: string) => void; warn: (obj: object, msg: string) => void };
  /** A pass failed (after it was logged): `code` is SQLite's when the database failed (the collector's health watches these). */
  onError?: (err: { message: string; code?: string }) => void;
  /** A pass completed. */
  onPass?: (p: Extract<WorkerMessage, { type: 'pass' }>) => void;
  /** Wait before restarting a worker that died (default 5 s). */
  restartDelayMs?: number;
}

// Bundled, the worker is dist/lifeline-collector-worker.js beside the collector bundle (see
// scripts/build.mjs). From source (tsx: tests, development) it is worker-main.ts, loaded after
// registering tsx in the worker: a worker thread does not inherit the main thread's loader.
const fromSource = import.meta.url.endsWith('.ts');
const workerFile = fromSource ? new URL('./worker-main.ts', import.meta.url) : new URL('./lifeline-collector-worker.js', import.meta.url);
const newWorker = (workerData: EvaluatorWorkerData) =>
  fromSource
    ? new Worker(`import('tsx/esm/api').then((tsx) => { tsx.register(); return import(${JSON.stringify(workerFile.href)}); });`, { eval: true, workerData })
    : new Worker(workerFile, { workerData });

/**
 * Runs the evaluation loop in a worker thread; a worker that dies is logged and started again.
 * `stop()` asks it to finish its pass and close its database, then resolves.
 */
export function startEvaluatorWorker(opts: EvaluatorWorkerOptions): { stop: () => Promise<void> } {
  let worker: Worker;
  let alive = false;
  let stopping = false;
  let restart: NodeJS.Timeout | undefined;

  const spawn = () => {
    worker = newWorker(opts.data);
    alive = true;
    worker.on('message', (m: WorkerMessage) => {
      if (m.type === 'queued') opts.onQueued();
      else if (m.type === 'pass') opts.onPass?.(m);
      else {
        opts.log.error({ err: { message: m.message, stack: m.stack, code: m.code } }, 'evaluation failed');
        opts.onError?.(m);
      }
    });
    worker.on('error', (err) => opts.log.error({ err }, 'evaluation worker crashed'));
    worker.on('exit', (code) => {
      alive = false;
      if (stopping) return;
      opts.log.warn({ code }, 'evaluation worker exited; restarting');
      restart = setTimeout(spawn, opts.restartDelayMs ?? 5000);
      restart.unref();
    });
  };
  spawn();

  return {
    stop() {
      stopping = true;
      clearTimeout(restart);
      if (!alive) return Promise.resolve();
      return new Promise<void>((resolve) => {
        // A pass in progress finishes first (the message waits for it); a stuck one is cut off.
        const kill = setTimeout(() => void worker.terminate(), 10_000);
        worker.once('exit', () => {
          clearTimeout(kill);
          resolve();
        });
        worker.postMessage('stop');
      });
    },
  };
}
