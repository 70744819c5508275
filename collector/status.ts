import type { CollectorConfig } from './config';
import { rulesConfig, tierPolicies } from './config';
import type { Db } from './db';
import { createGatherer } from './evaluate/gather';
import type { InventoryView, PbsView, RunView } from './rules/types';
import type { RunStatus } from '../shared/protocol';

export interface StatusReport {
  generatedAt: string;
  agents: { name: string; lastSeen: string | null; version: string | null; hostname: string | null; source: string }[];
  jobs: StatusJob[];
  incidents: StatusIncident[];
  /** Proxmox Backup Server datastores, as each PBS agent last reported them. */
  datastores: StatusDatastore[];
}

export interface StatusDatastore {
  agent: string;
  name: string;
  /** The target its snapshots count at. */
  target: string;
  totalBytes: number | null;
  usedBytes: number | null;
  availBytes: number | null;
  /** PBS's own estimate of when it is full; null when it has none. */
  estimatedFullAt: string | null;
  gc: { startedAt: string | null; removedBytes: number | null; pendingBytes: number | null; stillBad: number | null } | null;
  error: string | null;
  maintenance: string | null;
  /** When the collector received the report. */
  updatedAt: string;
}

export interface StatusIncident {
  id: number;
  rule: string;
  severity: string;
  agent: string | null;
  job: string | null;
  asset: string | null;
  target: string | null;
  title: string;
  detail: string;
  since: string;
  openedAt: string;
  acknowledged: boolean;
}

type InventorySummary = NonNullable<StatusJob['inventory']>;

export interface StatusJob {
  agent: string;
  name: string;
  asset: string;
  tier: number;
  driver: string;
  /** 'maintenance': a server job keeping a target healthy (PBS GC, verify, prune, sync), no copy. */
  role: 'backup' | 'maintenance';
  target: { name: string; location: string; media: string };
  /** The job copies what this target holds (copies of copies); absent: a direct backup. */
  source?: { target: string };
  schedule: string;
  lastRun: LastRun | null;
  /** The newest run of each other operation: the tool's prune, integrity check, restore drill. */
  lastPrune: OperationSummary | null;
  lastVerify: OperationSummary | null;
  lastRestoreTest: OperationSummary | null;
  /**
   * What the tool listed at the target after the last backup or prune; `verification` counts its
   * snapshots by their last verification, when the tool says (PBS).
   */
  inventory: {
    snapshots: number;
    newest: string | null;
    oldest: string | null;
    updatedAt: string;
    verification?: { ok: number; failed: number; unverified: number };
  } | null;
}

export interface OperationSummary {
  status: LastRun['status'];
  startedAt: string;
  finishedAt: string | null;
  durationMs: number | null;
  files: number | null;
  bytesTotal: number | null;
  error: string | null;
}

export interface LastRun {
  runId: string;
  status: RunStatus | 'running';
  startedAt: string;
  finishedAt: string | null;
  exitCode: number | null;
  durationMs: number | null;
  bytesAdded: number | null;
  bytesTotal: number | null;
  files: number | null;
  snapshotId: string | null;
  /** Whether the run has a log tail: GET /api/v1/runs/:runId/log returns it (kept out of here, it is the bulk). */
  hasLog: boolean;
}

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

type IncidentRow = { id: number; rule: string; severity: string; agent: string | null; job: string | null; asset: string | null; target: string | null; title: string; detail: string; since: number; openedAt: number; ackedAt: number | null };

/**
 * GET /api/v1/status: every job's newest runs, inventory summary, agents and open incidents.
 * The jobs come from the gatherer the evaluator, the page and the metrics read (one read model:
 * its cache re-reads only the jobs that changed); the rest is this API's own shaping.
 */
export function createStatusReader(db: Db, config: CollectorConfig): (now: number) => StatusReport {
  const gatherer = createGatherer(db);
  const tiers = tierPolicies(config);
  const rules = rulesConfig(config);
  const agents = db.prepare<[], { name: string; lastSeen: number | null; version: string | null; hostname: string | null; source: string }>(
    `SELECT name, last_seen AS lastSeen, version, hostname, source FROM agents WHERE source <> 'removed' ORDER BY name`,
  );
  const openIncidents = db.prepare<[], IncidentRow>(
    `SELECT id, rule, severity, agent, job, asset, target, title, detail, since, opened_at AS openedAt, acked_at AS ackedAt
     FROM incidents WHERE resolved_at IS NULL
     ORDER BY CASE severity WHEN 'critical' THEN 0 WHEN 'warning' THEN 1 ELSE 2 END, opened_at`,
  );
  // A listing is summarized once per parsed inventory (the gatherer hands the same object until it changes).
  const summaries = new WeakMap<InventoryView, InventorySummary>();
  const summaryOf = (inv: InventoryView) => {
    let s = summaries.get(inv);
    if (!s) summaries.set(inv, (s = summarize(inv)));
    return s;
  };

  return (now) =>
    db.transaction((): StatusReport => {
      const input = gatherer.gather(tiers, rules);
      // Jobs as their agents declared them: copies of copies are the asset page's, not rows here.
      const jobs = input.jobs
        .filter((j) => !j.derivedVia)
        .sort((a, b) => (a.agent < b.agent ? -1 : a.agent > b.agent ? 1 : a.job < b.job ? -1 : a.job > b.job ? 1 : 0));
      return {
        generatedAt: new Date(now).toISOString(),
        agents: agents.all().map((a) => ({ ...a, lastSeen: iso(a.lastSeen) })),
        jobs: jobs.map((j): StatusJob => ({
          agent: j.agent,
          name: j.job,
          asset: j.asset,
          tier: j.tier,
          driver: j.driver,
          role: j.role ?? 'backup',
          target: { ...j.target },
          ...(j.sourceTarget !== undefined ? { source: { target: j.sourceTarget } } : {}),
          schedule: j.schedule,
          lastRun: j.lastBackup && lastRun(j.lastBackup),
          lastPrune: j.lastPrune && operation(j.lastPrune),
          lastVerify: j.lastVerify && operation(j.lastVerify),
          lastRestoreTest: j.lastRestoreTest && operation(j.lastRestoreTest),
          inventory: j.inventory && summaryOf(j.inventory),
        })),
        incidents: openIncidents
          .all()
          .map(({ since, openedAt, ackedAt, ...i }) => ({ ...i, since: iso(since)!, openedAt: iso(openedAt)!, acknowledged: ackedAt !== null })),
        datastores: (input.pbs ?? []).flatMap(datastores),
      };
    })();
}

function lastRun(r: RunView): LastRun {
  return {
    runId: r.runId,
    status: r.status as LastRun['status'],
    startedAt: iso(r.startedAt)!,
    finishedAt: iso(r.finishedAt),
    exitCode: r.exitCode ?? null,
    durationMs: r.durationMs,
    bytesAdded: r.bytesAdded,
    bytesTotal: r.bytesTotal,
    files: r.files ?? null,
    snapshotId: r.snapshotId ?? null,
    hasLog: r.hasLog ?? false,
  };
}

function operation(r: RunView): OperationSummary {
  return {
    status: r.status as LastRun['status'],
    startedAt: iso(r.startedAt)!,
    finishedAt: iso(r.finishedAt),
    durationMs: r.durationMs,
    files: r.files ?? null,
    bytesTotal: r.bytesTotal,
    error: r.error,
  };
}

function summarize(inv: InventoryView): InventorySummary {
  let newest = -Infinity;
  let oldest = Infinity;
  let count = 0;
  const states = { ok: 0, failed: 0, unverified: 0 };
  const verified = inv.verified();
  inv.times.forEach((t, i) => {
    if (!Number.isFinite(t)) return;
    count++;
    if (t > newest) newest = t;
    if (t < oldest) oldest = t;
    const state = verified?.[i] ?? null;
    if (state === 'ok') states.ok++;
    else if (state === 'failed') states.failed++;
    else states.unverified++;
  });
  const summary: InventorySummary = { snapshots: count, newest: count ? iso(newest) : null, oldest: count ? iso(oldest) : null, updatedAt: iso(inv.updatedAt)! };
  return states.ok + states.failed > 0 ? { ...summary, verification: states } : summary;
}

/** One PBS agent's datastores as the API shows them (the rules' view, times as ISO like every time here). */
function datastores(p: PbsView): StatusDatastore[] {
  return p.datastores.map((d) => ({
    agent: p.agent,
    name: d.name,
    target: d.target,
    totalBytes: d.totalBytes,
    usedBytes: d.usedBytes,
    availBytes: d.availBytes,
    estimatedFullAt: iso(d.estimatedFullAt),
    gc: d.gc && { startedAt: iso(d.gc.startedAt), removedBytes: d.gc.removedBytes, pendingBytes: d.gc.pendingBytes, stillBad: d.gc.stillBad },
    error: d.error,
    maintenance: d.maintenance,
    updatedAt: iso(p.updatedAt)!,
  }));
}
