import type { Db } from './db';
import type { PbsMessage, RunStatus } from '../shared/protocol';

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

interface JobRow {
  agent: string;
  name: string;
  asset: string;
  tier: number;
  driver: string;
  role: StatusJob['role'];
  sourceTarget: string | null;
  targetName: string;
  targetLocation: string;
  targetMedia: string;
  schedule: string;
  runId: string | null;
  status: LastRun['status'];
  startedAt: number;
  finishedAt: number | null;
  exitCode: number | null;
  durationMs: number | null;
  bytesAdded: number | null;
  bytesTotal: number | null;
  files: number | null;
  snapshotId: string | null;
  hasLog: number;
}

type OtherRow = { agent: string; job: string; operation: string; status: LastRun['status']; startedAt: number; finishedAt: number | null; durationMs: number | null; files: number | null; bytesTotal: number | null; error: string | null };
type IncidentRow = { id: number; rule: string; severity: string; agent: string | null; job: string | null; asset: string | null; target: string | null; title: string; detail: string; since: number; openedAt: number; ackedAt: number | null };
type InventorySummary = NonNullable<StatusJob['inventory']>;

/**
 * GET /api/v1/status: every job's newest runs, inventory summary, agents and open incidents.
 * Statements are prepared once; an inventory is re-summarized only when it changed.
 */
export function createStatusReader(db: Db): (now: number) => StatusReport {
  const agents = db.prepare<[], { name: string; lastSeen: number | null; version: string | null; hostname: string | null; source: string }>(
    `SELECT name, last_seen AS lastSeen, version, hostname, source FROM agents WHERE source <> 'removed' ORDER BY name`,
  );
  // The last run is the one that started last (runs_by_job index), whether finished or not.
  const jobs = db.prepare<[], JobRow>(
    `SELECT a.name AS agent, j.name, j.asset, j.tier, j.driver, j.role, j.source_target AS sourceTarget, j.target_name AS targetName,
            j.target_location AS targetLocation, j.target_media AS targetMedia, j.schedule,
            r.run_id AS runId, r.status, r.started_at AS startedAt, r.finished_at AS finishedAt,
            r.exit_code AS exitCode, r.duration_ms AS durationMs, r.bytes_added AS bytesAdded,
            r.bytes_total AS bytesTotal, r.files, r.snapshot_id AS snapshotId, (r.log_tail IS NOT NULL AND r.log_tail <> '') AS hasLog
     FROM jobs j
     JOIN agents a ON a.id = j.agent_id
     LEFT JOIN runs r ON r.id = (
       SELECT id FROM runs WHERE agent_id = j.agent_id AND job = j.name AND operation = 'backup' ORDER BY started_at DESC, id DESC LIMIT 1)
     WHERE j.active = 1 AND a.source <> 'removed'
     ORDER BY a.name, j.name`,
  );
  // The newest of each other operation per job: one index seek each (runs_by_job), never a scan of all runs.
  const others = db.prepare<[], OtherRow>(
    `SELECT a.name AS agent, r.job, r.operation, r.status, r.started_at AS startedAt, r.finished_at AS finishedAt,
            r.duration_ms AS durationMs, r.files, r.bytes_total AS bytesTotal, r.error
     FROM jobs j JOIN agents a ON a.id = j.agent_id
     CROSS JOIN (SELECT 'prune' AS op UNION ALL SELECT 'verify' UNION ALL SELECT 'restore-test') o
     JOIN runs r ON r.id = (SELECT id FROM runs WHERE agent_id = j.agent_id AND job = j.name AND operation = o.op ORDER BY started_at DESC, id DESC LIMIT 1)
     WHERE j.active = 1 AND a.source <> 'removed'`,
  );
  const inventoryVersions = db.prepare<[], { agentId: number; agent: string; job: string; target: string; seq: number; updatedAt: number }>(
    `SELECT i.agent_id AS agentId, a.name AS agent, i.job, i.target, i.seq, i.updated_at AS updatedAt FROM inventory i JOIN agents a ON a.id = i.agent_id`,
  );
  const inventorySnapshots = db.prepare<[number, string, string], { snapshots: string }>(
    'SELECT snapshots FROM inventory WHERE agent_id = ? AND job = ? AND target = ?',
  );
  const openIncidents = db.prepare<[], IncidentRow>(
    `SELECT id, rule, severity, agent, job, asset, target, title, detail, since, opened_at AS openedAt, acked_at AS ackedAt
     FROM incidents WHERE resolved_at IS NULL
     ORDER BY CASE severity WHEN 'critical' THEN 0 WHEN 'warning' THEN 1 ELSE 2 END, opened_at`,
  );
  const pbs = db.prepare<[], { agent: string; body: string; updatedAt: number }>(
    `SELECT a.name AS agent, p.body, p.updated_at AS updatedAt FROM pbs p JOIN agents a ON a.id = p.agent_id WHERE a.source <> 'removed' ORDER BY a.name`,
  );
  // Parsing every inventory (up to hundreds of snapshots each) on every request was the bulk of the time.
  const summaries = new Map<string, { version: string; summary: InventorySummary }>();

  function inventories(): Map<string, InventorySummary> {
    const out = new Map<string, InventorySummary>();
    for (const inv of inventoryVersions.all()) {
      const key = `${inv.agent}\0${inv.job}`;
      const version = `${inv.target}\0${inv.seq}\0${inv.updatedAt}`;
      let cached = summaries.get(key);
      if (cached?.version !== version) {
        const { snapshots } = inventorySnapshots.get(inv.agentId, inv.job, inv.target)!;
        cached = { version, summary: summarize(snapshots, inv.updatedAt) };
        summaries.set(key, cached);
      }
      out.set(key, cached.summary);
    }
    return out;
  }

  return (now) =>
    db.transaction((): StatusReport => {
      const operations = new Map<string, OperationSummary>();
      for (const { agent, job, operation, startedAt, finishedAt, ...rest } of others.all()) {
        operations.set(`${agent}\0${job}\0${operation}`, { ...rest, startedAt: iso(startedAt)!, finishedAt: iso(finishedAt) });
      }
      const inv = inventories();
      return {
        generatedAt: new Date(now).toISOString(),
        agents: agents.all().map((a) => ({ ...a, lastSeen: iso(a.lastSeen) })),
        jobs: jobs.all().map((r): StatusJob => ({
          agent: r.agent,
          name: r.name,
          asset: r.asset,
          tier: r.tier,
          driver: r.driver,
          role: r.role,
          target: { name: r.targetName, location: r.targetLocation, media: r.targetMedia },
          ...(r.sourceTarget !== null ? { source: { target: r.sourceTarget } } : {}),
          schedule: r.schedule,
          lastRun:
            r.runId === null
              ? null
              : {
                  runId: r.runId,
                  status: r.status,
                  startedAt: iso(r.startedAt)!,
                  finishedAt: iso(r.finishedAt),
                  exitCode: r.exitCode,
                  durationMs: r.durationMs,
                  bytesAdded: r.bytesAdded,
                  bytesTotal: r.bytesTotal,
                  files: r.files,
                  snapshotId: r.snapshotId,
                  hasLog: r.hasLog === 1,
                },
          lastPrune: operations.get(`${r.agent}\0${r.name}\0prune`) ?? null,
          lastVerify: operations.get(`${r.agent}\0${r.name}\0verify`) ?? null,
          lastRestoreTest: operations.get(`${r.agent}\0${r.name}\0restore-test`) ?? null,
          inventory: inv.get(`${r.agent}\0${r.name}`) ?? null,
        })),
        incidents: openIncidents
          .all()
          .map(({ since, openedAt, ackedAt, ...i }) => ({ ...i, since: iso(since)!, openedAt: iso(openedAt)!, acknowledged: ackedAt !== null })),
        datastores: pbs.all().flatMap((p) => datastores(p.agent, p.body, p.updatedAt)),
      };
    })();
}

function summarize(snapshotsJson: string, updatedAt: number): InventorySummary {
  let newest = -Infinity;
  let oldest = Infinity;
  let count = 0;
  const states = { ok: 0, failed: 0, unverified: 0 };
  for (const x of JSON.parse(snapshotsJson) as { time: string; verified?: string }[]) {
    const t = Date.parse(x.time);
    if (!Number.isFinite(t)) continue;
    count++;
    if (t > newest) newest = t;
    if (t < oldest) oldest = t;
    if (x.verified === 'ok') states.ok++;
    else if (x.verified === 'failed') states.failed++;
    else states.unverified++;
  }
  const summary: InventorySummary = { snapshots: count, newest: count ? iso(newest) : null, oldest: count ? iso(oldest) : null, updatedAt: iso(updatedAt)! };
  return states.ok + states.failed > 0 ? { ...summary, verification: states } : summary;
}

/** One PBS agent's stored 'pbs' message as the API shows it (agent text as sent: JSON escapes it). */
function datastores(agent: string, body: string, updatedAt: number): StatusDatastore[] {
  let m: Pick<PbsMessage, 'datastores'>;
  try {
    m = JSON.parse(body) as Pick<PbsMessage, 'datastores'>;
  } catch {
    return [];
  }
  return (m.datastores ?? []).map((d) => ({
    agent,
    name: d.name,
    target: d.target,
    totalBytes: d.totalBytes ?? null,
    usedBytes: d.usedBytes ?? null,
    availBytes: d.availBytes ?? null,
    estimatedFullAt: d.estimatedFullAt ?? null,
    gc: d.gc ? { startedAt: d.gc.startedAt ?? null, removedBytes: d.gc.removedBytes ?? null, pendingBytes: d.gc.pendingBytes ?? null, stillBad: d.gc.stillBad ?? null } : null,
    error: d.error ?? null,
    maintenance: d.maintenance ?? null,
    updatedAt: iso(updatedAt)!,
  }));
}
