import { groupBy } from '../group-by';
import { assetStates } from '../rules/asset-state';
import { retentionAudit } from '../rules/retention-audit';
import type { JobView, RunState, RunView, Tier } from '../rules/types';
import { isDerived, isGood } from '../rules/util';
import { capacityOutlook, groupFailures, heldThroughPeriod, rpoOverPeriod, type FailureGroup } from './report-period';
import { PERIOD_MS, type CheckRow, type ReportInput, type ReportPeriod, type TierRow } from './report-source';

// The weekly and monthly reports as the seeds ask them: success rate, storage and duration per
// tier; per asset the RPO met over the period, retention compliance (the inventory audit), 3-2-1,
// restore drills against the RTO and verifications; the period's failed runs grouped by cause;
// capacity with its trend and projected full date. Pure: the source reads (report-source.ts).

export type { ReportPeriod } from './report-source';

export interface TierReport extends TierRow {
  successRate: number | null;
}

export interface AssetReport {
  asset: string;
  tier: Tier;
  rpoMs: number;
  rtoMs: number;
  rpo: {
    /** Share of the period the newest good copy was within the RPO; null: the asset is newer than the period. */
    metShare: number | null;
    outsideMs: number;
    worstGapMs: number;
    /** Within the RPO now. */
    okNow: boolean;
    newestAt: string | null;
  };
  /** The inventory audit (rules/retention-audit.ts): 'gaps' with its findings, 'ok', or 'not audited' (no listing, or a driver whose pruning is unknown). */
  retention: { state: 'ok' | 'gaps' | 'not audited'; findings: string[] };
  threeTwoOne: {
    now: boolean;
    missing: string[];
    /** Held at every moment of the period; null: not known (copies of copies keep no history of their own). */
    throughPeriod: boolean | null;
  };
  drills: {
    passed: number;
    failed: number;
    /** The newest restore drill of the asset's copies (any time), its measured time against the RTO. */
    last: { job: string; at: string; status: RunState; durationMs: number | null; rtoOk: boolean | null } | null;
  };
  verifications: { passed: number; failed: number; last: { job: string; at: string; status: RunState } | null };
}

export interface CapacityRow {
  agent: string;
  kind: 'filesystem' | 'datastore';
  name: string;
  sizeBytes: number | null;
  usedBytes: number | null;
  changeBytes: number | null;
  growthPerDayBytes: number | null;
  projectedFullAt: string | null;
  /** Set when the projected full date falls inside the next period. */
  recommendation: string | null;
}

export interface Report {
  period: ReportPeriod;
  from: string;
  to: string;
  tiers: TierReport[];
  verifications: { passed: number; failed: number };
  restoreDrills: { passed: number; failed: number; slowestMs: number | null };
  openIncidents: { critical: number; warning: number; info: number; titles: string[] };
  assets: AssetReport[];
  failures: FailureGroup[];
  capacity: CapacityRow[];
}

const iso = (ms: number) => new Date(ms).toISOString();
const keyOf = (j: { agent: string; job: string }) => `${j.agent}\0${j.job}`;

/**
 * `shown` picks the filesystems worth reporting (the page's own filter, so the report lists
 * the same disks); every reported one by default.
 */
export function reportView(input: ReportInput, shown: <F extends { mount: string; sizeBytes: number }>(fs: readonly F[]) => F[] = (fs) => [...fs]): Report {
  const { from, to: now, evaluation } = input;
  const times = groupBy(input.copies, keyOf);
  const checks = groupBy(input.checks, keyOf);
  const retention = groupBy(
    retentionAudit(evaluation, now).filter((f) => f.asset !== undefined),
    (f) => f.asset as string,
  );
  const assets = assetStates(evaluation, now)
    .map((s): AssetReport => {
      const direct = s.jobs.filter((j) => !isDerived(j));
      const copies = direct.map((job) => ({ job, times: (times.get(keyOf(job)) ?? []).map((c) => c.at) }));
      // Judged from the asset's first job on: a period it did not exist for all of is not held against it.
      const since = direct.length ? Math.min(...direct.map((j) => j.knownSince)) : from;
      const over = rpoOverPeriod(
        copies.flatMap((c) => c.times),
        s.rpoMs,
        from,
        now,
        since,
      );
      const sourceMedia = evaluation.assets?.find((a) => a.asset === s.asset)?.sourceMedia;
      const findings = retention.get(s.asset) ?? [];
      const gaps = findings.filter((f) => f.rule !== 'retention-unknown-semantics');
      const audited = direct.some((j) => j.inventory !== null) && findings.length === gaps.length;
      const own = direct.flatMap((j) => checks.get(keyOf(j)) ?? []);
      const count = (op: CheckRow['operation'], k: 'passed' | 'failed') => own.filter((c) => c.operation === op).reduce((n, c) => n + c[k], 0);
      const drill = newestRun(direct, (j) => j.lastRestoreTest);
      const verify = newestRun(direct, (j) => j.lastVerify);
      return {
        asset: s.asset,
        tier: s.tier,
        rpoMs: s.rpoMs,
        rtoMs: s.rtoMs,
        rpo: { ...over, okNow: s.rpoOk, newestAt: s.newest?.lastSuccess != null ? iso(s.newest.lastSuccess) : null },
        retention: { state: gaps.length ? 'gaps' : audited ? 'ok' : 'not audited', findings: findings.map((f) => f.title) },
        threeTwoOne: {
          now: s.copies.ok,
          missing: s.copies.missing,
          throughPeriod: s.jobs.some(isDerived) || over.metShare === null ? null : heldThroughPeriod(copies, s.rpoMs, Math.max(from, since), now, sourceMedia),
        },
        drills: {
          passed: count('restore-test', 'passed'),
          failed: count('restore-test', 'failed'),
          last: drill && {
            job: drill.job.job,
            at: iso(drill.run.startedAt),
            status: drill.run.status,
            durationMs: drill.run.durationMs,
            rtoOk: isGood(drill.run) ? (drill.run.durationMs === null ? null : drill.run.durationMs <= s.rtoMs) : false,
          },
        },
        verifications: {
          passed: count('verify', 'passed'),
          failed: count('verify', 'failed'),
          last: verify && { job: verify.job.job, at: iso(verify.run.startedAt), status: verify.run.status },
        },
      };
    })
    .sort((a, b) => a.tier - b.tier || (a.asset < b.asset ? -1 : a.asset > b.asset ? 1 : 0));

  const sum = (op: CheckRow['operation'], k: 'passed' | 'failed') => input.checks.filter((c) => c.operation === op).reduce((n, c) => n + c[k], 0);
  const slowest = input.checks.reduce<number | null>((m, c) => (c.operation === 'restore-test' && c.slowestMs !== null && (m === null || c.slowestMs > m) ? c.slowestMs : m), null);
  const open = input.openIncidents;
  return {
    period: input.period,
    from: iso(from),
    to: iso(now),
    tiers: input.tiers.map((t) => ({ ...t, successRate: t.runs > 0 ? t.succeeded / t.runs : null })),
    verifications: { passed: sum('verify', 'passed'), failed: sum('verify', 'failed') },
    restoreDrills: { passed: sum('restore-test', 'passed'), failed: sum('restore-test', 'failed'), slowestMs: slowest },
    openIncidents: {
      critical: open.filter((i) => i.severity === 'critical').length,
      warning: open.filter((i) => i.severity === 'warning').length,
      info: open.filter((i) => i.severity === 'info').length,
      titles: open.slice(0, 20).map((i) => i.title),
    },
    assets,
    failures: groupFailures(input.failures),
    capacity: capacityRows(input, shown),
  };
}

/** The newest run of one kind among the jobs. */
function newestRun(jobs: readonly JobView[], pick: (j: JobView) => RunView | null): { job: JobView; run: RunView } | null {
  let best: { job: JobView; run: RunView } | null = null;
  for (const job of jobs) {
    const run = pick(job);
    if (run && run.status !== 'running' && (best === null || run.startedAt > best.run.startedAt)) best = { job, run };
  }
  return best;
}

function capacityRows(input: ReportInput, shown: <F extends { mount: string; sizeBytes: number }>(fs: readonly F[]) => F[]): CapacityRow[] {
  const { from, to: now, period } = input;
  const periodMs = PERIOD_MS[period];
  const row = (agent: string, kind: CapacityRow['kind'], name: string, u: { sizeBytes: number | null; usedBytes: number | null; history: readonly { at: number; usedBytes: number }[] }): CapacityRow => {
    const o = capacityOutlook(u, from, now, periodMs);
    const full = o.projectedFullAt === null ? null : iso(Math.max(o.projectedFullAt, now));
    return {
      agent,
      kind,
      name,
      sizeBytes: u.sizeBytes,
      usedBytes: u.usedBytes,
      changeBytes: o.changeBytes,
      growthPerDayBytes: o.growthPerDayBytes,
      projectedFullAt: full,
      recommendation: o.fullWithinNextPeriod
        ? `${name} on ${agent} is projected full around ${full!.slice(0, 10)}, within the next ${period}: add space, or shorten the retention of the backups stored there.`
        : null,
    };
  };
  const out: CapacityRow[] = [];
  for (const a of input.evaluation.agents) for (const f of shown(a.filesystems)) out.push(row(a.agent, 'filesystem', f.mount, f));
  for (const p of input.evaluation.pbs ?? []) {
    for (const d of p.datastores) out.push(row(p.agent, 'datastore', d.name, { sizeBytes: d.totalBytes, usedBytes: d.usedBytes, history: d.history }));
  }
  // The ones filling first lead.
  return out.sort((a, b) => (a.projectedFullAt ?? '~').localeCompare(b.projectedFullAt ?? '~') || a.agent.localeCompare(b.agent) || a.name.localeCompare(b.name));
}
