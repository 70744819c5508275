import type { Db } from '../db';
import type { AgentView, EvaluationInput, InventoryView, JobView, RulesConfig, RunState, RunView, Tier, TierPolicyView, VerifyState } from '../rules/types';
import { memoByObject } from '../memo';
import { withDerivedCopies } from '../rules/derived-copies';
import { withVerifiedCopies } from '../rules/verified-copies';
import { hostView, parse, pbsView, proxmoxView, type HostView } from './agent-messages';
import { RECENT_BACKUPS } from './job-state';
import { decodeBackupColumns } from './job-state-codec';
import { parseKeys } from './job-state-store';
import { decodeVerified } from './verified-codec';

// Reads what the rules need from SQLite into plain data. The rules themselves never touch the
// database or the clock, so the page, the metrics and the alerter can share them.

// Whether a run has a log, as SQL: octet_length reads the row's header, not the log (up to 64 KB,
// on overflow pages) that `log_tail <> ''` or `IS NOT NULL` read whole (bench/README.md).
export const HAS_LOG = `coalesce(octet_length(log_tail), 0) > 0`;

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
  role: 'backup' | 'maintenance';
  /** The target the job copies (`source: { target }`); null: a direct backup. */
  sourceTarget: string | null;
  /** Its own grace (a check's); null: the collector's. */
  graceMs: number | null;
}

interface ContentRow {
  agentId: number;
  job: string;
  backups: Uint8Array | null;
  lastSuccess: number | null;
  lastVerify: string | null;
  lastRestoreTest: string | null;
  lastPrune: string | null;
  /** The inventory row's seq (null: no inventory): its snapshot list is read only when asked for. */
  invSeq: number | null;
  times: string | null;
  verified: string | null;
  invAt: number | null;
}

type RunRow = [number, string, RunView['operation'], RunView['status'], number, number | null, number | null, number | null, number | null, string | null, number | null, number | null, number | null, number | null, string | null, number];

/** What a job's history adds to its view. */
type History = Pick<JobView, 'lastBackup' | 'lastOutcome' | 'lastSuccess' | 'recentBackups' | 'lastVerify' | 'lastRestoreTest' | 'lastPrune' | 'inventory'>;

/** A job's history, kept until its job_state version moves. */
interface Cached {
  history: History;
  row: JobRow;
  view: JobView;
}

const keyOf = (agentId: number, job: string) => `${agentId}\0${job}`;
/** A backup whose status counts: finished, not skipped. */
const hasOutcome = (s: RunState) => s !== 'running' && s !== 'skipped';

// One gatherer per connection: its cache of parsed job history is shared by every caller
// (evaluator, page, metrics), so only jobs that changed since any of them last asked are parsed.
export const createGatherer = memoByObject(newGatherer);

function newGatherer(db: Db) {
  const jobs = db.prepare<[], JobRow>(
    `SELECT j.agent_id AS agentId, a.name AS agent, j.name AS job, j.asset, j.tier, j.driver,
            j.target_name AS targetName, j.target_location AS targetLocation, j.target_media AS targetMedia,
            j.schedule, a.timezone, j.timeout_ms AS timeoutMs, j.retention, j.verify, j.restore_test AS restoreTest,
            j.created_at AS knownSince, j.role, j.source_target AS sourceTarget, j.grace_ms AS graceMs
     FROM jobs j JOIN agents a ON a.id = j.agent_id
     WHERE j.active = 1 AND a.source <> 'removed'`,
  );
  // The job list changes only with a hello (it stamps every job it lists or retires) or an agent
  // removed: re-read when this moves. Sums, not the newest stamp or the count: two hellos can share
  // a millisecond, and an agent removed and another added (a new, higher id) leave the count alone.
  const jobsVersion = db.prepare<[], { n: number; active: number | null; stamps: number; agents: number }>(
    `SELECT count(*) AS n, sum(active) AS active, total(updated_at) AS stamps, (SELECT total(id) FROM agents WHERE source <> 'removed') AS agents FROM jobs`,
  );
  // Jobs whose runs or inventory changed since the highest version (row id) seen: a range of the table.
  const changedSince = db.prepare<[number], { agentId: number; job: string; version: number }>(
    `SELECT agent_id AS agentId, job, id AS version FROM job_state WHERE id > ?`,
  );
  // The runs views show in full, by row id (JSON [id, …]); the other kept backups' numbers come
  // with the state. Rows as arrays: over thousands of jobs, one object per run instead of two.
  const runs = db
    .prepare<[string], RunRow>(
      `SELECT id, run_id, operation, status, started_at, finished_at, duration_ms, bytes_added, bytes_total, error, retry_at, attempt,
              exit_code, files, snapshot_id, ${HAS_LOG}
       FROM runs WHERE id IN (SELECT value FROM json_each(?))`,
    )
    .raw(true);
  // State and inventory of the jobs given as JSON [[agentId, job, target], …], in one statement.
  const contents = db.prepare<[string], ContentRow>(
    `WITH k AS (SELECT json_extract(value, '$[0]') AS agentId, json_extract(value, '$[1]') AS job, json_extract(value, '$[2]') AS target FROM json_each(?))
     SELECT k.agentId, k.job, s.last_success AS lastSuccess, s.last_verify AS lastVerify, s.last_restore_test AS lastRestoreTest,
            s.last_prune AS lastPrune, s.backups, i.seq AS invSeq, i.times, i.verified, i.updated_at AS invAt
     FROM k LEFT JOIN job_state s ON s.agent_id = k.agentId AND s.job = k.job
            LEFT JOIN inventory i ON i.agent_id = k.agentId AND i.job = k.job AND i.target = k.target`,
  );
  // A listing's snapshot ids, only for the few findings and pages that print them (a pass needs
  // thousands of listings' times), pinned to the seq the times came with.
  const snapshotsOf = db
    .prepare<[number, string, string, number], string>(`SELECT snapshots FROM inventory WHERE agent_id = ? AND job = ? AND target = ? AND seq = ?`)
    .pluck();
  const listing = (l: ListingKey) => snapshotsOf.get(l.agentId, l.job, l.target, l.seq) ?? null;
  const agents = db.prepare<[], AgentRow>(
    `SELECT a.id AS agentId, a.name AS agent, a.last_seen AS lastSeen, a.heartbeat_ms AS heartbeatMs, h.seq AS factsSeq, h.updated_at AS factsAt,
            a.clock_skew_ms AS clockSkewMs, a.spool_rejected AS rejected, a.spool_lost AS lost, a.spool_error AS spoolError
     FROM agents a LEFT JOIN host_facts h ON h.agent_id = a.id WHERE a.source <> 'removed'`,
  );
  const usage = db.prepare<[number, string], { at: number; usedBytes: number }>(
    `SELECT at, used_bytes AS usedBytes FROM fs_usage WHERE agent_id = ? AND mount = ? ORDER BY at`,
  );
  // Each agent's host facts with their usage history, read again only when a host message replaced
  // them: a fleet has thousands of agents, and every gather wants them all (usage samples pruned
  // since are seen with the next message, as in the PBS views).
  const factsOf = db.prepare<[number], string>(`SELECT facts FROM host_facts WHERE agent_id = ?`).pluck();
  const hostsOf = versionedViews<AgentRow, HostView>(
    (a) => `${a.factsSeq}|${a.factsAt}`,
    (a) => hostView(factsOf.get(a.agentId) ?? null, (mount) => usage.all(a.agentId, mount)),
  );
  // Each agent's Proxmox and PBS views: versions first (one small row each), the body only when it moved.
  const messageViews = <V>(table: 'proxmox' | 'pbs', build: (v: VersionRow, body: string | null) => V | null) => {
    const versions = db.prepare<[], VersionRow>(
      `SELECT p.agent_id AS agentId, a.name AS agent, a.timezone, p.seq, p.updated_at AS updatedAt
       FROM ${table} p JOIN agents a ON a.id = p.agent_id WHERE a.source <> 'removed' ORDER BY a.name`,
    );
    const body = db.prepare<[number], string>(`SELECT body FROM ${table} WHERE agent_id = ?`).pluck();
    const views = versionedViews<VersionRow, V>(
      (v) => `${v.seq}|${v.updatedAt}|${v.agent}|${v.timezone}`,
      (v) => build(v, body.get(v.agentId) ?? null),
    );
    return () => views(versions.all()).filter((view): view is V => view !== null);
  };
  const proxmoxViews = messageViews('proxmox', (v, body) => proxmoxView(v.agent, v.timezone ?? 'UTC', body, v.updatedAt));
  const pbsViews = messageViews('pbs', (v, body) => pbsView(v.agent, body, v.updatedAt, (mount) => usage.all(v.agentId, mount)));

  // What a job is (from its catalog row) is rebuilt only when the job list is re-read.
  const staticOf = memoByObject(staticView);
  const cache = new Map<string, Cached>();
  // Full views made so far, and the last whole list handed out (see gather).
  let viewsMade = 0;
  let lastList: { rows: readonly JobRow[]; viewsMade: number; jobs: JobView[] } | null = null;
  let seenVersion = 0;
  let jobRows: JobRow[] = [];
  let jobsKey = '';

  /** The active jobs, as the rows `gather` takes (the same array while the job list is unchanged). */
  function listJobs(): JobRow[] {
    const v = jobsVersion.get()!;
    const key = `${v.n}|${v.active}|${v.stamps}|${v.agents}`;
    if (key !== jobsKey) {
      jobRows = jobs.all();
      jobsKey = key;
    }
    return jobRows;
  }

  /** Full views of these jobs: cached where nothing changed since, else read (two statements) and parsed. */
  function fullViews(rows: readonly JobRow[]): Map<JobRow, JobView> {
    for (const c of changedSince.all(seenVersion)) {
      cache.delete(keyOf(c.agentId, c.job));
      if (c.version > seenVersion) seenVersion = c.version;
    }
    const out = new Map<JobRow, JobView>();
    const missing = new Map<string, JobRow>();
    for (const row of rows) {
      const key = keyOf(row.agentId, row.job);
      const c = cache.get(key);
      // A job moved to another target has another inventory.
      if (!c || c.row.targetName !== row.targetName) missing.set(key, row);
      else out.set(row, c.row === row ? c.view : remember(key, row, c.history));
    }
    if (missing.size === 0) return out;
    // One statement for any number of jobs: a first pass reading all 10,000 by key measured the
    // same as a join over the whole jobs table (bench/evaluate.ts).
    const stored = contents.all(JSON.stringify([...missing.values()].map((j) => [j.agentId, j.job, j.targetName])));
    const columns = decodeBackupColumns(stored.map((r) => r.backups));
    // Per job, the runs its view shows in full: the newest backup and outcome, verify, drill, prune.
    const read = stored.map((r, i) => {
      const backups = columns[i];
      // A job without a state row reads as nulls all through (LEFT JOIN).
      const keys = parseKeys(r);
      const outcome = backups.indexOf(hasOutcome);
      const shown = [backups.length ? backups.id(0) : undefined, outcome >= 0 ? backups.id(outcome) : undefined, keys.lastVerify?.id, keys.lastRestoreTest?.id, keys.lastPrune?.id];
      return { r, backups, lastSuccess: keys.lastSuccess, shown };
    });
    const ids = [...new Set(read.flatMap((j) => j.shown).filter((id) => id !== undefined))];
    const byId = new Map<number, RunView>();
    for (const [id, runId, operation, status, startedAt, finishedAt, durationMs, bytesAdded, bytesTotal, error, retryAt, attempt, exitCode, files, snapshotId, hasLog] of ids.length ? runs.all(JSON.stringify(ids)) : []) {
      byId.set(id, { runId, operation, status, startedAt, finishedAt, durationMs, bytesAdded, bytesTotal, error, retryAt, attempt, exitCode, files, snapshotId, hasLog: hasLog === 1 });
    }
    for (const { r, backups, lastSuccess, shown } of read) {
      const key = keyOf(r.agentId, r.job);
      const row = missing.get(key)!;
      const [lastBackup, lastOutcome, lastVerify, lastRestoreTest, lastPrune] = shown.map((id) => (id === undefined ? null : (byId.get(id) ?? null)));
      const inventory = r.invSeq === null ? null : storedInventory({ agentId: r.agentId, job: r.job, target: row.targetName, seq: r.invSeq }, listing, r.times!, r.verified, r.invAt!);
      const recentBackups = backups.select((s) => s !== 'running', RECENT_BACKUPS);
      const history: History = { lastBackup, lastOutcome, lastSuccess, recentBackups, lastVerify, lastRestoreTest, lastPrune, inventory };
      out.set(row, remember(key, row, history));
    }
    return out;
  }

  function remember(key: string, row: JobRow, history: History): JobView {
    const view: JobView = { ...staticOf(row), ...history };
    cache.set(key, { history, row, view });
    viewsMade++;
    return view;
  }

  /**
   * Everything the rules read, of `rows` (default: every job). With `wanted`, only those jobs get
   * their history and inventory (an incremental pass); the others come as what they are, with no
   * history, enough for the host rules, which only need each agent's tiers. Without `hosts`, no
   * agent's view: an asset page shows none, and a fleet has thousands.
   */
  function gather(tiers: Record<Tier, TierPolicyView>, config: RulesConfig, { rows = listJobs(), wanted, hosts = true }: GatherOptions = {}): EvaluationInput {
    const full = fullViews(wanted ? rows.filter(wanted) : rows);
    // The whole job list in full (a full pass, the overview, the status), not some jobs of it
    // (an incremental pass, an asset page): only then are views of jobs left out of date.
    const whole = !wanted && rows === jobRows;
    if (whole && cache.size > rows.length) {
      for (const [key, c] of cache) if (!full.has(c.row)) cache.delete(key);
    }
    // Judged here once, for every reader: a snapshot that failed verification is no good copy
    // (every listing of an asset is among the full views: callers want whole assets), then the
    // copies of copies (an asset's own jobs and every link job: callers ask for them together).
    // A whole list in which no view changed is the same list again, so what the rules remember
    // per list (each asset's tier and copies) holds from one full pass or page to the next.
    let jobViews: JobView[];
    if (whole && lastList?.rows === rows && lastList.viewsMade === viewsMade) jobViews = lastList.jobs;
    else {
      jobViews = withDerivedCopies(withVerifiedCopies(rows.map((j) => full.get(j) ?? staticOf(j))));
      if (whole) lastList = { rows, viewsMade, jobs: jobViews };
    }
    return { jobs: jobViews, agents: hosts ? agentViews() : [], tiers, config, proxmox: proxmoxViews(), pbs: pbsViews() };
  }
  function agentViews(): AgentView[] {
    const agentRows = agents.all();
    const hostViews = hostsOf(agentRows);
    return agentRows.map((a, i): AgentView => {
      const { clockOffsetMs, ...host } = hostViews[i]!;
      return {
        agent: a.agent,
        lastSeen: a.lastSeen,
        heartbeatMs: a.heartbeatMs ?? 60_000,
        clockSkewMs: a.clockSkewMs ?? (clockOffsetMs === null ? null : -clockOffsetMs),
        ...(a.rejected || a.lost || a.spoolError ? { spool: { rejected: a.rejected ?? 0, lost: a.lost ?? 0, error: a.spoolError } } : {}),
        ...host,
      };
    });
  }

  // One read transaction: the job list, what changed and the history agree with each other.
  return { gather: db.transaction(gather), listJobs };
}

/**
 * Per agent, a view built from what it last sent, built again only when its version moves: the
 * returned function maps the rows of one read to their views (null: unreadable), in order.
 */
function versionedViews<R extends { agentId: number }, V>(version: (r: R) => string, build: (r: R) => V | null): (rows: readonly R[]) => (V | null)[] {
  const cache = new Map<number, { version: string; view: V | null }>();
  return (rows) => {
    const seen = new Set<number>();
    const out = rows.map((r) => {
      seen.add(r.agentId);
      const v = version(r);
      let c = cache.get(r.agentId);
      if (!c || c.version !== v) cache.set(r.agentId, (c = { version: v, view: build(r) }));
      return c.view;
    });
    for (const id of cache.keys()) if (!seen.has(id)) cache.delete(id);
    return out;
  };
}

/** What a job is, from its catalog row, with no history yet. */
function staticView(j: JobRow): JobView {
  const schedules = { verify: parse<{ schedule: string }>(j.verify), restore: parse<{ schedule: string }>(j.restoreTest) };
  return {
    agent: j.agent, job: j.job, asset: j.asset, tier: j.tier, driver: j.driver, ...(j.role === 'maintenance' ? { role: 'maintenance' as const } : {}),
    ...(j.sourceTarget !== null ? { sourceTarget: j.sourceTarget } : {}),
    ...(j.graceMs !== null ? { graceMs: j.graceMs } : {}),
    target: { name: j.targetName, location: j.targetLocation, media: j.targetMedia },
    schedule: j.schedule, timezone: j.timezone ?? 'UTC', timeoutMs: j.timeoutMs, retention: parse(j.retention) ?? {},
    verifySchedule: schedules.verify?.schedule ?? null, restoreTestSchedule: schedules.restore?.schedule ?? null, knownSince: j.knownSince,
    lastBackup: null, lastOutcome: null, lastSuccess: null, recentBackups: [], lastVerify: null, lastRestoreTest: null, lastPrune: null, inventory: null,
  };
}

/** Which listing a view's snapshot list is read from: pinned to the seq its times came with. */
type ListingKey = { agentId: number; job: string; target: string; seq: number };

/** A listing from its stored times; the snapshot list itself (`read`, null when replaced since) is read on first ask. */
function storedInventory(key: ListingKey, read: (key: ListingKey) => string | null, times: string, verified: string | null, updatedAt: number): InventoryView {
  const parsed = JSON.parse(times) as (number | null)[];
  // JSON has no NaN: an unparseable time was stored as null.
  return new StoredInventory(key, read, parsed.includes(null) ? parsed.map((t) => t ?? Number.NaN) : (parsed as number[]), verified, updatedAt);
}

// A class, not closures: a first pass keeps 10,000 of them.
class StoredInventory implements InventoryView {
  #ids?: readonly string[];
  #states?: readonly VerifyState[];
  constructor(
    private readonly key: ListingKey,
    private readonly read: (key: ListingKey) => string | null,
    readonly times: readonly number[],
    private readonly verifiedText: string | null,
    readonly updatedAt: number,
  ) {}

  ids(): readonly string[] {
    if (this.#ids) return this.#ids;
    const stored = this.read(this.key);
    return (this.#ids = stored === null ? this.times.map(() => '(a listing replaced since)') : (JSON.parse(stored) as { id: string }[]).map((s) => s.id));
  }

  verified(): readonly VerifyState[] | null {
    return this.verifiedText === null ? null : (this.#states ??= decodeVerified(this.verifiedText));
  }
}

type GatherOptions = { rows?: readonly JobRow[]; wanted?: (job: JobRow) => boolean; hosts?: boolean };

/** An agent's stored message, by its version. */
type VersionRow = { agentId: number; agent: string; timezone: string | null; seq: number; updatedAt: number };

interface AgentRow {
  agentId: number;
  agent: string;
  lastSeen: number | null;
  heartbeatMs: number | null;
  /** The stored host facts' version (null: none yet). */
  factsSeq: number | null;
  factsAt: number | null;
  /** Measured on each request (agent minus collector); older agents only report it in host facts. */
  clockSkewMs: number | null;
  rejected: number | null;
  lost: number | null;
  spoolError: string | null;
}

