import type { IncidentRow } from '../incidents/types';
import { assetStates, type AssetState } from '../rules/asset-state';
import { coverageCounts, guestNames, type CoverageCounts } from '../rules/proxmox';
import type { AgentView, EvaluationInput, JobView, RunState, Tier } from '../rules/types';
import { isCopyJob, nextDue } from '../rules/util';
import { riskReasons } from './risk';

// The overview's view model: a pure function of the gathered input, the agents' identity,
// the open incidents and `now`. GET / renders it; GET /api/v1/overview returns it as is.

export interface AgentIdentity {
  name: string;
  hostname: string | null;
  version: string | null;
}

export interface OverviewInput {
  evaluation: EvaluationInput;
  agents: readonly AgentIdentity[];
  openIncidents: readonly IncidentRow[];
}

export interface Verdict {
  /** Every asset has a good off-site copy within its RPO and no drill says the RTO fails. */
  ok: boolean;
  text: string;
  assets: number;
  atRisk: number;
}

export interface CopyBadge {
  /** The original plus distinct targets with a fresh copy. */
  copies: number;
  media: string[];
  offsite: number;
  ok: boolean;
  missing: string[];
}

export interface LastRunSummary {
  status: RunState;
  job: string;
  /** When it finished, or started while running. */
  at: string;
}

/** What the overview row and the asset page both say of an asset. */
export interface AssetSummary {
  asset: string;
  /** The Proxmox guest's name for a `vm-<vmid>` / `ct-<vmid>` asset (agent text); null otherwise. */
  guestName: string | null;
  tier: Tier;
  rpoMs: number;
  rtoMs: number;
  newestAt: string | null;
  ageMs: number | null;
  rpoOk: boolean;
  badge: CopyBadge;
  /** Why it is not recoverable now; empty when it is. */
  risks: string[];
}

export interface AssetRow extends AssetSummary {
  /** The worst newest backup among the asset's jobs. */
  lastRun: LastRunSummary | null;
  nextRunAt: string | null;
  openIncidents: number;
}

export interface TierSection {
  tier: Tier;
  rpoMs: number;
  rtoMs: number;
  assets: AssetRow[];
}

export interface AgentRow {
  name: string;
  hostname: string | null;
  version: string | null;
  lastSeen: string | null;
  /** Missed more heartbeats than the agent-silent rule tolerates. */
  silent: boolean;
  filesystems: { mount: string; sizeBytes: number; usedBytes: number; usedPct: number }[];
}

/** One agent on a Proxmox VE host: how many of its guests have a tier and an enabled backup job. */
export interface ProxmoxRow extends Omit<CoverageCounts, 'updatedAt'> {
  updatedAt: string;
}

/** A Proxmox Backup Server datastore as the overview shows it. */
export interface DatastoreRow {
  name: string;
  target: string;
  totalBytes: number | null;
  usedBytes: number | null;
  /** Used share in percent (one decimal); null while PBS cannot read it. */
  usedPct: number | null;
  /** PBS's own estimate of when it is full; null when PBS has none or sees usage flat or declining. */
  estimatedFullAt: string | null;
  gc: { startedAt: string | null; removedBytes: number | null; pendingBytes: number | null } | null;
  error: string | null;
  maintenance: string | null;
}

/** A server job on a PBS (garbage collection, verify, prune, sync) and its newest run. */
export interface ServerJobRow {
  job: string;
  /** The datastore asset it keeps, `datastore-<store>`. */
  asset: string;
  driver: string;
  schedule: string;
  lastRun: { status: RunState; at: string; error: string | null } | null;
  nextRunAt: string | null;
}

/** One agent on a Proxmox Backup Server: its datastores and server jobs. */
export interface PbsRow {
  agent: string;
  /** When the collector received its datastores; null when only its jobs are known. */
  updatedAt: string | null;
  datastores: DatastoreRow[];
  jobs: ServerJobRow[];
}

export interface OverviewView {
  generatedAt: string;
  verdict: Verdict;
  counts: { assets: number; jobs: number; agents: number; openIncidents: Record<IncidentRow['severity'], number> };
  tiers: TierSection[];
  agents: AgentRow[];
  /** The coverage audit per agent on a Proxmox VE host (templates and excluded guests not counted); empty without one. */
  proxmox: ProxmoxRow[];
  /** Per agent on a Proxmox Backup Server: datastores and server jobs; empty without one. */
  pbs: PbsRow[];
}

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());
const TIERS: Tier[] = [1, 2, 3, 4];
// Worst first: the asset's summary shows the newest backup that needs attention.
const STATUS_RANK: Record<RunState, number> = { failure: 0, timeout: 0, warning: 1, running: 2, skipped: 3, success: 4 };
const SHOWN_REASONS = 3;

export function overviewView(input: OverviewInput, now: number): OverviewView {
  const { evaluation } = input;
  const incidentsByAsset = new Map<string, number>();
  for (const i of input.openIncidents) if (i.asset !== null) incidentsByAsset.set(i.asset, (incidentsByAsset.get(i.asset) ?? 0) + 1);
  const names = guestNames(evaluation);
  const rows = assetStates(evaluation, now)
    .map((s) => assetRow(s, names.get(s.asset) ?? null, incidentsByAsset.get(s.asset) ?? 0, now))
    .sort((a, b) => Number(a.risks.length === 0) - Number(b.risks.length === 0) || a.asset.localeCompare(b.asset));
  const openIncidents = { critical: 0, warning: 0, info: 0 };
  for (const i of input.openIncidents) openIncidents[i.severity]++;
  return {
    generatedAt: new Date(now).toISOString(),
    verdict: verdict(rows),
    counts: { assets: rows.length, jobs: evaluation.jobs.filter((j) => !j.derivedVia).length, agents: input.agents.length, openIncidents },
    tiers: TIERS.map((tier) => ({ tier, ...evaluation.tiers[tier], assets: rows.filter((r) => r.tier === tier) })),
    agents: agentRows(input.agents, evaluation, now),
    proxmox: coverageCounts(evaluation, now).map((c) => ({ ...c, updatedAt: new Date(c.updatedAt).toISOString() })),
    pbs: pbsRows(evaluation, now),
  };
}

/** Every agent with a PBS view or server jobs, by name. */
export function pbsRows(evaluation: EvaluationInput, now: number): PbsRow[] {
  const rows = new Map<string, PbsRow>();
  const row = (agent: string) => {
    let r = rows.get(agent);
    if (!r) rows.set(agent, (r = { agent, updatedAt: null, datastores: [], jobs: [] }));
    return r;
  };
  for (const p of evaluation.pbs ?? []) {
    const r = row(p.agent);
    r.updatedAt = iso(p.updatedAt);
    r.datastores = p.datastores.map((d) => ({
      name: d.name,
      target: d.target,
      totalBytes: d.totalBytes,
      usedBytes: d.usedBytes,
      usedPct: d.totalBytes && d.usedBytes !== null ? Math.round((d.usedBytes / d.totalBytes) * 1000) / 10 : null,
      estimatedFullAt: d.estimatedFullAt !== null && d.estimatedFullAt > now ? iso(d.estimatedFullAt) : null,
      gc: d.gc && { startedAt: iso(d.gc.startedAt), removedBytes: d.gc.removedBytes, pendingBytes: d.gc.pendingBytes },
      error: d.error,
      maintenance: d.maintenance,
    }));
  }
  for (const j of evaluation.jobs) {
    if (isCopyJob(j)) continue;
    const r = j.lastBackup;
    row(j.agent).jobs.push({
      job: j.job,
      asset: j.asset,
      driver: j.driver,
      schedule: j.schedule,
      lastRun: r && { status: r.status, at: new Date(r.finishedAt ?? r.startedAt).toISOString(), error: r.error },
      nextRunAt: iso(nextDue(j.schedule, now, j.timezone)),
    });
  }
  for (const r of rows.values()) r.jobs.sort((a, b) => a.job.localeCompare(b.job));
  return [...rows.values()].sort((a, b) => a.agent.localeCompare(b.agent));
}

export function verdict(rows: readonly Pick<AssetRow, 'asset' | 'risks'>[]): Verdict {
  const atRisk = rows.filter((r) => r.risks.length > 0);
  const n = rows.length;
  const assets = `${n} asset${n === 1 ? '' : 's'}`;
  if (n === 0) return { ok: false, text: 'No assets reported yet: nothing is known to be recoverable', assets: 0, atRisk: 0 };
  if (atRisk.length === 0) {
    return { ok: true, text: `${n === 1 ? 'The' : 'All'} ${assets} ${n === 1 ? 'is' : 'are'} recoverable: fresh off-site copies within RPO`, assets: n, atRisk: 0 };
  }
  const shown = atRisk.slice(0, SHOWN_REASONS).map((r) => `${r.asset} (${r.risks.join('; ')})`);
  const more = atRisk.length > SHOWN_REASONS ? ` and ${atRisk.length - SHOWN_REASONS} more` : '';
  return { ok: false, text: `${atRisk.length} of ${assets} at risk: ${shown.join(', ')}${more}`, assets: n, atRisk: atRisk.length };
}

function assetRow(s: AssetState, guestName: string | null, openIncidents: number, now: number): AssetRow {
  const c = s.copies;
  return {
    asset: s.asset,
    guestName,
    tier: s.tier,
    rpoMs: s.rpoMs,
    rtoMs: s.rtoMs,
    newestAt: iso(s.newest?.lastSuccess ?? null),
    ageMs: s.ageMs,
    rpoOk: s.rpoOk,
    badge: { copies: c.copies, media: c.media, offsite: c.offsite, ok: c.ok, missing: c.missing },
    lastRun: worstLastRun(s.jobs),
    nextRunAt: iso(nextExpected(s.jobs, now)),
    openIncidents,
    risks: riskReasons(s),
  };
}

function worstLastRun(jobs: readonly JobView[]): LastRunSummary | null {
  let worst: LastRunSummary | null = null;
  for (const j of jobs) {
    const r = j.lastBackup;
    if (!r) continue;
    const at = r.finishedAt ?? r.startedAt;
    if (worst === null || STATUS_RANK[r.status] < STATUS_RANK[worst.status] || (STATUS_RANK[r.status] === STATUS_RANK[worst.status] && at > Date.parse(worst.at))) {
      worst = { status: r.status, job: j.job, at: new Date(at).toISOString() };
    }
  }
  return worst;
}

/** The soonest next scheduled backup among the jobs, in each agent's zone. */
export function nextExpected(jobs: readonly JobView[], now: number): number | null {
  let soonest: number | null = null;
  for (const j of jobs) {
    const t = nextDue(j.schedule, now, j.timezone);
    if (t !== null && (soonest === null || t < soonest)) soonest = t;
  }
  return soonest;
}

function agentRows(agents: readonly AgentIdentity[], evaluation: EvaluationInput, now: number): AgentRow[] {
  const views = new Map<string, AgentView>(evaluation.agents.map((a) => [a.agent, a]));
  return agents.map((a) => {
    const v = views.get(a.name);
    const lastSeen = v?.lastSeen ?? null;
    const heartbeatMs = v?.heartbeatMs ?? 0;
    return {
      name: a.name,
      hostname: a.hostname,
      version: a.version,
      lastSeen: iso(lastSeen),
      // The agent-silent rule's test; an agent never heard from is not silent but "never seen".
      silent: lastSeen !== null && heartbeatMs > 0 && now - lastSeen > heartbeatMs * evaluation.config.silentHeartbeats,
      filesystems: (v?.filesystems ?? []).map((f) => ({
        mount: f.mount,
        sizeBytes: f.sizeBytes,
        usedBytes: f.usedBytes,
        usedPct: f.sizeBytes > 0 ? Math.round((f.usedBytes / f.sizeBytes) * 1000) / 10 : 0,
      })),
    };
  });
}
