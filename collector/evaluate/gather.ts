import type { Db } from '../db';
import type { AgentView, EvaluationInput, JobView, RulesConfig, RunView, Tier, TierPolicyView } from '../rules/types';

// Reads what the rules need from SQLite into plain data. The rules themselves never touch the
// database or the clock, so the page, the metrics and the alerter can share them.

export interface JobRow {
  agentId: number;
  agent: string;
  job: string;
  asset: string;
  tier: Tier;
  driver: string;
  targetName: string;
  targetLocation: 'onsite' | 'offsite';
  targetMedia: JobView['target']['media'];
  schedule: string;
  timezone: string | null;
  timeoutMs: number;
  retention: string;
  verify: string | null;
  restoreTest: string | null;
  knownSince: number;
}

interface RunRow {
  runId: string;
  operation: RunView['operation'];
  status: RunView['status'];
  startedAt: number;
  finishedAt: number | null;
  durationMs: number | null;
  bytesAdded: number | null;
  bytesTotal: number | null;
  error: string | null;
}

const RECENT = 21; // the newest backup (maybe running) plus 20 finished ones

export function createGatherer(db: Db) {
  const jobs = db.prepare<[], JobRow>(
    `SELECT j.agent_id AS agentId, a.name AS agent, j.name AS job, j.asset, j.tier, j.driver,
            j.target_name AS targetName, j.target_location AS targetLocation, j.target_media AS targetMedia,
            j.schedule, a.timezone, j.timeout_ms AS timeoutMs, j.retention, j.verify, j.restore_test AS restoreTest,
            j.created_at AS knownSince
     FROM jobs j JOIN agents a ON a.id = j.agent_id
     WHERE j.active = 1 AND a.source <> 'removed'`,
  );
  const runCols = `run_id AS runId, operation, status, started_at AS startedAt, finished_at AS finishedAt,
                   duration_ms AS durationMs, bytes_added AS bytesAdded, bytes_total AS bytesTotal, error`;
  const backups = db.prepare<[number, string, number], RunRow>(
    `SELECT ${runCols} FROM runs WHERE agent_id = ? AND job = ? AND operation = 'backup' ORDER BY started_at DESC LIMIT ?`,
  );
  // The newest verify, restore drill and prune, and the newest good backup, in one statement
  // (each branch one index seek): per-statement overhead dominates over thousands of jobs.
  const latest = (op: string, extra = '') =>
    `SELECT * FROM (SELECT ${runCols} FROM runs WHERE agent_id = @agentId AND job = @job AND operation = '${op}' ${extra} ORDER BY started_at DESC LIMIT 1)`;
  const others = db.prepare<[{ agentId: number; job: string }], RunRow & { good: number }>(
    [
      latest('verify'),
      latest('restore-test'),
      latest('prune'),
      `SELECT *, 1 AS good FROM (SELECT ${runCols} FROM runs WHERE agent_id = @agentId AND job = @job AND operation = 'backup' AND status IN ('success', 'warning') ORDER BY finished_at DESC LIMIT 1)`,
    ]
      .map((q, i) => (i < 3 ? q.replace('SELECT * FROM', 'SELECT *, 0 AS good FROM') : q))
      .join(' UNION ALL '),
  );
  // Read only for the jobs a pass evaluates: inventories are the largest rows.
  const inventory = db.prepare<[number, string, string], { snapshots: string; updatedAt: number }>(
    `SELECT snapshots, updated_at AS updatedAt FROM inventory WHERE agent_id = ? AND job = ? AND target = ?`,
  );
  const agents = db.prepare<[], { id: number; agent: string; lastSeen: number | null; heartbeatMs: number | null; facts: string | null }>(
    `SELECT a.id, a.name AS agent, a.last_seen AS lastSeen, a.heartbeat_ms AS heartbeatMs, h.facts
     FROM agents a LEFT JOIN host_facts h ON h.agent_id = a.id WHERE a.source <> 'removed'`,
  );
  const usage = db.prepare<[number, string], { at: number; usedBytes: number }>(
    `SELECT at, used_bytes AS usedBytes FROM fs_usage WHERE agent_id = ? AND mount = ? ORDER BY at`,
  );

  /**
   * Everything the rules read. With `wanted`, only those jobs get their runs and inventory read
   * (an incremental pass); the others come as light views (what they are, no history), enough
   * for the host rules, which only need each agent's tiers.
   */
  // Light views are rebuilt only when the job list itself changes (see Evaluator).
  const light = new WeakMap<JobRow, JobView>();
  const lightOf = (j: JobRow) => {
    let v = light.get(j);
    if (!v) light.set(j, (v = lightView(j)));
    return v;
  };

  /** The active jobs, as the rows `gather` takes. */
  const listJobs = (): JobRow[] => jobs.all();

  function gather(tiers: Record<Tier, TierPolicyView>, config: RulesConfig, rows: readonly JobRow[] = listJobs(), wanted?: (agent: string, job: string) => boolean): EvaluationInput {
    const jobViews = rows.map((j): JobView => {
      if (wanted && !wanted(j.agent, j.job)) return lightOf(j);
      const recent = backups.all(j.agentId, j.job, RECENT).map(view);
      const rest = others.all({ agentId: j.agentId, job: j.job });
      const inv = inventory.get(j.agentId, j.job, j.targetName);
      const newest = (op: string) => optional(rest.find((r) => r.good === 0 && r.operation === op));
      const schedules = { verify: parse<{ schedule: string }>(j.verify), restore: parse<{ schedule: string }>(j.restoreTest) };
      return {
        agent: j.agent,
        job: j.job,
        asset: j.asset,
        tier: j.tier,
        driver: j.driver,
        target: { name: j.targetName, location: j.targetLocation, media: j.targetMedia },
        schedule: j.schedule,
        timezone: j.timezone ?? 'UTC',
        timeoutMs: j.timeoutMs,
        retention: JSON.parse(j.retention),
        verifySchedule: schedules.verify?.schedule ?? null,
        restoreTestSchedule: schedules.restore?.schedule ?? null,
        knownSince: j.knownSince,
        lastBackup: recent[0] ?? null,
        lastSuccess: rest.find((r) => r.good === 1)?.finishedAt ?? null,
        recentBackups: recent.filter((r) => r.status !== 'running').slice(0, RECENT - 1),
        lastVerify: newest('verify'),
        lastRestoreTest: newest('restore-test'),
        lastPrune: newest('prune'),
        inventory: inv
          ? { snapshots: (JSON.parse(inv.snapshots) as { id: string; time: string }[]).map((s) => ({ id: s.id, time: Date.parse(s.time) })), updatedAt: inv.updatedAt }
          : null,
      };
    });
    const agentViews = agents.all().map((a): AgentView => {
      const facts = parse<HostFacts>(a.facts) ?? {};
      return {
        agent: a.agent,
        lastSeen: a.lastSeen,
        heartbeatMs: a.heartbeatMs ?? 60_000,
        clockOffsetMs: typeof facts.clockOffsetMs === 'number' ? facts.clockOffsetMs : null,
        filesystems: (facts.filesystems ?? []).map((f) => ({
          mount: f.mount,
          sizeBytes: f.sizeBytes,
          usedBytes: f.usedBytes,
          history: usage.all(a.id, f.mount),
        })),
        disks: (facts.disks ?? []).map((d) => ({ device: d.device, smartOk: d.smartOk ?? null, ...(d.detail ? { detail: d.detail } : {}) })),
      };
    });
    return { jobs: jobViews, agents: agentViews, tiers, config };
  }
  return { gather, listJobs };
}

function lightView(j: JobRow): JobView {
  return {
    agent: j.agent, job: j.job, asset: j.asset, tier: j.tier, driver: j.driver,
    target: { name: j.targetName, location: j.targetLocation, media: j.targetMedia },
    schedule: j.schedule, timezone: j.timezone ?? 'UTC', timeoutMs: j.timeoutMs, retention: {}, // host rules never read it
    verifySchedule: null, restoreTestSchedule: null, knownSince: j.knownSince,
    lastBackup: null, lastSuccess: null, recentBackups: [], lastVerify: null, lastRestoreTest: null, lastPrune: null, inventory: null,
  };
}

interface HostFacts {
  clockOffsetMs?: number;
  filesystems?: { mount: string; sizeBytes: number; usedBytes: number }[];
  disks?: { device: string; smartOk?: boolean | null; detail?: string }[];
}

const view = ({ runId, operation, status, startedAt, finishedAt, durationMs, bytesAdded, bytesTotal, error }: RunRow): RunView => ({
  runId, operation, status, startedAt, finishedAt, durationMs, bytesAdded, bytesTotal, error,
});
const optional = (r: RunRow | undefined): RunView | null => (r ? view(r) : null);

function parse<T>(json: string | null): T | null {
  if (json === null) return null;
  try {
    return JSON.parse(json) as T;
  } catch {
    return null;
  }
}
