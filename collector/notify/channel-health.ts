import type { Db } from '../db';
import type { Finding } from '../rules/types';
import { findingKey, localDateTime } from '../rules/util';

// A notify channel that keeps failing is itself an incident ('notify-channel-failing'), sent
// through the OTHER channels only (IncidentStore leaves the channel out of its own incident's
// routing) and resolved once the channel delivers again. Read from the outbox by the evaluator.

/** Failed attempts older than this no longer count (a channel that failed last month and was then idle). */
export const CHANNEL_FAILURE_WINDOW_MS = 24 * 3_600_000;
export const CHANNEL_FAILING_RULE = 'notify-channel-failing' as const;

export interface ChannelFailures {
  channel: string;
  /** Failed attempts on the channel's unsent rows queued after its newest delivered one. */
  failed: number;
  /** created_at of the oldest of those rows. */
  since: number;
  lastError: string;
}

/**
 * Per channel, the failed attempts since it last delivered: unsent rows with an error (retrying
 * or given up) that no later row of the channel was delivered after, within the window.
 * Prepared once (the evaluator reads it on every pass).
 */
export function channelFailuresReader(db: Db): (now: number) => ChannelFailures[] {
  const stmt = db.prepare<[number], ChannelFailures>(
    `SELECT o.channel, sum(o.attempts) AS failed, min(o.created_at) AS since,
       (SELECT x.last_error FROM outbox x WHERE x.channel = o.channel AND x.sent_at IS NULL AND x.last_error IS NOT NULL ORDER BY x.id DESC LIMIT 1) AS lastError
     FROM outbox o
     WHERE o.sent_at IS NULL AND o.last_error IS NOT NULL AND o.created_at >= ?
       AND NOT EXISTS (SELECT 1 FROM outbox s WHERE s.id > o.id AND s.channel = o.channel AND s.sent_at IS NOT NULL)
     GROUP BY o.channel ORDER BY o.channel`,
  );
  return (now) => stmt.all(now - CHANNEL_FAILURE_WINDOW_MS);
}

/** The failing channels' findings: `threshold` failed attempts or more since the last delivery. Pure. */
export function channelFailingFindings(failures: readonly ChannelFailures[], configured: ReadonlySet<string>, threshold: number): Finding[] {
  return failures
    .filter((f) => f.failed >= threshold && configured.has(f.channel))
    .map((f) => ({
      key: findingKey(CHANNEL_FAILING_RULE, f.channel),
      rule: CHANNEL_FAILING_RULE,
      severity: 'warning' as const,
      target: f.channel,
      title: `Notifications through ${f.channel} are failing`,
      detail:
        `${f.failed} delivery attempts failed since ${localDateTime(f.since)} and none was delivered since; last error: ${f.lastError}. ` +
        `Alerts routed only to ${f.channel} do not reach anyone: check its URL, token and the service (lifeline-collector notify test).`,
      since: f.since,
    }));
}
