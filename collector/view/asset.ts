import { groupBy } from '../group-by';
import { restoreRunbook } from '../runbook/index';
import { restoreSnapshot } from '../runbook/verified';
import type { IncidentRow } from '../incidents/types';
import { assetState } from '../rules/asset-state';
import { guestNames } from '../rules/proxmox';
import type { EvaluationInput, JobView, RunOperation, RunState, RunView, SnapshotView } from '../rules/types';
import { humanDuration, isCopyJob, localDateTime, nextDue } from '../rules/util';
import type { AssetSummary } from './overview';
import { chainRunbook, chainText, type ChainStep } from './chain';
import { pendingReasons, riskReasons } from './risk';

// The asset page's view model: every copy of one asset, its run history, charts' series,
// verifications, restore drills against the tier's RTO and a restore runbook per copy.
// Pure: the history and restore facts are read by source.ts.

export interface HistoryRun extends RunView {
  agent: string;
  job: string;
  exitCode: number | null;
  snapshotId: string | null;
  /** Why it ran: 'schedule', 'manual', 'retry' or 'catch-up'. */
  trigger?: string;
  /** The scheduled slot it served (retries and catch-ups of it too). */
  scheduledFor?: number | null;
  /** How far ahead of the collector the agent's clock put it (its times are the collector's). */
  clockAheadMs?: number | null;
  /** Whether a log tail is stored (fetched on demand from /api/v1/runs/:runId/log). */
  hasLog: boolean;
}

export interface JobFacts {
  agent: string;
  job: string;
  /** Non-secret restore facts from the hello (jobs.restore); null when the driver sent none. */
  restore: Record<string, string> | null;
}

export interface AssetInput {
  /** Gathered for this asset's jobs only. */
  evaluation: EvaluationInput;
  asset: string;
  facts: readonly JobFacts[];
  /** Runs of every operation of the asset's jobs, newest first, bounded per job. */
  runs: readonly HistoryRun[];
  openIncidents: readonly IncidentRow[];
}

export interface CopyRow {
  agent: string;
  job: string;
  driver: string;
  target: JobView['target'];
  schedule: string;
  nextRunAt: string | null;
  lastSuccessAt: string | null;
  /** Within the RPO: counts for 3-2-1. */
  fresh: boolean;
  /** The newest snapshot at the target (inventory, else the last good run's snapshot id); `verified` where the tool tells (PBS). */
  snapshot: { id: string; time: string; ageMs: number; verified?: 'ok' | 'failed' | null } | null;
  snapshots: number | null;
  /** Where the listing carries verification states (PBS): its snapshots counted by state, and the newest verified ok. */
  verification?: { ok: number; failed: number; unverified: number; newestOk: { id: string; time: string } | null };
  /** A server job (PBS GC, verify, prune, sync): no copy, not counted for 3-2-1. */
  serverJob?: true;
  /**
   * A copy of a copy (a link job copying what another target holds): the chain it came through,
   * "vm-100 → pbs1 (pbs, on-site) → cloud-restic (cloud, off-site)", and its hops, the asset's own job first.
   */
  chain?: { text: string; hops: { agent: string; job: string; target: JobView['target'] }[] };
}

/** A listed snapshot of a copy whose listing carries verification states (PBS). */
export interface SnapshotRow {
  agent: string;
  job: string;
  target: string;
  id: string;
  time: string;
  /** Its last verification; null: never verified. */
  verified: 'ok' | 'failed' | null;
}

export interface RunRow {
  agent: string;
  job: string;
  runId: string;
  status: RunState;
  startedAt: string;
  finishedAt: string | null;
  durationMs: number | null;
  bytesAdded: number | null;
  bytesTotal: number | null;
  exitCode: number | null;
  error: string | null;
  hasLog: boolean;
  /** How this run fits its scheduled slot (a retry, a catch-up, retried later), or an odd clock; null when plain. */
  note: string | null;
}

export interface DrillRow extends RunRow {
  /** Measured restore time within the tier's RTO; null while unknown (no duration, failed). */
  rtoOk: boolean | null;
}

export interface Series {
  /** "agent/job → target". */
  label: string;
  points: { t: number; durationMs: number | null; bytesTotal: number | null }[];
}

export interface Runbook {
  agent: string;
  job: string;
  target: string;
  title: string;
  commands: string[];
  notes: string[];
  /** A copy of a copy: the restores in order, outermost copy first, each with its drills' time. */
  steps?: ChainStep[];
  /** The steps' expected times added up; null when a step has no drill. */
  expectedMs?: number | null;
}

export interface AssetDetailView extends AssetSummary {
  generatedAt: string;
  /** Only server jobs keep this asset (a PBS datastore's GC and verify jobs): it has no copies to judge. */
  serverJobsOnly: boolean;
  copies: CopyRow[];
  /** The newest snapshots (up to SNAPSHOT_ROWS per copy) of the copies whose listing carries verification states. */
  snapshots: SnapshotRow[];
  runs: RunRow[];
  series: Series[];
  verifications: RunRow[];
  drills: DrillRow[];
  runbooks: Runbook[];
  openIncidents: { id: number; severity: IncidentRow['severity']; title: string; since: string; acknowledged: boolean }[];
}

/** Rows shown in the run history table (the series keep every bounded run). */
export const HISTORY_ROWS = 50;
/** Snapshots listed per copy with their verification state. */
export const SNAPSHOT_ROWS = 20;
const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

/** null when no active job protects the asset. */
export function assetDetailView(input: AssetInput, now: number): AssetDetailView | null {
  const jobs = input.evaluation.jobs.filter((j) => j.asset === input.asset);
  if (jobs.length === 0) return null;
  const state = assetState(input.evaluation, input.asset, jobs, now);
  const c = state.copies;
  const byJob = (r: { agent: string; job: string }) => `${r.agent}\0${r.job}`;
  const copies = jobs.map((j) => copyRow(j, state.rpoMs, now, input.runs));
  const facts = new Map(input.facts.map((f) => [byJob(f), f.restore]));
  const ops = (op: RunOperation) => input.runs.filter((r) => r.operation === op && r.status !== 'running');
  const zones = new Map(jobs.map((j) => [byJob(j), j.timezone]));
  const notes = runNotes(input.runs, (r) => zones.get(byJob(r)) ?? 'UTC', now);
  const runRow = (r: HistoryRun) => rowOf(r, notes.get(r.runId) ?? null);
  const pveStorages = new Map((input.evaluation.proxmox ?? []).map((p) => [p.agent, p.storages]));
  // Every job on this asset's chains (its own and the link jobs the gatherer added), for the derived copies' runbooks.
  const chainJobs = new Map(input.evaluation.jobs.filter((j) => !j.derivedVia).map((j) => [byJob(j), j]));
  return {
    generatedAt: new Date(now).toISOString(),
    serverJobsOnly: !jobs.some(isCopyJob),
    asset: input.asset,
    guestName: guestNames(input.evaluation).get(input.asset) ?? null,
    tier: state.tier,
    rpoMs: state.rpoMs,
    rtoMs: state.rtoMs,
    newestAt: iso(state.newest?.lastSuccess ?? null),
    ageMs: state.ageMs,
    rpoOk: state.rpoOk,
    badge: { copies: c.copies, media: c.media, offsite: c.offsite, ok: c.ok, missing: c.missing },
    risks: jobs.some(isCopyJob) ? riskReasons(state, now) : [],
    pending: pendingReasons(state, now),
    copies,
    snapshots: jobs.flatMap(snapshotRows),
    runs: input.runs.filter((r) => r.operation === 'backup').slice(0, HISTORY_ROWS).map(runRow),
    series: jobs.filter((j) => !j.derivedVia).map((j) => series(j, input.runs)),
    verifications: ops('verify').map(runRow),
    drills: ops('restore-test').map((r) => ({
      ...runRow(r),
      rtoOk: r.status === 'success' && r.durationMs !== null ? r.durationMs <= state.rtoMs : r.status === 'success' ? null : false,
    })),
    runbooks: jobs.flatMap((j, i) => {
      if (!isCopyJob(j)) return [];
      if (j.derivedVia) {
        const book = chainRunbook({ derived: j, jobs: chainJobs, facts, pveStorages: (a) => pveStorages.get(a), rtoMs: state.rtoMs });
        return [{ agent: j.agent, job: j.job, target: j.target.name, ...book }];
      }
      const snap = copies[i].snapshot;
      const listed = listedSnapshots(j);
      const book = restoreRunbook({
        driver: j.driver,
        agent: j.agent,
        job: j.job,
        asset: j.asset,
        restore: facts.get(byJob(j)) ?? null,
        // Where the tool tells verification states, the newest verified snapshot, never a failed one while another exists.
        ...(listed ? restoreSnapshot(listed) : { snapshot: snap ? { id: snap.id, time: Date.parse(snap.time) } : null }),
        target: j.target.name,
        pveStorages: pveStorages.get(j.agent),
      });
      return [{ agent: j.agent, job: j.job, target: j.target.name, ...book }];
    }),
    openIncidents: input.openIncidents
      .filter((i) => i.asset === input.asset)
      .map((i) => ({ id: i.id, severity: i.severity, title: i.title, since: new Date(i.since).toISOString(), acknowledged: i.ackedAt !== null })),
  };
}

function copyRow(j: JobView, rpoMs: number, now: number, runs: readonly HistoryRun[]): CopyRow {
  const snap = newestSnapshot(j, runs);
  const listed = listedSnapshots(j);
  return {
    ...(isCopyJob(j) ? {} : { serverJob: true as const }),
    ...(listed ? { verification: verificationSummary(listed) } : {}),
    agent: j.agent,
    job: j.job,
    driver: j.driver,
    target: j.target,
    schedule: j.schedule,
    nextRunAt: iso(nextDue(j.schedule, now, j.timezone)),
    lastSuccessAt: iso(j.lastSuccess),
    fresh: j.lastSuccess !== null && now - j.lastSuccess <= rpoMs,
    snapshot: snap ? { id: snap.id, time: new Date(snap.time).toISOString(), ageMs: now - snap.time, ...(listed ? { verified: snap.verified ?? null } : {}) } : null,
    snapshots: j.inventory ? j.inventory.times.length : null,
    ...(j.derivedVia ? { chain: { text: chainText(j.asset, j.derivedVia), hops: j.derivedVia.map((h) => ({ agent: h.agent, job: h.job, target: h.target })) } } : {}),
  };
}

/** The job's listing with each snapshot's verification state, when the tool tells them (PBS); else null. */
function listedSnapshots(j: JobView): SnapshotView[] | null {
  const states = j.inventory?.verified();
  if (!j.inventory || !states) return null;
  const ids = j.inventory.ids();
  return j.inventory.times.map((time, i) => ({ id: ids[i], time, ...(states[i] ? { verified: states[i]! } : {}) }));
}

function verificationSummary(listed: readonly SnapshotView[]): NonNullable<CopyRow['verification']> {
  const out = { ok: 0, failed: 0, unverified: 0 };
  let newestOk: SnapshotView | null = null;
  for (const s of listed) {
    if (s.verified === 'ok') {
      out.ok++;
      if (Number.isFinite(s.time) && (newestOk === null || s.time > newestOk.time)) newestOk = s;
    } else if (s.verified === 'failed') out.failed++;
    else out.unverified++;
  }
  return { ...out, newestOk: newestOk && { id: newestOk.id, time: new Date(newestOk.time).toISOString() } };
}

function snapshotRows(j: JobView): SnapshotRow[] {
  const listed = listedSnapshots(j);
  if (!listed) return [];
  return listed
    .filter((s) => Number.isFinite(s.time))
    .sort((a, b) => b.time - a.time)
    .slice(0, SNAPSHOT_ROWS)
    .map((s) => ({ agent: j.agent, job: j.job, target: j.target.name, id: s.id, time: new Date(s.time).toISOString(), verified: s.verified ?? null }));
}

/** What the tool listed at the target, else the snapshot id the newest good backup reported. */
export function newestSnapshot(j: JobView, runs: readonly HistoryRun[]): SnapshotView | null {
  const times = j.inventory?.times ?? [];
  let best = -1;
  for (let i = 0; i < times.length; i++) if (Number.isFinite(times[i]) && (best < 0 || times[i] > times[best])) best = i;
  if (best >= 0) {
    const verified = j.inventory!.verified()?.[best];
    return { id: j.inventory!.ids()[best], time: times[best], ...(verified ? { verified } : {}) };
  }
  const good = runs.find(
    (r) => r.agent === j.agent && r.job === j.job && r.operation === 'backup' && (r.status === 'success' || r.status === 'warning') && r.snapshotId !== null,
  );
  return good ? { id: good.snapshotId as string, time: good.finishedAt ?? good.startedAt } : null;
}

function series(j: JobView, runs: readonly HistoryRun[]): Series {
  const points = runs
    .filter((r) => r.agent === j.agent && r.job === j.job && r.operation === 'backup' && r.status !== 'running' && r.status !== 'skipped')
    .map((r) => ({ t: r.startedAt, durationMs: r.durationMs, bytesTotal: r.bytesTotal }))
    .reverse();
  return { label: `${j.agent}/${j.job} → ${j.target.name}`, points };
}

function rowOf(r: HistoryRun, note: string | null): RunRow {
  return {
    agent: r.agent,
    job: r.job,
    runId: r.runId,
    status: r.status,
    startedAt: new Date(r.startedAt).toISOString(),
    finishedAt: iso(r.finishedAt),
    durationMs: r.durationMs,
    bytesAdded: r.bytesAdded,
    bytesTotal: r.bytesTotal,
    exitCode: r.exitCode,
    error: r.error,
    hasLog: r.hasLog,
    note,
  };
}

/**
 * The attempts at one scheduled backup told as one story: "retry 2 of the 02:00 run", a failed
 * attempt "retried at 02:15: success", "catch-up for the 02:00 run". Runs are grouped by job and
 * the slot they served. Pure: `zoneOf` gives each run's job's time zone.
 */
export function runNotes(runs: readonly HistoryRun[], zoneOf: (r: HistoryRun) => string, now: number): Map<string, string> {
  const slots = groupBy(
    runs.filter((r) => r.operation === 'backup' && r.scheduledFor !== null && r.scheduledFor !== undefined),
    (r) => `${r.agent}\0${r.job}\0${r.scheduledFor}`,
  );
  const out = new Map<string, string>();
  for (const group of slots.values()) {
    group.sort((a, b) => (a.attempt ?? 1) - (b.attempt ?? 1) || a.startedAt - b.startedAt);
    group.forEach((r, i) => {
      const zone = zoneOf(r);
      const slot = `the ${localDateTime(r.scheduledFor!, zone)} run`;
      const parts: string[] = [];
      if (r.trigger === 'catch-up') parts.push(`catch-up for ${slot}, missed while the host or agent was down`);
      else if (r.trigger === 'retry' || (r.attempt ?? 1) > 1) parts.push(`attempt ${r.attempt ?? i + 1} at ${slot}`);
      const next = group[i + 1];
      if (next) parts.push(`retried at ${localDateTime(next.startedAt, zone)}: ${next.status}`);
      else if (r.retryAt !== null && r.retryAt !== undefined) {
        parts.push(r.retryAt > now ? `retry planned for ${localDateTime(r.retryAt, zone)}` : `the retry planned for ${localDateTime(r.retryAt, zone)} has not run`);
      }
      if (parts.length) out.set(r.runId, parts.join('; '));
    });
  }
  for (const r of runs) {
    if (!r.clockAheadMs) continue;
    const clock = `the agent's clock said ${localDateTime(r.startedAt + r.clockAheadMs, zoneOf(r))} (${humanDuration(r.clockAheadMs)} ${r.clockAheadMs > 0 ? 'ahead' : 'behind'})`;
    out.set(r.runId, out.has(r.runId) ? `${out.get(r.runId)}; ${clock}` : clock);
  }
  return out;
}
