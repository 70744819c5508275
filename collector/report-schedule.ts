import type { Cron } from 'croner';
import { cronFor } from '../shared/schedule';
import type { CollectorConfig } from './config';
import type { Db } from './db';
import { IncidentStore } from './incidents/store';
import { buildReport, reportMessage, type ReportPeriod } from './reports';

/** Queues the weekly and monthly reports in the outbox on their schedules (collector's zone). */
export function scheduleReports(db: Db, config: CollectorConfig, onQueued: () => void): Cron[] {
  const store = new IncidentStore(db, { channels: config.notify, publicUrl: config.publicUrl });
  const plan: [ReportPeriod, string | null][] = [
    ['week', config.reports.weekly],
    ['month', config.reports.monthly],
  ];
  return plan
    .filter((p): p is [ReportPeriod, string] => p[1] !== null)
    .map(([period, schedule]) =>
      cronFor(schedule, undefined, () => {
        const now = Date.now();
        if (store.enqueue(reportMessage(buildReport(db, config, period, now), config.publicUrl), now) > 0) onQueued();
      }),
    );
}
