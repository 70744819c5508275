import type { Db } from '../db';
import { pruneCutoffs, type HistoryPolicy } from './policy';
import { createPruner, type PruneCounts } from './prune';
import { reclaimStep } from './vacuum';

export interface HistoryPrunerOptions {
  db: Db;
  policy: HistoryPolicy;
  log: { warn: (obj: object, msg: string) => void; info?: (obj: object, msg: string) => void };
  /** A step failed (after it was logged): the collector's health watches database errors. */
  onError?: (err: unknown) => void;
  /** Between passes (default hourly); the first pass runs `firstAfterMs` after start. */
  everyMs?: number;
  firstAfterMs?: number;
  /** A pass finished (metrics, tests). */
  onPass?: (counts: PruneCounts, ms: number) => void;
  now?: () => number;
}

const tick = () => new Promise<void>((resolve) => setImmediate(resolve));

/**
 * Prunes history on a timer in serve's process. Each pass is many short transactions with the
 * event loop free between them, so a report waits at most one step for the write lock.
 * `stop()` ends the pass in progress after its current step.
 */
export function startHistoryPruner(o: HistoryPrunerOptions): { stop(): Promise<void> } {
  const now = o.now ?? Date.now;
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> = Promise.resolve();

  async function pass(): Promise<void> {
    const started = now();
    try {
      const pruner = createPruner(o.db, pruneCutoffs(started, o.policy));
      while (!stopped && pruner.step()) await tick();
      for (let n = 0; !stopped && (n = reclaimStep(o.db)) > 0; await tick()) pruner.counts.pagesFreed += n;
      o.onPass?.(pruner.counts, now() - started);
    } catch (err) {
      o.log.warn({ err }, `history pruning failed: ${(err as Error).message}`);
      o.onError?.(err);
    }
  }

  const schedule = (ms: number) => {
    timer = setTimeout(() => {
      running = pass().then(() => {
        if (!stopped) schedule(o.everyMs ?? 3_600_000);
      });
    }, ms);
    timer.unref();
  };
  schedule(o.firstAfterMs ?? 60_000);
  return {
    stop() {
      stopped = true;
      clearTimeout(timer);
      return running;
    },
  };
}
