import type { Db } from '../db';
import { databaseBytes, readOutboxState, selfWatchOf, type PassInfo } from '../self-watch';
import type { Sample } from './families';
import type { LiveFamily } from './registry';

// The collector's own health as metrics, read at every scrape (cheap: the watch's counters, a few
// queries over the outbox's unsent rows, and a stat of the database file). Channel
// labels are config names: bounded by the notify: list.

/** The evaluator, outbox and database families. */
export function selfWatchFamilies(db: Db, now: () => number): LiveFamily[] {
  const watch = selfWatchOf(db);
  const one = (value: number): Sample[] => [{ labels: {}, value }];
  const pass = (pick: (p: PassInfo) => number) => () => (watch.lastPass ? one(pick(watch.lastPass)) : []);
  const outbox = (pick: (c: { pending: number; gaveUp: number }) => number) => () =>
    readOutboxState(db).channels.map((c) => ({ labels: { channel: c.channel }, value: pick(c) }));
  const deliveries = (pick: (c: { sent: number; failed: number; gaveUp: number }) => number) => () =>
    [...watch.deliveries].map(([channel, c]) => ({ labels: { channel }, value: pick(c) }));
  const channel = ['channel'];
  return [
    { name: 'evaluator_last_pass_timestamp_seconds', help: 'When the evaluator last completed a pass; absent until the first one.', samples: pass((p) => p.at / 1000) },
    { name: 'evaluator_last_pass_duration_seconds', help: 'Wall time of the last completed evaluation pass.', samples: pass((p) => p.ms / 1000) },
    { name: 'evaluator_findings', help: 'Findings (problems the rules see) after the last completed evaluation pass.', samples: pass((p) => p.findings) },
    { name: 'outbox_pending', help: 'Notifications still to be delivered, per channel.', labels: channel, samples: outbox((c) => c.pending) },
    { name: 'outbox_given_up', help: 'Notifications the sender gave up on and still held in the outbox, per channel.', labels: channel, samples: outbox((c) => c.gaveUp) },
    {
      name: 'outbox_oldest_pending_age_seconds',
      help: 'Age of the oldest notification still to be delivered; 0 when none waits.',
      samples: () => {
        const oldest = readOutboxState(db).oldestPendingAt;
        return one(oldest === null ? 0 : Math.max(0, now() - oldest) / 1000);
      },
    },
    { name: 'notify_deliveries_sent_total', help: 'Notifications delivered since the collector started, per channel.', counter: true, labels: channel, samples: deliveries((c) => c.sent) },
    { name: 'notify_deliveries_failed_total', help: 'Failed delivery attempts since the collector started, per channel (retried or given up).', counter: true, labels: channel, samples: deliveries((c) => c.failed) },
    { name: 'notify_deliveries_given_up_total', help: 'Notifications given up on since the collector started, per channel.', counter: true, labels: channel, samples: deliveries((c) => c.gaveUp) },
    { name: 'database_size_bytes', help: 'Size of the SQLite database file and its write-ahead log.', samples: () => one(databaseBytes(db.name)) },
  ];
}
