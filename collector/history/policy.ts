import { z } from 'zod';
import { durationField } from '../../shared/config-types';

const DAY = 86_400_000;

/** What the collector keeps, and for how long (the `history:` section of collector.yaml). */
export const HISTORY_DEFAULTS = {
  /** Runs keep their log tail at most this long: a failed (or warning, timed-out) run's for all of it. */
  runs: 90 * DAY,
  /** A successful run's log tail goes once it is not among the newest this many runs of its job and operation (a daily job: a month, an hourly one: a day and a bit). */
  logsPerJob: 30,
  /** Runs without their log (the summaries the reports and run history read) are kept this long. */
  summaries: 2 * 365 * DAY,
  /** Sent and given-up notifications are kept this long. */
  notifications: 30 * DAY,
  /** Resolved incidents are kept this long after they resolved. */
  incidents: 180 * DAY,
  /**
   * Received messages are remembered this long for de-duplication; older ones become their agent's
   * seq floor (agents send oldest first, so only a retry of a batch already stored, or a message a
   * second process spooled a moment earlier, arrives out of order: seconds to hours, not days).
   */
  dedup: 2 * DAY,
};

/** The newest runs of each job and operation that are never deleted: the rules' history (job_state keeps the newest 21 backups). */
export const KEEP_NEWEST_RUNS = 21;

export const historySchema = z
  .object({
    runs: durationField.default(HISTORY_DEFAULTS.runs),
    logsPerJob: z.int().min(1).default(HISTORY_DEFAULTS.logsPerJob),
    summaries: durationField.default(HISTORY_DEFAULTS.summaries),
    notifications: durationField.default(HISTORY_DEFAULTS.notifications),
    incidents: durationField.default(HISTORY_DEFAULTS.incidents),
    dedup: durationField.default(HISTORY_DEFAULTS.dedup),
  })
  .strict()
  .refine((h) => h.summaries >= h.runs, { message: 'summaries must be at least as long as runs (a run keeps its summary after its log goes)', path: ['summaries'] })
  .prefault({});

export type HistoryPolicy = z.output<typeof historySchema>;

/** What one pruning pass removes: everything strictly before each time (epoch ms). */
export interface PruneCutoffs {
  /** Every run started before this loses its log tail. */
  logsBefore: number;
  /** A successful run beyond the newest `logsPerJob` of its job loses its log tail. */
  logsPerJob: number;
  /** Runs started before this are deleted, except the newest KEEP_NEWEST_RUNS of each job and operation. */
  runsBefore: number;
  /** Sent or given-up notifications created before this are deleted. */
  notificationsBefore: number;
  /** Incidents resolved before this are deleted (with their notifications, unless one is still pending). */
  incidentsBefore: number;
  /** Messages received before this leave the de-duplication table; their agent's seq floor rises over them. */
  messagesBefore: number;
}

/** The cutoffs of a pass at `now`. */
export function pruneCutoffs(now: number, h: HistoryPolicy): PruneCutoffs {
  return {
    logsBefore: now - h.runs,
    logsPerJob: h.logsPerJob,
    runsBefore: now - h.summaries,
    notificationsBefore: now - h.notifications,
    incidentsBefore: now - h.incidents,
    messagesBefore: now - h.dedup,
  };
}

/**
 * How many free pages an incremental vacuum gives back after a pass: all of them, but at most
 * `maxPages` at a time so the write lock is held briefly; none below `minPages` (not worth a
 * write). SQLite reuses free pages anyway; this only returns the space to the filesystem.
 */
export function vacuumPages(freePages: number, { minPages = 256, maxPages = 4096 } = {}): number {
  if (freePages < minPages) return 0;
  return Math.min(freePages, maxPages);
}
