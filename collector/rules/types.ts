import type { Retention } from '../../shared/retention-policy';

// The rules' input model: plain data filled from SQLite by the evaluator, times as epoch ms.
// Rules read nothing else (no clock, no I/O), so every decision is a table-testable function.

export type Severity = 'critical' | 'warning' | 'info';
export type Tier = 1 | 2 | 3 | 4;

export type RuleName =
  | 'missed-run'
  | 'running-too-long'
  | 'failed-run'
  | 'backup-warning'
  | 'prune-failed'
  | 'rpo'
  | 'rpo-target'
  | 'retention-short'
  | 'retention-not-pruned'
  | 'retention-unknown-semantics'
  | 'verify-failed'
  | 'verify-overdue'
  | 'restore-drill-failed'
  | 'restore-drill-slow'
  | 'restore-drill-overdue'
  | 'capacity'
  | 'capacity-forecast'
  | 'smart'
  | 'agent-silent'
  | 'clock-skew'
  | 'cannot-spool'
  | 'reports-set-aside'
  | 'size-anomaly'
  | 'duration-anomaly'
  | 'three-two-one'
  | 'guest-untiered'
  | 'guest-not-covered'
  | 'guest-schedule-too-slow'
  | 'storage-undeclared'
  | 'stale-snapshot'
  | 'datastore-unavailable'
  | 'snapshot-verify-failed'
  | 'copy-chain-broken'
  | 'copy-chain-cycle'
  | 'zfs-pool'
  | 'zfs-pool-capacity'
  // Not a rule over the agents' reports: the collector's own outbox (notify/channel-health.ts).
  | 'notify-channel-failing';

export interface TierPolicyView {
  /** Recovery point objective: the oldest a good copy may be. */
  rpoMs: number;
  /** Recovery time objective: the longest a restore may take. */
  rtoMs: number;
}

export type RunOperation = 'backup' | 'prune' | 'verify' | 'restore-test';
export type RunState = 'running' | 'success' | 'warning' | 'failure' | 'timeout' | 'skipped';

export interface RunView {
  /** The agent's run id (uuid). */
  runId: string;
  /** What the run did. */
  operation: RunOperation;
  /** 'running' until the agent reports the result. */
  status: RunState;
  /** When the run started (agent clock). */
  startedAt: number;
  /** When it finished; null while running. */
  finishedAt: number | null;
  /** Wall time of the run; null while running. */
  durationMs: number | null;
  /** Bytes the run added to the repository, when the tool says. */
  bytesAdded: number | null;
  /** Size of the snapshot/archive/dump, when the tool says. */
  bytesTotal: number | null;
  /** The tool's error text, when it failed. */
  error: string | null;
  /** A failed attempt whose retry the agent planned: when the next attempt runs. */
  retryAt?: number | null;
  /** Which attempt at its scheduled slot this was (1 = the scheduled run). */
  attempt?: number | null;
  // What only the status API shows of a run (the gatherer reads them with the rest).
  exitCode?: number | null;
  files?: number | null;
  snapshotId?: string | null;
  /** Whether a log tail is kept for it (GET /api/v1/runs/:runId/log). */
  hasLog?: boolean;
}

/** What the rules compare of a past backup: its outcome and numbers (no ids or texts). */
export type BackupSummary = Pick<RunView, 'status' | 'startedAt' | 'finishedAt' | 'durationMs' | 'bytesAdded' | 'bytesTotal'>;

/** Past backups, newest first, read by index and iteration only: the gatherer keeps them as columns, not objects. */
export type BackupSummaries = Pick<readonly BackupSummary[], 'length' | 'at' | typeof Symbol.iterator>;

export interface TargetView {
  /** Target name from the agent config. */
  name: string;
  /** Whether the copy leaves the site. */
  location: 'onsite' | 'offsite';
  /** Media kind, for the "2 media" part of 3-2-1. */
  media: 'disk' | 'usb' | 'nas' | 'pbs' | 'cloud' | 'tape';
}

/** One hop of a chain of copies: the job that made the copy at `target`. */
export interface ChainHop {
  agent: string;
  job: string;
  driver: string;
  target: TargetView;
}

/** A snapshot's last verification (PBS verify): null when never verified or the tool cannot say. */
export type VerifyState = 'ok' | 'failed' | null;

/** The snapshots a tool listed at a target: times for the rules, ids only when a text names one. */
export interface InventoryView {
  /** When the tool listed them. */
  updatedAt: number;
  /** Each snapshot's time (ms), in the tool's order. */
  times: readonly number[];
  /** Each snapshot's id, in the same order (parsed on first use: thousands of jobs, few findings). */
  ids(): readonly string[];
  /**
   * Each snapshot's verification state, in the same order; null when the tool gave none for any
   * snapshot (a tool that does not verify, or a listing stored before it could say). Decoded on first use.
   */
  verified(): readonly VerifyState[] | null;
}

export interface SnapshotView {
  /** The tool's snapshot/archive id. */
  id: string;
  /** When the snapshot was taken. */
  time: number;
  /** Its last verification; absent: never verified, or the tool cannot say. */
  verified?: 'ok' | 'failed';
}

export interface JobView {
  /** Agent that runs the job. */
  agent: string;
  /** Job name, unique per agent. */
  job: string;
  /** Asset the job protects. */
  asset: string;
  /** Tier of the asset as the job declares it. */
  tier: Tier;
  /** Backup driver (restic, borg, command, …); decides retention semantics. */
  driver: string;
  /**
   * 'maintenance': a server job keeping a target healthy (a PBS datastore's GC, verify, prune or
   * sync). Judged for failure and lateness like a backup, but no copy of its asset: the RPO,
   * 3-2-1, retention, size and check rules skip it. Absent: a backup.
   */
  role?: 'maintenance';
  /** The job copies what this target holds (`source: { target }`): a link in a chain of copies. */
  sourceTarget?: string;
  /**
   * Set on a derived copy (rules/derived-copies.ts): the asset's copy at this job's target made by
   * copying what the source target holds, and the hops it came through, the asset's own job
   * first, this link last. Counted by the RPO and 3-2-1 rules like any copy; the rules judging a
   * job's own runs skip it (the link job is judged itself).
   */
  derivedVia?: readonly ChainHop[];
  /** Where the copies land. */
  target: TargetView;
  /** Backup schedule (cron or alias, see shared/schedule.ts). */
  schedule: string;
  /** IANA zone the schedule and retention buckets are computed in (the agent's zone). */
  timezone: string;
  /** The agent's hard timeout for a run; 0 means none. */
  timeoutMs: number;
  /** GFS retention the agent prunes with. */
  retention: Retention;
  /** Verification schedule, or null when the job has none. */
  verifySchedule: string | null;
  /** Restore drill schedule, or null when the job has none. */
  restoreTestSchedule: string | null;
  /** When the collector first saw the job in a hello. */
  knownSince: number;
  /** The job's own grace for a late run (a check's `grace`); absent: the collector's `rules.grace`. */
  graceMs?: number;
  /** Newest backup run (may be 'running'). */
  lastBackup: RunView | null;
  /** finishedAt of the newest backup with status success|warning. */
  lastSuccess: number | null;
  /** Newest backup that finished with an outcome (not running, not skipped). */
  lastOutcome: RunView | null;
  /** Finished backups (skipped ones too), newest first, up to 20. */
  recentBackups: BackupSummaries;
  /** Newest verify run. */
  lastVerify: RunView | null;
  /** Newest restore drill. */
  lastRestoreTest: RunView | null;
  /** Newest prune run. */
  lastPrune: RunView | null;
  /** Snapshots at the target as the tool last listed them, and when. */
  inventory: InventoryView | null;
}

export interface FilesystemView {
  /** Mount point. */
  mount: string;
  /** Size in bytes. */
  sizeBytes: number;
  /** Used bytes now. */
  usedBytes: number;
  /** Past usage samples (any order), for the fill forecast. */
  history: { at: number; usedBytes: number }[];
}

export interface AgentView {
  /** Agent name. */
  agent: string;
  /** When the collector last heard from it (any message); null if never. */
  lastSeen: number | null;
  /** The heartbeat interval the agent announced. */
  heartbeatMs: number;
  /** Agent clock minus collector clock (ms): positive when the agent is ahead; null if unknown. */
  clockSkewMs: number | null;
  /** What the agent said of its spool in its newest heartbeat (absent: nothing to say). */
  spool?: AgentSpoolView;
  /** Filesystems the agent reported. */
  filesystems: FilesystemView[];
  /** Disks and their SMART verdict (null: unknown). */
  disks: { device: string; smartOk: boolean | null; detail?: string }[];
  /** ZFS pools (`zpool list`/`zpool status`); absent from agents without ZFS. */
  pools?: PoolView[];
}

/** A ZFS pool as its agent last reported it (agent/zfs/pools.ts). */
export interface PoolView {
  name: string;
  sizeBytes: number;
  allocBytes: number;
  /** Percent, as ZFS rounds it. */
  capacityPct: number;
  /** ONLINE, DEGRADED, FAULTED, OFFLINE, REMOVED, UNAVAIL, SUSPENDED. */
  health: string;
  /** Largest READ, WRITE and CKSUM counts of any device in it. */
  errors: { read: number; write: number; checksum: number };
  /** Devices not ONLINE or with errors, as `zpool status` names them. */
  devices: readonly string[];
  /** The `status:` paragraph and the `errors:` line, when ZFS printed them. */
  status?: string;
  dataErrors?: string;
}

export interface AgentSpoolView {
  /** Messages set aside in the agent's spool/rejected. */
  rejected: number;
  /** Messages the agent could not store at all, ever. */
  lost: number;
  /** Why the agent cannot store messages now; null when it can. */
  error: string | null;
}

/** A Proxmox VE guest snapshot (qm/pct snapshot). */
export interface GuestSnapshotView {
  name: string;
  /** When it was taken (ms); null when Proxmox does not know (snaptime 0 or missing). */
  time: number | null;
  description?: string;
}

/** A guest as the agent on a Proxmox VE host sees it: the asset `vm-<vmid>` / `ct-<vmid>`. */
export interface GuestView {
  vmid: number;
  type: 'qemu' | 'lxc';
  /** VM name or CT hostname; absent while the node's data is missing. */
  name?: string;
  /** The node it runs on. */
  node: string;
  pool?: string;
  tags: readonly string[];
  template: boolean;
  /** Its tier from a tier pool, a tier tag or agent.yaml; null: none of them. */
  tier: Tier | null;
  tierFrom: 'pool' | 'tag' | 'config' | null;
  /** Left out of the coverage audit by agent.yaml (`proxmox.exclude`). */
  excluded: boolean;
  /** Oldest first. */
  snapshots: readonly GuestSnapshotView[];
}

/** A Proxmox VE backup job (Datacenter → Backup). */
export interface PveJobView {
  id: string;
  enabled: boolean;
  /** The calendar event as configured in Proxmox. */
  schedule: string;
  /** The same as cron, converted by the agent; null when it has no cron equivalent. */
  cron: string | null;
  /** Its backup storage; null: the node's default (vzdump.conf). */
  storage: string | null;
  /** The guests it backs up now. */
  vmids: readonly number[];
}

export interface PveStorageView {
  id: string;
  type: string;
  /** Content types, e.g. "backup,iso". */
  content: string;
  shared: boolean;
  /** Whether agent.yaml declares a target of this name; undefined from agents that do not say. */
  declared?: boolean;
}

/** The newest 'proxmox' message of one agent on a Proxmox VE host. */
export interface ProxmoxView {
  agent: string;
  /** The agent's IANA zone: Proxmox runs its backup jobs in the host's local time. */
  timezone: string;
  /** The node the agent runs on. */
  node: string;
  guests: readonly GuestView[];
  backupJobs: readonly PveJobView[];
  storages: readonly PveStorageView[];
  /** When the collector received it. */
  updatedAt: number;
}

/** A Proxmox Backup Server datastore as its agent last reported it. */
export interface DatastoreView {
  name: string;
  /** The target its snapshots count at. */
  target: string;
  /** Usage; null when PBS could not read it (see error). */
  totalBytes: number | null;
  usedBytes: number | null;
  availBytes: number | null;
  /** PBS's own linear forecast of when it is full (ms); null: PBS has none. A time in the past: usage flat or declining. */
  estimatedFullAt: number | null;
  /** The last garbage collection; null when it never ran or PBS does not say. */
  gc: { startedAt: number | null; removedBytes: number | null; pendingBytes: number | null; stillBad: number | null } | null;
  /** PBS's error for it (unmounted, unreadable…); null when none. */
  error: string | null;
  /** Maintenance mode ('read-only', 'offline'…); null when none. */
  maintenance: string | null;
  /** Past used-bytes samples (any order), for the collector's own forecast. */
  history: { at: number; usedBytes: number }[];
}

/** The newest 'pbs' message of one agent on a Proxmox Backup Server. */
export interface PbsView {
  agent: string;
  datastores: readonly DatastoreView[];
  /** When the collector received it. */
  updatedAt: number;
}

export interface AssetView {
  /** Asset name. */
  asset: string;
  /** Asset tier (overrides the jobs' lowest tier number). */
  tier: Tier;
  /** Media of the original, which counts as a copy for 3-2-1 (default 'disk'). */
  sourceMedia?: string;
}

export interface RulesConfig {
  /** How long after a due time a run may still start (default 1 h). */
  graceMs: number;
  /** Missed heartbeats before an agent is silent (default 3). */
  silentHeartbeats: number;
  /** Largest tolerated |agent clock − collector clock| (default 5 min). */
  clockSkewMs: number;
  /** Filesystem usage percentage that raises a capacity finding (default 80). */
  capacityPct: number;
  /** Per-mount (or "agent:mount") override of capacityPct; for a PBS datastore "agent:store", "store" or its target's name. */
  capacityPctByTarget?: Record<string, number>;
  /** Forecast horizon: warn when a filesystem is projected full within this many days (default 14). */
  fullWithinDays: number;
  /** Relative size change vs the median that counts as an anomaly (default 0.5). */
  sizeChangeShare: number;
  /** Duration above this multiple of the median is an anomaly (default 2). */
  durationFactor: number;
  /** A run is too long beyond this multiple of the median duration (default 3). */
  runningFactor: number;
  /** Grace after a verify/restore drill was due (default 1 day). */
  verifyGraceMs: number;
  /** Previous successful runs needed before medians are trusted (default 5). */
  minRunsForAnomaly: number;
  /** A Proxmox guest snapshot older than this is stale (default 7 days). */
  snapshotMaxAgeMs: number;
}

export interface Finding {
  /** Stable identity of the problem, e.g. "missed-run|pve1|etc-archive". */
  key: string;
  /** The rule that found it. */
  rule: RuleName;
  /** From the rule and the asset's tier (see severity.ts). */
  severity: Severity;
  /** Agent concerned, if any. */
  agent?: string;
  /** Job concerned, if any. */
  job?: string;
  /** Asset concerned, if any. */
  asset?: string;
  /** Target (or mount/disk) concerned, if any. */
  target?: string;
  /** One line for a phone notification. */
  title: string;
  /** What to look at: the error, the last success, which target. */
  detail: string;
  /** When the problem began (epoch ms), e.g. the due time of a missed run. */
  since: number;
  /**
   * The tier the incident is filed under, when the rule knows it better than the asset's jobs
   * do (a Proxmox guest no job backs up has no jobs). Default: the asset's jobs' tier.
   */
  tier?: Tier;
}

export interface EvaluationInput {
  /** Every job from the latest hello of every agent. */
  jobs: JobView[];
  /** Every known agent. */
  agents: AgentView[];
  /** Effective tier policies. */
  tiers: Record<Tier, TierPolicyView>;
  /** Thresholds. */
  config: RulesConfig;
  /** Optional asset facts (tier, original's media); assets not listed are derived from jobs. */
  assets?: AssetView[];
  /** What the agents on Proxmox VE hosts see of their clusters (absent or empty: none). */
  proxmox?: ProxmoxView[];
  /** The datastores the agents on Proxmox Backup Servers report (absent or empty: none). */
  pbs?: PbsView[];
}

/** The driver of a check's job (collector.yaml `checks:`): pinged from outside, no agent runs it. */
export const CHECK_DRIVER = 'check';

export type Rule = (input: EvaluationInput, now: number) => Finding[];

/**
 * When a rule's answer about this job can next change with nothing new reported (epoch ms):
 * the evaluator stores the earliest over the rules per job and looks at the job again then.
 * Infinity: never by time alone. Pure; times at or before `now` are ignored.
 */
export type NextCheckAt = (job: JobView, input: EvaluationInput, now: number) => number;

/**
 * A rule in the registry. A job rule whose answer depends on time says when (nextCheckAt); a
 * host rule reads every agent and runs on every pass, so it needs none.
 */
export interface RuleEntry {
  check: Rule;
  nextCheckAt?: NextCheckAt;
  host?: true;
}

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

export const DEFAULT_RULES_CONFIG: Readonly<RulesConfig> = Object.freeze({
  graceMs: HOUR,
  silentHeartbeats: 3,
  clockSkewMs: 5 * MINUTE,
  capacityPct: 80,
  fullWithinDays: 14,
  sizeChangeShare: 0.5,
  durationFactor: 2,
  runningFactor: 3,
  verifyGraceMs: DAY,
  minRunsForAnomaly: 5,
  snapshotMaxAgeMs: 7 * DAY,
});
