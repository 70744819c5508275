import { Counter, Gauge, type Registry } from 'prom-client';
import type { Db } from '../db';
import { databaseBytes, readOutboxState, selfWatchOf } from '../self-watch';
import { METRIC_PREFIX } from './families';

// The collector's own health as metrics, read at every scrape (cheap: the watch's counters, a few
// queries over the outbox's unsent rows, and a stat of the database file). Channel
// labels are config names: bounded by the notify: list.

const gauge = (registry: Registry, name: string, help: string, labelNames: string[], collect: (g: Gauge) => void) =>
  new Gauge({ name: METRIC_PREFIX + name, help, labelNames, registers: [registry], collect() { collect(this); } });

/** Registers the evaluator, outbox and database families on `registry`. */
export function registerSelfWatchMetrics(registry: Registry, db: Db, now: () => number): void {
  const watch = selfWatchOf(db);
  gauge(registry, 'evaluator_last_pass_timestamp_seconds', 'When the evaluator last completed a pass; absent until the first one.', [], (g) => {
    g.reset();
    if (watch.lastPass) g.set(watch.lastPass.at / 1000);
  });
  gauge(registry, 'evaluator_last_pass_duration_seconds', 'Wall time of the last completed evaluation pass.', [], (g) => {
    g.reset();
    if (watch.lastPass) g.set(watch.lastPass.ms / 1000);
  });
  gauge(registry, 'evaluator_findings', 'Findings (problems the rules see) after the last completed evaluation pass.', [], (g) => {
    g.reset();
    if (watch.lastPass) g.set(watch.lastPass.findings);
  });

  gauge(registry, 'outbox_pending', 'Notifications still to be delivered, per channel.', ['channel'], (g) => {
    g.reset();
    for (const c of readOutboxState(db).channels) g.set({ channel: c.channel }, c.pending);
  });
  gauge(registry, 'outbox_given_up', 'Notifications the sender gave up on and still held in the outbox, per channel.', ['channel'], (g) => {
    g.reset();
    for (const c of readOutboxState(db).channels) g.set({ channel: c.channel }, c.gaveUp);
  });
  gauge(registry, 'outbox_oldest_pending_age_seconds', 'Age of the oldest notification still to be delivered; 0 when none waits.', [], (g) => {
    const oldest = readOutboxState(db).oldestPendingAt;
    g.set(oldest === null ? 0 : Math.max(0, now() - oldest) / 1000);
  });
  const counter = (name: string, help: string, pick: (c: { sent: number; failed: number; gaveUp: number }) => number) =>
    new Counter({
      name: METRIC_PREFIX + name,
      help,
      labelNames: ['channel'],
      registers: [registry],
      collect() {
        this.reset();
        for (const [channel, c] of watch.deliveries) this.inc({ channel }, pick(c));
      },
    });
  counter('notify_deliveries_sent_total', 'Notifications delivered since the collector started, per channel.', (c) => c.sent);
  counter('notify_deliveries_failed_total', 'Failed delivery attempts since the collector started, per channel (retried or given up).', (c) => c.failed);
  counter('notify_deliveries_given_up_total', 'Notifications given up on since the collector started, per channel.', (c) => c.gaveUp);

  gauge(registry, 'database_size_bytes', 'Size of the SQLite database file and its write-ahead log.', [], (g) => g.set(databaseBytes(db.name)));
}
