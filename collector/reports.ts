import { markdownText } from '../shared/display-text';
import type { Db } from './db';
import type { NotificationMessage } from './notify/types';

// Weekly and monthly reports, as the seeds ask: success rate per tier, storage and its trend,
// duration trend, verifications and restore drills done, open incidents. Server jobs (a PBS
// datastore's GC, verify, prune, sync: role 'maintenance') make no copies: left out of the tiers'
// backup figures; their failures show among the incidents.

export type ReportPeriod = 'week' | 'month';
const DAY = 86_400_000;
const PERIOD_MS: Record<ReportPeriod, number> = { week: 7 * DAY, month: 30 * DAY };

export interface TierReport {
  tier: number;
  runs: number;
  succeeded: number;
  successRate: number | null;
  /** Newest size of each job's copy, summed, now and at the start of the period. */
  storageBytes: number;
  storageBytesBefore: number;
  avgDurationMs: number | null;
  avgDurationMsBefore: number | null;
}

export interface Report {
  period: ReportPeriod;
  from: string;
  to: string;
  tiers: TierReport[];
  verifications: { passed: number; failed: number };
  restoreDrills: { passed: number; failed: number; slowestMs: number | null };
  openIncidents: { critical: number; warning: number; info: number; titles: string[] };
}

/** The report for the period ending at `now`, from the stored runs and incidents. */
export function buildReport(db: Db, period: ReportPeriod, now: number): Report {
  const from = now - PERIOD_MS[period];
  const before = from - PERIOD_MS[period];
  const tiers = db
    .prepare<[number, number, number, number, number, number], Omit<TierReport, 'successRate'>>(
      `SELECT j.tier,
              count(r.id) AS runs,
              coalesce(sum(r.status IN ('success', 'warning')), 0) AS succeeded,
              (SELECT coalesce(sum(b.bytes_total), 0) FROM jobs j2, runs b
                 WHERE j2.tier = j.tier AND j2.active = 1 AND j2.role <> 'maintenance' AND b.id = (SELECT id FROM runs WHERE agent_id = j2.agent_id AND job = j2.name AND operation = 'backup' AND bytes_total IS NOT NULL AND started_at < ? ORDER BY started_at DESC LIMIT 1)) AS storageBytes,
              (SELECT coalesce(sum(b.bytes_total), 0) FROM jobs j2, runs b
                 WHERE j2.tier = j.tier AND j2.active = 1 AND j2.role <> 'maintenance' AND b.id = (SELECT id FROM runs WHERE agent_id = j2.agent_id AND job = j2.name AND operation = 'backup' AND bytes_total IS NOT NULL AND started_at < ? ORDER BY started_at DESC LIMIT 1)) AS storageBytesBefore,
              avg(r.duration_ms) AS avgDurationMs,
              (SELECT avg(p.duration_ms) FROM runs p JOIN jobs j3 ON j3.agent_id = p.agent_id AND j3.name = p.job
                 WHERE j3.tier = j.tier AND j3.role <> 'maintenance' AND p.operation = 'backup' AND p.started_at >= ? AND p.started_at < ?) AS avgDurationMsBefore
       FROM jobs j LEFT JOIN runs r ON r.agent_id = j.agent_id AND r.job = j.name AND r.operation = 'backup'
            AND r.status <> 'running' AND r.status <> 'skipped' AND r.started_at >= ? AND r.started_at < ?
       WHERE j.active = 1 AND j.role <> 'maintenance'
       GROUP BY j.tier ORDER BY j.tier`,
    )
    .all(now, from, before, from, from, now)
    .map((t) => ({ ...t, successRate: t.runs > 0 ? t.succeeded / t.runs : null }));
  const ops = (op: string) =>
    db
      .prepare<[string, number, number], { passed: number; failed: number; slowest: number | null }>(
        `SELECT coalesce(sum(status = 'success'), 0) AS passed, coalesce(sum(status IN ('failure', 'timeout')), 0) AS failed, max(duration_ms) AS slowest
         FROM runs WHERE operation = ? AND started_at >= ? AND started_at < ?`,
      )
      .get(op, from, now)!;
  const verify = ops('verify');
  const drills = ops('restore-test');
  const open = db
    .prepare<[], { severity: 'critical' | 'warning' | 'info'; title: string }>(
      `SELECT severity, title FROM incidents WHERE resolved_at IS NULL ORDER BY CASE severity WHEN 'critical' THEN 0 WHEN 'warning' THEN 1 ELSE 2 END, opened_at`,
    )
    .all();
  return {
    period,
    from: new Date(from).toISOString(),
    to: new Date(now).toISOString(),
    tiers,
    verifications: { passed: verify.passed, failed: verify.failed },
    restoreDrills: { passed: drills.passed, failed: drills.failed, slowestMs: drills.slowest },
    openIncidents: {
      critical: open.filter((i) => i.severity === 'critical').length,
      warning: open.filter((i) => i.severity === 'warning').length,
      info: open.filter((i) => i.severity === 'info').length,
      titles: open.slice(0, 20).map((i) => i.title),
    },
  };
}

const gib = (b: number) => `${(b / 2 ** 30).toFixed(1)} GiB`;
const pct = (x: number | null) => (x === null ? '–' : `${(x * 100).toFixed(1)} %`);
const mins = (ms: number | null) => (ms === null ? '–' : `${(ms / 60_000).toFixed(1)} min`);
const trend = (now: number, before: number) => (before === 0 ? '' : ` (${now >= before ? '+' : ''}${(((now - before) / before) * 100).toFixed(1)} %)`);

export function reportMarkdown(r: Report): string {
  const rows = r.tiers.map(
    (t) => `| ${t.tier} | ${pct(t.successRate)} (${t.succeeded}/${t.runs}) | ${gib(t.storageBytes)}${trend(t.storageBytes, t.storageBytesBefore)} | ${mins(t.avgDurationMs)} (before: ${mins(t.avgDurationMsBefore)}) |`,
  );
  const o = r.openIncidents;
  return [
    `**Backups, ${r.period === 'week' ? 'weekly' : 'monthly'} report** (${r.from.slice(0, 10)} – ${r.to.slice(0, 10)})`,
    '',
    '| tier | success rate | storage (trend) | average duration |',
    '|---|---|---|---|',
    ...rows,
    '',
    `Verifications: ${r.verifications.passed} passed, ${r.verifications.failed} failed. Restore drills: ${r.restoreDrills.passed} passed, ${r.restoreDrills.failed} failed${r.restoreDrills.slowestMs !== null ? `, slowest ${mins(r.restoreDrills.slowestMs)}` : ''}.`,
    `Open incidents: ${o.critical} critical, ${o.warning} warning, ${o.info} info.`,
    // Incident titles quote agent text (mounts, devices, errors): escaped for Markdown.
    ...o.titles.map((t) => `- ${markdownText(t)}`),
  ].join('\n');
}

export function reportMessage(r: Report, publicUrl?: string): NotificationMessage {
  const worst = r.openIncidents.critical > 0 ? 'critical' : r.openIncidents.warning > 0 ? 'warning' : 'info';
  return {
    event: 'report',
    severity: worst,
    title: `Lifeline ${r.period === 'week' ? 'weekly' : 'monthly'} backup report`,
    body: reportMarkdown(r),
    tags: ['bar_chart'],
    ...(publicUrl ? { clickUrl: publicUrl } : {}),
  };
}
