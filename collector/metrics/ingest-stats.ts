import type { FastifyError } from 'fastify';
import type { ReportAck } from '../../shared/protocol';
import type { AppContext } from '../context';
import { HttpError } from '../errors';
import { memoByObject } from '../memo';

/**
 * What the reports route accepted and refused, counted in memory since the collector started.
 * One instance per app (keyed by its context), so the reports route and /metrics share it
 * without a global and two apps in one test process stay apart.
 */
export class IngestStats {
  accepted = 0;
  duplicates = 0;
  /** Refused requests by error code: a closed set, never agent-supplied text. */
  readonly rejected = new Map<string, number>();
  /** Bumped whenever stored state changed, so cached metrics are recomputed at the next scrape. */
  changes = 0;

  stored(ack: ReportAck): void {
    this.accepted += ack.accepted;
    this.duplicates += ack.duplicates;
    if (ack.accepted > 0) this.changes++;
  }

  refused(err: FastifyError | HttpError): void {
    const reason = rejectReason(err);
    this.rejected.set(reason, (this.rejected.get(reason) ?? 0) + 1);
  }
}

/** Our error code, or Fastify's own (FST_ERR_…, e.g. a body over the limit), else "other". */
export function rejectReason(err: { code?: unknown }): string {
  if (err instanceof HttpError) return err.code;
  return typeof err.code === 'string' && /^FST_ERR_[A-Z_]{1,60}$/.test(err.code) ? err.code : 'other';
}

export const ingestStats: (ctx: AppContext) => IngestStats = memoByObject(() => new IngestStats());
