import type { CollectorConfig } from '../config';
import { rulesConfig, tierPolicies } from '../config';
import type { Db } from '../db';
import { createGatherer } from '../evaluate/gather';
import type { EvaluationInput } from '../rules/types';
import type { FailedRun } from './report-period';

// Reads what a weekly or monthly report needs. The current state (copies, 3-2-1, drills,
// verifications, inventories, usage history) comes from the evaluator's gatherer, as for the
// page and the alerts; only the facts of the period itself (its runs) are read here, by period.

export type ReportPeriod = 'week' | 'month';
const DAY = 86_400_000;
export const PERIOD_MS: Record<ReportPeriod, number> = { week: 7 * DAY, month: 30 * DAY };

/** One tier's backup runs of the period, and its storage and durations then and the period before. */
export interface TierRow {
  tier: number;
  runs: number;
  succeeded: number;
  /** Newest size of each job's copy, summed, now and at the start of the period; null: no job reported a size. */
  storageBytes: number | null;
  storageBytesBefore: number | null;
  avgDurationMs: number | null;
  avgDurationMsBefore: number | null;
}

/** A job's verifications or restore drills of the period. */
export interface CheckRow {
  agent: string;
  job: string;
  operation: 'verify' | 'restore-test';
  passed: number;
  failed: number;
  /** The longest of them (any outcome). */
  slowestMs: number | null;
}

export interface ReportInput {
  period: ReportPeriod;
  from: number;
  to: number;
  evaluation: EvaluationInput;
  tiers: TierRow[];
  /** Every good backup's finish per job: those of the period, and the newest before it. */
  copies: { agent: string; job: string; at: number }[];
  checks: CheckRow[];
  failures: FailedRun[];
  openIncidents: { severity: 'critical' | 'warning' | 'info'; title: string }[];
}

/** Failed runs read per report: enough to group, bounded for a fleet having a bad week. */
const FAILURES_READ = 5000;

export function createReportSource(db: Db, config: CollectorConfig) {
  const gatherer = createGatherer(db);
  const policies = tierPolicies(config);
  const rules = rulesConfig(config);
  // Server jobs (a PBS datastore's GC, verify, prune, sync: role 'maintenance') make no copies:
  // left out of the tiers' backup figures; their failures show among the failed runs. Every
  // statement is driven by the job list and seeks each job's runs through runs_by_job.
  const tierRuns = db.prepare<[{ before: number; from: number; now: number }], Omit<TierRow, 'storageBytes' | 'storageBytesBefore'>>(
    `SELECT j.tier,
            coalesce(sum(r.started_at >= @from), 0) AS runs,
            coalesce(sum(r.started_at >= @from AND r.status IN ('success', 'warning')), 0) AS succeeded,
            avg(CASE WHEN r.started_at >= @from THEN r.duration_ms END) AS avgDurationMs,
            avg(CASE WHEN r.started_at < @from THEN r.duration_ms END) AS avgDurationMsBefore
     FROM jobs j LEFT JOIN runs r ON r.agent_id = j.agent_id AND r.job = j.name AND r.operation = 'backup'
          AND r.started_at >= @before AND r.started_at < @now AND r.status <> 'running' AND r.status <> 'skipped'
     WHERE j.active = 1 AND j.role <> 'maintenance'
     GROUP BY j.tier ORDER BY j.tier`,
  );
  // Each job's newest reported size before now and before the period, summed per tier (null: none said).
  const newestSize = (at: string) =>
    `(SELECT bytes_total FROM runs WHERE agent_id = j.agent_id AND job = j.name AND operation = 'backup' AND started_at < ${at} AND bytes_total IS NOT NULL ORDER BY started_at DESC LIMIT 1)`;
  const tierStorage = db.prepare<[{ from: number; now: number }], { tier: number; storageBytes: number | null; storageBytesBefore: number | null }>(
    `SELECT tier, sum(size) AS storageBytes, sum(sizeBefore) AS storageBytesBefore
     FROM (SELECT j.tier, ${newestSize('@now')} AS size, ${newestSize('@from')} AS sizeBefore FROM jobs j WHERE j.active = 1 AND j.role <> 'maintenance')
     GROUP BY tier`,
  );
  const GOOD_BACKUP = `operation = 'backup' AND status IN ('success', 'warning') AND finished_at IS NOT NULL`;
  // Per active job: its good backups started in the period, and the two newest started before it
  // (one may have finished inside it), as a JSON list of finish times.
  const copies = db.prepare<[{ from: number; to: number }], { agent: string; job: string; inPeriod: string; before: string }>(
    `SELECT a.name AS agent, j.name AS job,
            (SELECT json_group_array(finished_at) FROM runs WHERE agent_id = j.agent_id AND job = j.name AND ${GOOD_BACKUP} AND started_at >= @from AND started_at <= @to) AS inPeriod,
            (SELECT json_group_array(finished_at) FROM (SELECT finished_at FROM runs WHERE agent_id = j.agent_id AND job = j.name AND ${GOOD_BACKUP} AND started_at < @from ORDER BY started_at DESC LIMIT 2)) AS before
     FROM jobs j JOIN agents a ON a.id = j.agent_id WHERE j.active = 1`,
  );
  const checks = db.prepare<[number, number], CheckRow>(
    `SELECT a.name AS agent, r.job, r.operation, coalesce(sum(r.status = 'success'), 0) AS passed,
            coalesce(sum(r.status IN ('failure', 'timeout')), 0) AS failed, max(r.duration_ms) AS slowestMs
     FROM runs r JOIN agents a ON a.id = r.agent_id
     WHERE r.operation IN ('verify', 'restore-test') AND r.started_at >= ? AND r.started_at < ?
     GROUP BY r.agent_id, r.job, r.operation ORDER BY a.name, r.job, r.operation`,
  );
  const failures = db.prepare<[number, number], FailedRun>(
    `SELECT a.name AS agent, r.job, r.operation, r.status, r.error, r.started_at AS startedAt
     FROM runs r JOIN agents a ON a.id = r.agent_id
     WHERE r.status IN ('failure', 'timeout') AND r.started_at >= ? AND r.started_at < ?
     ORDER BY r.started_at DESC LIMIT ${FAILURES_READ}`,
  );
  const open = db.prepare<[], { severity: 'critical' | 'warning' | 'info'; title: string }>(
    `SELECT severity, title FROM incidents WHERE resolved_at IS NULL ORDER BY CASE severity WHEN 'critical' THEN 0 WHEN 'warning' THEN 1 ELSE 2 END, opened_at`,
  );

  function tierRows(t: { before: number; from: number; now: number }): TierRow[] {
    const storage = new Map(tierStorage.all(t).map((s) => [s.tier, s]));
    return tierRuns.all(t).map((r) => ({ ...r, storageBytes: storage.get(r.tier)?.storageBytes ?? null, storageBytesBefore: storage.get(r.tier)?.storageBytesBefore ?? null }));
  }

  return {
    /** The report's input for the period ending at `now`. */
    read(period: ReportPeriod, now: number): ReportInput {
      const from = now - PERIOD_MS[period];
      const before = from - PERIOD_MS[period];
      return {
        period,
        from,
        to: now,
        evaluation: gatherer.gather(policies, rules),
        tiers: tierRows({ before, from, now }),
        copies: copies.all({ from, to: now }).flatMap((c) =>
          [...(JSON.parse(c.inPeriod) as number[]), ...(JSON.parse(c.before) as number[])].map((at) => ({ agent: c.agent, job: c.job, at })),
        ),
        checks: checks.all(from, now),
        failures: failures.all(from, now),
        openIncidents: open.all(),
      };
    },
  };
}
