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
  // left out of the tiers' backup figures; their failures show among the failed runs.
  const tiers = db.prepare<[number, number, number, number, number, number], TierRow>(
    `SELECT j.tier,
            count(r.id) AS runs,
            coalesce(sum(r.status IN ('success', 'warning')), 0) AS succeeded,
            (SELECT sum(b.bytes_total) FROM jobs j2, runs b
               WHERE j2.tier = j.tier AND j2.active = 1 AND j2.role <> 'maintenance' AND b.id = (SELECT id FROM runs WHERE agent_id = j2.agent_id AND job = j2.name AND operation = 'backup' AND bytes_total IS NOT NULL AND started_at < ? ORDER BY started_at DESC LIMIT 1)) AS storageBytes,
            (SELECT sum(b.bytes_total) FROM jobs j2, runs b
               WHERE j2.tier = j.tier AND j2.active = 1 AND j2.role <> 'maintenance' AND b.id = (SELECT id FROM runs WHERE agent_id = j2.agent_id AND job = j2.name AND operation = 'backup' AND bytes_total IS NOT NULL AND started_at < ? ORDER BY started_at DESC LIMIT 1)) AS storageBytesBefore,
            avg(r.duration_ms) AS avgDurationMs,
            (SELECT avg(p.duration_ms) FROM runs p JOIN jobs j3 ON j3.agent_id = p.agent_id AND j3.name = p.job
               WHERE j3.tier = j.tier AND j3.role <> 'maintenance' AND p.operation = 'backup' AND p.started_at >= ? AND p.started_at < ?) AS avgDurationMsBefore
     FROM jobs j LEFT JOIN runs r ON r.agent_id = j.agent_id AND r.job = j.name AND r.operation = 'backup'
          AND r.status <> 'running' AND r.status <> 'skipped' AND r.started_at >= ? AND r.started_at < ?
     WHERE j.active = 1 AND j.role <> 'maintenance'
     GROUP BY j.tier ORDER BY j.tier`,
  );
  // Per active job (index runs_by_job): its good backups finished in the period, and the newest before it.
  const copies = db.prepare<[{ from: number; to: number }], { agent: string; job: string; at: number }>(
    `SELECT a.name AS agent, r.job, r.finished_at AS at
     FROM jobs j JOIN agents a ON a.id = j.agent_id
     JOIN runs r ON r.agent_id = j.agent_id AND r.job = j.name AND r.operation = 'backup'
     WHERE j.active = 1 AND r.status IN ('success', 'warning') AND r.finished_at IS NOT NULL AND r.finished_at >= @from AND r.finished_at <= @to
     UNION ALL
     SELECT a.name, j.name, (SELECT max(r.finished_at) FROM runs r WHERE r.agent_id = j.agent_id AND r.job = j.name AND r.operation = 'backup'
                               AND r.status IN ('success', 'warning') AND r.finished_at < @from) AS at
     FROM jobs j JOIN agents a ON a.id = j.agent_id
     WHERE j.active = 1 AND at IS NOT NULL`,
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
        tiers: tiers.all(now, from, before, from, from, now),
        copies: copies.all({ from, to: now }),
        checks: checks.all(from, now),
        failures: failures.all(from, now),
        openIncidents: open.all(),
      };
    },
  };
}
