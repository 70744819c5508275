import type { Db } from './db';
import type { RunStatus } from '../shared/protocol';

export interface StatusReport {
  generatedAt: string;
  agents: { name: string; lastSeen: string | null; version: string | null; hostname: string | null; source: string }[];
  jobs: StatusJob[];
  incidents: StatusIncident[];
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
  target: { name: string; location: string; media: string };
  schedule: string;
  lastRun: LastRun | null;
  /** The newest run of each other operation: the tool's prune, integrity check, restore drill. */
  lastPrune: OperationSummary | null;
  lastVerify: OperationSummary | null;
  lastRestoreTest: OperationSummary | null;
  /** What the tool listed at the target after the last backup or prune. */
  inventory: { snapshots: number; newest: string | null; oldest: string | null; updatedAt: string } | null;
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
  logTail: string | null;
}

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

interface JobRow {
  agent: string;
  name: string;
  asset: string;
  tier: number;
  driver: string;
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
  logTail: string | null;
}

/** Everything the status page and GET /api/v1/status show, as one plain object. */
export function getStatus(db: Db, now: number): StatusReport {
  const agents = db
    .prepare<[], { name: string; lastSeen: number | null; version: string | null; hostname: string | null; source: string }>(
      `SELECT name, last_seen AS lastSeen, version, hostname, source FROM agents WHERE source <> 'removed' ORDER BY name`,
    )
    .all()
    .map((a) => ({ ...a, lastSeen: iso(a.lastSeen) }));
  // The last run is the one that started last (runs_by_job index), whether finished or not.
  const rows = db
    .prepare<[], JobRow>(
      `SELECT a.name AS agent, j.name, j.asset, j.tier, j.driver, j.target_name AS targetName,
              j.target_location AS targetLocation, j.target_media AS targetMedia, j.schedule,
              r.run_id AS runId, r.status, r.started_at AS startedAt, r.finished_at AS finishedAt,
              r.exit_code AS exitCode, r.duration_ms AS durationMs, r.bytes_added AS bytesAdded,
              r.bytes_total AS bytesTotal, r.files, r.snapshot_id AS snapshotId, r.log_tail AS logTail
       FROM jobs j
       JOIN agents a ON a.id = j.agent_id
       LEFT JOIN runs r ON r.id = (
         SELECT id FROM runs WHERE agent_id = j.agent_id AND job = j.name AND operation = 'backup' ORDER BY started_at DESC, id DESC LIMIT 1)
       WHERE j.active = 1 AND a.source <> 'removed'
       ORDER BY a.name, j.name`,
    )
    .all();
  const others = new Map<string, OperationSummary>();
  for (const o of db
    .prepare<[], { agent: string; job: string; operation: string; status: LastRun['status']; startedAt: number; finishedAt: number | null; durationMs: number | null; files: number | null; bytesTotal: number | null; error: string | null }>(
      `SELECT a.name AS agent, r.job, r.operation, r.status, r.started_at AS startedAt, r.finished_at AS finishedAt,
              r.duration_ms AS durationMs, r.files, r.bytes_total AS bytesTotal, r.error
       FROM runs r JOIN agents a ON a.id = r.agent_id
       WHERE r.id IN (SELECT max(id) FROM runs WHERE operation <> 'backup' GROUP BY agent_id, job, operation)`,
    )
    .all()) {
    const { agent, job, operation, startedAt, finishedAt, ...rest } = o;
    others.set(`${agent}\0${job}\0${operation}`, { ...rest, startedAt: iso(startedAt)!, finishedAt: iso(finishedAt) });
  }
  const inventories = new Map<string, NonNullable<StatusJob['inventory']>>();
  for (const inv of db
    .prepare<[], { agent: string; job: string; snapshots: string; updatedAt: number }>(
      `SELECT a.name AS agent, i.job, i.snapshots, i.updated_at AS updatedAt FROM inventory i JOIN agents a ON a.id = i.agent_id`,
    )
    .all()) {
    const times = (JSON.parse(inv.snapshots) as { time: string }[]).map((x) => Date.parse(x.time)).filter(Number.isFinite);
    inventories.set(`${inv.agent}\0${inv.job}`, {
      snapshots: times.length,
      newest: times.length ? iso(Math.max(...times)) : null,
      oldest: times.length ? iso(Math.min(...times)) : null,
      updatedAt: iso(inv.updatedAt)!,
    });
  }
  const jobs = rows.map(
    (r): StatusJob => ({
      agent: r.agent,
      name: r.name,
      asset: r.asset,
      tier: r.tier,
      driver: r.driver,
      target: { name: r.targetName, location: r.targetLocation, media: r.targetMedia },
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
              logTail: r.logTail,
            },
      lastPrune: others.get(`${r.agent}\0${r.name}\0prune`) ?? null,
      lastVerify: others.get(`${r.agent}\0${r.name}\0verify`) ?? null,
      lastRestoreTest: others.get(`${r.agent}\0${r.name}\0restore-test`) ?? null,
      inventory: inventories.get(`${r.agent}\0${r.name}`) ?? null,
    }),
  );
  const incidents = db
    .prepare<[], { id: number; rule: string; severity: string; agent: string | null; job: string | null; asset: string | null; target: string | null; title: string; detail: string; since: number; openedAt: number; ackedAt: number | null }>(
      `SELECT id, rule, severity, agent, job, asset, target, title, detail, since, opened_at AS openedAt, acked_at AS ackedAt
       FROM incidents WHERE resolved_at IS NULL
       ORDER BY CASE severity WHEN 'critical' THEN 0 WHEN 'warning' THEN 1 ELSE 2 END, opened_at`,
    )
    .all()
    .map(({ since, openedAt, ackedAt, ...i }) => ({ ...i, since: iso(since)!, openedAt: iso(openedAt)!, acknowledged: ackedAt !== null }));
  return { generatedAt: new Date(now).toISOString(), agents, jobs, incidents };
}
