import type { IncidentRow } from '../incidents/types';
import { assetStates, type AssetState } from '../rules/asset-state';
import { coverageCounts, guestNames, type CoverageCounts } from '../rules/proxmox';
import type { AgentView, EvaluationInput, JobView, RunState, Tier } from '../rules/types';
import { isCopyJob, nextDue } from '../rules/util';
import { pendingReasons, riskReasons } from './risk';

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
  /** What it still waits for (a new job's first run, seen less than an RPO ago): no risk yet. */
  pending?: string[];
}

/** One finished backup in an asset's strip of recent runs. */
export interface RecentRun {
  status: RunState;
  job: string;
  at: string;
}

export interface AssetRow extends AssetSummary {
  /** The worst newest backup among the asset's jobs. */
  lastRun: LastRunSummary | null;
  nextRunAt: string | null;
  openIncidents: number;
  /** The asset's newest finished backups over all its jobs, oldest first (up to RECENT_RUNS): the page's homelab rows only (the JSON stays lean). */
  recent?: RecentRun[];
  /** The agents running its jobs. */
  agents: string[];
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

/** The overview page's filter (query parameters ?tier=&agent=&name=&page=); empty strings: no filter. */
export interface OverviewQuery {
  tier: Tier | null;
  agent: string;
  name: string;
  /** 1-based page of the healthy assets. */
  page: number;
}

/**
 * A fleet (more than FLEET_ASSETS assets) or a filtered view: every at-risk asset matching the
 * filter, always; the healthy rest counted per tier and paged; the agents matching the filter,
 * silent ones first, up to PAGE_ROWS.
 */
export interface FleetView {
  query: OverviewQuery;
  atRisk: AssetRow[];
  healthy: { matching: number; page: number; pages: number; rows: AssetRow[] };
  tiers: { tier: Tier; rpoMs: number; rtoMs: number; assets: number; atRisk: number }[];
  agents: { matching: number; silent: number };
}

export interface OverviewView {
  generatedAt: string;
  /** Set on the page of a fleet or when a filter is given; `tiers[].assets` are empty then. */
  fleet?: FleetView;
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
/** Marks in an asset's strip of recent runs. */
export const RECENT_RUNS = 10;
/** Past this many assets the page leads with what is at risk and pages the healthy rest. */
export const FLEET_ASSETS = 300;
/** Healthy assets (and agents) per page in the fleet view. */
export const PAGE_ROWS = 100;

export const NO_FILTER: OverviewQuery = { tier: null, agent: '', name: '', page: 1 };
const filtered = (q: OverviewQuery) => q.tier !== null || q.agent !== '' || q.name !== '';

/**
 * What every overview of one moment shares, whatever the filter: each asset's state and risks
 * (sorted by tier and name), the agents' rows, counts and the verdict. The costly part at fleet
 * scale (a pass over every asset): the page keeps one for a few seconds (routes/pages.ts).
 */
export interface OverviewModel {
  now: number;
  evaluation: EvaluationInput;
  /** Every asset, by tier then name, with why it is at risk (empty: it is not). */
  assets: { s: AssetState; risks: string[]; pending: string[]; guest: string | null; lower: string }[];
  agents: AgentRow[];
  verdict: Verdict;
  base: Pick<OverviewView, 'generatedAt' | 'counts' | 'proxmox' | 'pbs'>;
  /** An asset's full row; `withRecent` adds its strip of recent runs. */
  toRow: (s: AssetState, withRecent?: boolean) => AssetRow;
}

export function overviewModel(input: OverviewInput, now: number): OverviewModel {
  const { evaluation } = input;
  const incidentsByAsset = new Map<string, number>();
  for (const i of input.openIncidents) if (i.asset !== null) incidentsByAsset.set(i.asset, (incidentsByAsset.get(i.asset) ?? 0) + 1);
  const names = guestNames(evaluation);
  const states = assetStates(evaluation, now);
  const openIncidents = { critical: 0, warning: 0, info: 0 };
  for (const i of input.openIncidents) openIncidents[i.severity]++;
  const assets = states
    .map((s) => ({ s, risks: riskReasons(s, now), pending: pendingReasons(s, now), guest: names.get(s.asset) ?? null, lower: s.asset.toLowerCase() }))
    .sort((a, b) => a.s.tier - b.s.tier || (a.s.asset < b.s.asset ? -1 : a.s.asset > b.s.asset ? 1 : 0));
  return {
    now,
    evaluation,
    assets,
    agents: agentRows(input.agents, evaluation, now),
    verdict: verdict(assets.map((a) => ({ asset: a.s.asset, risks: a.risks, pending: a.pending })).sort((a, b) => a.asset.localeCompare(b.asset))),
    base: {
      generatedAt: new Date(now).toISOString(),
      counts: { assets: states.length, jobs: evaluation.jobs.filter((j) => !j.derivedVia).length, agents: input.agents.length, openIncidents },
      proxmox: coverageCounts(evaluation, now).map((c) => ({ ...c, updatedAt: new Date(c.updatedAt).toISOString() })),
      pbs: pbsRows(evaluation, now),
    },
    toRow: (s, withRecent = false) => assetRow(s, names.get(s.asset) ?? null, incidentsByAsset.get(s.asset) ?? 0, now, withRecent),
  };
}

/**
 * The overview. Without `query` (the JSON API) every asset in full; with it (the page), past
 * FLEET_ASSETS assets or with a filter, the fleet view: full rows only for what is shown.
 */
export function overviewView(input: OverviewInput, now: number, query?: OverviewQuery): OverviewView {
  return viewOf(overviewModel(input, now), query);
}

/** One overview of a model: cheap (a filter over the sorted assets and a few hundred rows). */
export function viewOf(m: OverviewModel, query?: OverviewQuery): OverviewView {
  const tiers = m.evaluation.tiers;
  if (query && (m.assets.length > FLEET_ASSETS || filtered(query))) {
    // Silent ones first, else in the given order (by name); a stable sort keeps that order.
    const shownAgents = (query.agent === '' ? [...m.agents] : m.agents.filter((a) => matches(a.name, query.agent))).sort((a, b) => Number(b.silent) - Number(a.silent));
    return {
      ...m.base,
      fleet: fleetView(m.assets, m.agents, tiers, query, m.toRow),
      verdict: m.verdict,
      tiers: TIERS.map((tier) => ({ tier, ...tiers[tier], assets: [] })),
      agents: shownAgents.slice(0, PAGE_ROWS),
    };
  }
  const rows = m.assets.map((a) => m.toRow(a.s, query !== undefined)).sort((a, b) => Number(a.risks.length === 0) - Number(b.risks.length === 0) || a.asset.localeCompare(b.asset));
  return {
    ...m.base,
    verdict: m.verdict,
    tiers: TIERS.map((tier) => ({ tier, ...tiers[tier], assets: rows.filter((r) => r.tier === tier) })),
    agents: m.agents,
  };
}

const matches = (text: string, needle: string) => needle === '' || text.toLowerCase().includes(needle.toLowerCase());

/** The fleet view's selection: pure, given each asset's state and risks, sorted by tier and name. */
export function fleetView(
  assets: OverviewModel['assets'],
  agents: readonly AgentRow[],
  tierPolicies: EvaluationInput['tiers'],
  query: OverviewQuery,
  toRow: (s: AssetState) => AssetRow,
): FleetView {
  const name = query.name.toLowerCase();
  const hit = (a: OverviewModel['assets'][number]) =>
    (query.tier === null || a.s.tier === query.tier) &&
    (name === '' || a.lower.includes(name) || (a.guest !== null && a.guest.toLowerCase().includes(name))) &&
    (query.agent === '' || a.s.jobs.some((j) => matches(j.agent, query.agent)));
  const tiers = TIERS.map((tier) => ({ tier, ...tierPolicies[tier], assets: 0, atRisk: 0 }));
  const risky: AssetState[] = [];
  const healthy: AssetState[] = [];
  for (const a of assets) {
    const t = tiers[a.s.tier - 1];
    t.assets++;
    if (a.risks.length) t.atRisk++;
    if (hit(a)) (a.risks.length ? risky : healthy).push(a.s);
  }
  const pages = Math.max(1, Math.ceil(healthy.length / PAGE_ROWS));
  const page = Math.min(Math.max(1, Math.floor(query.page) || 1), pages);
  return {
    query: { ...query, page },
    atRisk: risky.map((s) => toRow(s)),
    healthy: { matching: healthy.length, page, pages, rows: healthy.slice((page - 1) * PAGE_ROWS, page * PAGE_ROWS).map((s) => toRow(s)) },
    tiers,
    agents: { matching: query.agent === '' ? agents.length : agents.filter((a) => matches(a.name, query.agent)).length, silent: agents.filter((a) => a.silent).length },
  };
}

/** Reads the page's query parameters; anything unreadable is no filter (a page is never an error). */
export function parseOverviewQuery(q: Record<string, unknown>): OverviewQuery {
  const str = (v: unknown) => (typeof v === 'string' ? v.trim().slice(0, 200) : '');
  const tier = Number(str(q.tier));
  const page = Number(str(q.page));
  return {
    tier: tier === 1 || tier === 2 || tier === 3 || tier === 4 ? tier : null,
    agent: str(q.agent),
    name: str(q.name),
    page: Number.isInteger(page) && page > 0 ? page : 1,
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

export function verdict(rows: readonly Pick<AssetRow, 'asset' | 'risks' | 'pending'>[]): Verdict {
  const atRisk = rows.filter((r) => r.risks.length > 0);
  const n = rows.length;
  const assets = `${n} asset${n === 1 ? '' : 's'}`;
  if (n === 0) return { ok: false, text: 'No assets reported yet: nothing is known to be recoverable', assets: 0, atRisk: 0 };
  const waiting = atRisk.length === 0 ? rows.filter((r) => r.pending?.length) : [];
  if (waiting.length > 0) {
    // Not red for what has only not happened yet, and not "all recoverable" either.
    const shown = waiting.slice(0, SHOWN_REASONS).map((r) => `${r.asset} (${r.pending!.join('; ')})`);
    const more = waiting.length > SHOWN_REASONS ? ` and ${waiting.length - SHOWN_REASONS} more` : '';
    return { ok: true, text: `No asset at risk; ${waiting.length} of ${assets} awaiting a first copy: ${shown.join(', ')}${more}`, assets: n, atRisk: 0 };
  }
  if (atRisk.length === 0) {
    return { ok: true, text: `${n === 1 ? 'The' : 'All'} ${assets} ${n === 1 ? 'is' : 'are'} recoverable: fresh off-site copies within RPO`, assets: n, atRisk: 0 };
  }
  const shown = atRisk.slice(0, SHOWN_REASONS).map((r) => `${r.asset} (${r.risks.join('; ')})`);
  const more = atRisk.length > SHOWN_REASONS ? ` and ${atRisk.length - SHOWN_REASONS} more` : '';
  return { ok: false, text: `${atRisk.length} of ${assets} at risk: ${shown.join(', ')}${more}`, assets: n, atRisk: atRisk.length };
}

function assetRow(s: AssetState, guestName: string | null, openIncidents: number, now: number, withRecent: boolean): AssetRow {
  const c = s.copies;
  const pending = pendingReasons(s, now);
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
    risks: riskReasons(s, now),
    ...(pending.length ? { pending } : {}),
    ...(withRecent ? { recent: recentRuns(s.jobs) } : {}),
    agents: [...new Set(s.jobs.map((j) => j.agent))].sort(),
  };
}

/** The newest RECENT_RUNS finished backups over the jobs (running ones have no outcome yet), oldest first. */
export function recentRuns(jobs: readonly JobView[]): RecentRun[] {
  const all: RecentRun[] = [];
  for (const j of jobs) {
    if (j.derivedVia) continue;
    for (let i = 0; i < Math.min(RECENT_RUNS, j.recentBackups.length); i++) {
      const r = j.recentBackups.at(i)!;
      if (r.status === 'running') continue;
      all.push({ status: r.status, job: j.job, at: new Date(r.finishedAt ?? r.startedAt).toISOString() });
    }
  }
  return all.sort((a, b) => (a.at < b.at ? 1 : a.at > b.at ? -1 : 0)).slice(0, RECENT_RUNS).reverse();
}

// Mounts that hold no data of the operator's: kernel and runtime trees, snap images, container
// layers. The agent drops them by filesystem type (agent/host-facts.ts); the page drops them by
// path too, for agents of older versions and hosts whose types it does not know.
const PSEUDO_MOUNTS = ['/proc', '/sys', '/dev', '/run', '/snap', '/var/lib/docker', '/var/lib/containers', '/var/lib/snapd', '/var/lib/kubelet'];

/** The filesystems worth showing in the disk list: a size, no pseudo or container mounts. */
export function shownFilesystems<F extends { mount: string; sizeBytes: number }>(fs: readonly F[]): F[] {
  const under = (m: string, d: string) => m === d || m.startsWith(`${d}/`);
  // udisks mounts removable disks under /run/media: real disks.
  return fs.filter((f) => f.sizeBytes > 0 && (under(f.mount, '/run/media') || !PSEUDO_MOUNTS.some((d) => under(f.mount, d))));
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
      filesystems: shownFilesystems(v?.filesystems ?? []).map((f) => ({
        mount: f.mount,
        sizeBytes: f.sizeBytes,
        usedBytes: f.usedBytes,
        usedPct: f.sizeBytes > 0 ? Math.round((f.usedBytes / f.sizeBytes) * 1000) / 10 : 0,
      })),
    };
  });
}
