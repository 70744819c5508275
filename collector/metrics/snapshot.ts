import { agentSilent } from '../rules/agent-silent';
import { assetStates } from '../rules/asset-state';
import { coverageCounts } from '../rules/proxmox';
import type { EvaluationInput, JobView, Severity } from '../rules/types';
import { nextDue } from '../rules/util';
import { boundLabel, labelText, SERIES_LIMITS, type SeriesLimits } from './bounds';
import { FAMILY_NAMES, METRIC_PREFIX, type FamilyName, type Labels, type Snapshot } from './families';

/** What the metrics are computed from: the rules' input plus what only the metrics show. */
export interface MetricsInput {
  evaluation: EvaluationInput;
  /** Open incidents per severity; missing severities count 0. */
  openIncidents: Partial<Record<Severity, number>>;
  /** Newest successful verify and restore drill per job (epoch ms), for jobs that had one. */
  lastGood: { agent: string; job: string; verify: number | null; restoreTest: number | null }[];
  /** The running collector's version. */
  version: string;
}

const SEVERITIES: readonly Severity[] = ['critical', 'warning', 'info'];
const seconds = (ms: number) => ms / 1000;

/**
 * Every family's samples at `now`, from the same pure functions the rules and the page use
 * (asset-state for RPO and 3-2-1, agent-silent for agent_up), so Grafana never disagrees with
 * an alert. Series beyond the limits are dropped and counted in metrics_series_dropped.
 */
export function metricsSnapshot(input: MetricsInput, now: number, limits: SeriesLimits = SERIES_LIMITS): Snapshot {
  const out = Object.fromEntries(FAMILY_NAMES.map((f) => [f, []])) as unknown as Snapshot;
  const dropped = new Map<FamilyName, number>();
  const drop = (family: FamilyName) => dropped.set(family, (dropped.get(family) ?? 0) + 1);
  const add = (family: FamilyName, labels: Labels, value: number) => {
    if (out[family].length >= limits.seriesPerFamily) drop(family);
    else out[family].push({ labels, value });
  };
  const { evaluation } = input;

  // Jobs mostly share a few schedules: compute each schedule's next run once per snapshot.
  const nextRuns = new Map<string, number | null>();
  const nextRun = (j: JobView) => {
    const key = `${j.schedule}\0${j.timezone}`;
    if (!nextRuns.has(key)) nextRuns.set(key, nextDue(j.schedule, now, j.timezone));
    return nextRuns.get(key)!;
  };
  const jobLabels = new Map<string, Labels>();
  for (const j of evaluation.jobs) {
    if (j.derivedVia) continue; // a copy of a copy has no runs: it counts in the asset's series below
    const labels = { agent: labelText(j.agent), backup_job: labelText(j.job), asset: labelText(j.asset), tier: String(j.tier), target: labelText(j.target.name) };
    jobLabels.set(`${j.agent}\0${j.job}`, labels);
    addJob(add, j, labels, nextRun(j));
  }
  for (const g of input.lastGood) {
    const labels = jobLabels.get(`${g.agent}\0${g.job}`);
    if (!labels) continue; // a retired job: its history is not a current fact
    if (g.verify !== null) add('verify_last_success_timestamp_seconds', labels, seconds(g.verify));
    if (g.restoreTest !== null) add('restore_drill_last_success_timestamp_seconds', labels, seconds(g.restoreTest));
  }

  for (const a of assetStates(evaluation, now)) {
    const labels = { asset: labelText(a.asset), tier: String(a.tier) };
    if (a.ageMs !== null) add('asset_rpo_age_seconds', labels, seconds(a.ageMs));
    add('asset_rpo_seconds', labels, seconds(a.rpoMs));
    add('asset_rto_seconds', labels, seconds(a.rtoMs));
    add('asset_rpo_ok', labels, a.rpoOk ? 1 : 0);
    add('asset_copies', labels, a.copies.copies);
    add('asset_media', labels, a.copies.media.length);
    add('asset_offsite_copies', labels, a.copies.offsite);
    add('asset_three_two_one_ok', labels, a.copies.ok ? 1 : 0);
  }

  const silent = new Set(agentSilent(evaluation, now).map((f) => f.agent));
  for (const a of evaluation.agents) {
    const agent = labelText(a.agent);
    const labels = { agent };
    if (a.lastSeen !== null) add('agent_last_seen_timestamp_seconds', labels, seconds(a.lastSeen));
    add('agent_up', labels, a.lastSeen !== null && !silent.has(a.agent) ? 1 : 0);
    // Mounts are cut to a bounded length; two that become equal would be one series, so the
    // second is dropped like any filesystem beyond the per-agent cap.
    const mounts = new Set<string>();
    for (const fs of a.filesystems) {
      const mount = boundLabel(labelText(fs.mount), limits.mountLength);
      if (mounts.size >= limits.filesystemsPerAgent || mounts.has(mount)) {
        drop('filesystem_size_bytes');
        drop('filesystem_used_bytes');
        continue;
      }
      mounts.add(mount);
      add('filesystem_size_bytes', { agent, mount }, fs.sizeBytes);
      add('filesystem_used_bytes', { agent, mount }, fs.usedBytes);
    }
    // Three series per ZFS pool: bounded by the pools agents report.
    for (const p of a.pools ?? []) {
      const pool = { agent, pool: labelText(p.name) };
      add('zfs_pool_size_bytes', pool, p.sizeBytes);
      add('zfs_pool_allocated_bytes', pool, p.allocBytes);
      add('zfs_pool_healthy', pool, p.health === 'ONLINE' && p.errors.read + p.errors.write + p.errors.checksum === 0 ? 1 : 0);
    }
  }

  // Three series per agent on a Proxmox VE host: the labels stay bounded by the agent count.
  for (const c of coverageCounts(evaluation, now)) {
    const agent = labelText(c.agent);
    add('proxmox_guests', { agent, state: 'total' }, c.total);
    add('proxmox_guests', { agent, state: 'tiered' }, c.tiered);
    add('proxmox_guests', { agent, state: 'covered' }, c.covered);
  }

  // A few series per datastore: bounded by the datastores PBS agents report (at most 1,000 each).
  for (const p of evaluation.pbs ?? []) {
    const agent = labelText(p.agent);
    for (const d of p.datastores) {
      const labels = { agent, datastore: labelText(d.name) };
      if (d.totalBytes !== null) add('pbs_datastore_size_bytes', labels, d.totalBytes);
      if (d.usedBytes !== null) add('pbs_datastore_used_bytes', labels, d.usedBytes);
      // An estimate in the past says "not filling up", not a date.
      if (d.estimatedFullAt !== null && d.estimatedFullAt > now) add('pbs_datastore_estimated_full_timestamp_seconds', labels, seconds(d.estimatedFullAt));
      add('pbs_datastore_up', labels, d.error === null ? 1 : 0);
    }
  }

  for (const severity of SEVERITIES) add('incidents_open', { severity }, input.openIncidents[severity] ?? 0);
  add('collector_build_info', { version: input.version }, 1);
  for (const family of FAMILY_NAMES) out.metrics_series_dropped.push({ labels: { family: METRIC_PREFIX + family }, value: dropped.get(family) ?? 0 });
  return out;
}

function addJob(add: (f: FamilyName, l: Labels, v: number) => void, j: JobView, labels: Labels, next: number | null): void {
  if (j.lastSuccess !== null) add('job_last_success_timestamp_seconds', labels, seconds(j.lastSuccess));
  const finished = j.recentBackups.at(0);
  if (finished) {
    if (finished.durationMs !== null) add('job_last_run_duration_seconds', labels, seconds(finished.durationMs));
    if (finished.bytesAdded !== null) add('job_last_run_added_bytes', labels, finished.bytesAdded);
    if (finished.bytesTotal !== null) add('job_last_run_size_bytes', labels, finished.bytesTotal);
  }
  add('job_last_run_status', { ...labels, status: j.lastBackup?.status ?? 'never' }, 1);
  if (next !== null) add('job_next_run_timestamp_seconds', labels, seconds(next));
  const drill = j.lastRestoreTest;
  if (drill && drill.finishedAt !== null && drill.durationMs !== null) add('restore_drill_duration_seconds', labels, seconds(drill.durationMs));
}
