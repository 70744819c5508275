import { z } from 'zod';
import { retentionSchema } from './retention-policy';

// Protocol version 1: the messages an agent sends. Each schema gives both the validation the
// collector runs on untrusted input and the TypeScript type the agent builds messages with.
import { MAX_BATCH, MAX_RESTORE_FACT_CHARS, MAX_RESTORE_FACTS, NAME_RE, PROTOCOL_VERSION } from './protocol-constants';

export { AGENT_HEADER, MAX_BATCH, NAME_RE, PROTOCOL_VERSION, SIGNATURE_HEADER } from './protocol-constants';
export const nameSchema = z.string().regex(NAME_RE, 'expected a name of letters, digits, ".", "_" or "-" (at most 64)');

const isoTime = z.iso.datetime({ offset: true });
const count = z.number().int().nonnegative();
const text = (max: number) => z.string().max(max);

export const locationSchema = z.enum(['onsite', 'offsite']);
export const mediaSchema = z.enum(['disk', 'usb', 'nas', 'pbs', 'cloud', 'tape']);
export const runStatusSchema = z.enum(['success', 'warning', 'failure', 'timeout', 'skipped']);
// What a run did: the backup itself, or the tool's retention, integrity check or restore drill.
export const OPERATIONS = ['backup', 'prune', 'verify', 'restore-test'] as const;
export const operationSchema = z.enum(OPERATIONS);
export const tierSchema = z
  .int({ error: 'expected a tier number 1..4' })
  .min(1, 'expected a tier number 1..4')
  .max(4, 'expected a tier number 1..4')
  .transform((n) => n as 1 | 2 | 3 | 4);

export const targetSchema = z.object({
  name: nameSchema,
  location: locationSchema,
  media: mediaSchema,
});

export const catalogJobSchema = z.object({
  name: nameSchema,
  asset: nameSchema,
  tier: tierSchema,
  driver: text(32),
  target: targetSchema,
  schedule: text(128),
  timeoutMs: count,
  retention: retentionSchema,
  verify: z.object({ schedule: text(128) }).optional(),
  restoreTest: z.object({ schedule: text(128) }).optional(),
  /**
   * 'maintenance': a server-side job that keeps a target healthy (a PBS datastore's garbage
   * collection, verify, prune or sync job). Its runs are judged for failure and lateness like any
   * backup's, but it is no copy of its asset (the datastore): RPO, 3-2-1 and retention skip it.
   * Absent: 'backup'.
   */
  role: z.enum(['backup', 'maintenance']).optional(),
  /**
   * The job copies what another target holds (a restic backup of a PBS datastore, an rclone sync
   * of a repository folder): every copy at `source.target` gets a derived copy at this job's target.
   */
  source: z.object({ target: nameSchema }).optional(),
  // Non-secret facts the restore runbook is written from (repository path, database name,
  // password *file* path…), chosen by the driver; the collector escapes them like any text.
  restore: z
    .record(z.string().regex(/^[A-Za-z][A-Za-z0-9]{0,31}$/, 'expected a key of letters and digits (at most 32)'), text(MAX_RESTORE_FACT_CHARS))
    .refine((r) => Object.keys(r).length <= MAX_RESTORE_FACTS, `expected at most ${MAX_RESTORE_FACTS} restore facts`)
    .optional(),
});

const base = {
  agent: nameSchema,
  seq: count,
  sentAt: isoTime,
};

export const helloSchema = z.object({
  ...base,
  kind: z.literal('hello'),
  version: text(64),
  protocol: z.literal(PROTOCOL_VERSION),
  hostname: text(255),
  timezone: text(64),
  heartbeatMs: count,
  jobs: z.array(catalogJobSchema).max(1000),
});

export const heartbeatSchema = z.object({
  ...base,
  kind: z.literal('heartbeat'),
  uptimeMs: count,
  spool: z.object({
    pending: count,
    dropped: count,
    /** Messages set aside in spool/rejected (unreadable, or refused by the collector for good). */
    rejected: count.optional(),
    /** Messages that could not be stored at all (a full disk), ever. */
    lost: count.optional(),
    /** Why the agent cannot store messages now (e.g. its disk is full); absent when it can. */
    error: text(1024).optional(),
  }),
});

// Why a run started: its schedule, an operator, a retry of a failed scheduled run, or a run
// missed while the host or agent was down.
export const triggerSchema = z.enum(['schedule', 'manual', 'retry', 'catch-up']);

// Attempts of one scheduled run share `scheduledFor` (the slot they serve) and count `attempt`.
const attemptFields = {
  scheduledFor: isoTime.optional(),
  attempt: z.int().min(1).max(100).optional(),
};

export const runStartSchema = z.object({
  ...base,
  kind: z.literal('run-start'),
  runId: z.uuid(),
  job: nameSchema,
  operation: operationSchema.default('backup'),
  trigger: triggerSchema,
  startedAt: isoTime,
  ...attemptFields,
});

export const runSchema = z.object({
  ...base,
  kind: z.literal('run'),
  runId: z.uuid(),
  job: nameSchema,
  operation: operationSchema.default('backup'),
  trigger: triggerSchema,
  startedAt: isoTime,
  ...attemptFields,
  /** A failed attempt that will be retried: when the next attempt runs. */
  retryAt: isoTime.optional(),
  finishedAt: isoTime,
  status: runStatusSchema,
  exitCode: z.number().int().nullable(),
  signal: text(16).nullable().optional(),
  durationMs: count,
  bytesAdded: count.optional(),
  bytesTotal: count.optional(),
  files: count.optional(),
  snapshotId: text(128).optional(),
  error: text(4096).optional(),
  logTail: text(70_000),
});

export const snapshotSchema = z.object({
  id: text(128),
  time: isoTime,
  bytes: count.optional(),
  /** The state of its last verification (PBS verify): a 'failed' snapshot is no good copy. Absent: never verified, or the tool cannot say. */
  verified: z.enum(['ok', 'failed']).optional(),
  /** Protected from pruning (PBS). */
  protected: z.boolean().optional(),
});

export const inventorySchema = z.object({
  ...base,
  kind: z.literal('inventory'),
  job: nameSchema,
  target: nameSchema,
  snapshots: z.array(snapshotSchema).max(100_000),
});

export const filesystemSchema = z.object({
  mount: text(4096),
  fs: text(4096),
  type: text(64),
  sizeBytes: count,
  usedBytes: count,
});

// A block device and its SMART overall-health verdict: true passed, false failing, null when
// it could not be read (no smartctl, a virtual disk, no permission); `detail` says why.
export const diskSchema = z.object({
  device: text(256),
  model: text(256).optional(),
  smartOk: z.boolean().nullable(),
  detail: text(1024).optional(),
});

// A ZFS pool (agent/zfs/pools.ts): `zpool list -H -p` numbers and what `zpool status` says of
// its health, since `zpool status -x` exits 0 even for a degraded pool (REFERENCE-INTEGRATIONS §7).
export const zpoolSchema = z.object({
  name: text(256),
  sizeBytes: count,
  allocBytes: count,
  freeBytes: count,
  capacityPct: z.number().min(0).max(100),
  /** ONLINE, DEGRADED, FAULTED, OFFLINE, REMOVED, UNAVAIL (SUSPENDED from `zpool status`). */
  health: text(32),
  /** Largest READ, WRITE and CKSUM counts of any device in the pool. */
  errors: z.object({ read: count, write: count, checksum: count }),
  /** The `status:` paragraph of `zpool status`, when it printed one. */
  status: text(1024).optional(),
  /** Devices not ONLINE or with errors (`sdb UNAVAIL`). */
  devices: z.array(text(256)).max(20).optional(),
  /** The `errors:` line when it is not "No known data errors". */
  dataErrors: text(512).optional(),
});

// Fields beyond `filesystems` are optional so that messages of older agents stay valid.
export const hostSchema = z.object({
  ...base,
  kind: z.literal('host'),
  filesystems: z.array(filesystemSchema).max(500),
  disks: z.array(diskSchema).max(200).optional(),
  load1: z.number().nonnegative().optional(),
  uptimeS: count.optional(),
  /** Collector clock minus agent clock, from the collector's last HTTP `Date` header. */
  clockOffsetMs: z.number().int().optional(),
  collectedAt: isoTime.optional(),
  /** ZFS pools, where zpool is installed (or `zfs.zpool` in agent.yaml names it). */
  pools: z.array(zpoolSchema).max(100).optional(),
});

// What the agent on a Proxmox VE host sees of the cluster (agent/proxmox/discovery.ts), for the
// collector's coverage audit, snapshot checks and guest names. Sent when it changes. Guests are
// the assets `vm-<vmid>` / `ct-<vmid>`; their backups are the catalog jobs `vzdump-<vmid>-<storage>`.
export const pveVmidSchema = z.int().min(100).max(999_999_999);
export const pveGuestSchema = z.object({
  vmid: pveVmidSchema,
  type: z.enum(['qemu', 'lxc']),
  /** The VM name or CT hostname; absent while the node's data is missing. */
  name: text(255).optional(),
  node: text(64),
  pool: text(255).optional(),
  tags: z.array(text(128)).max(64),
  template: z.boolean(),
  /** The tier Lifeline gives it and where that came from; null: in no tier pool, no tier tag, not in agent.yaml. */
  tier: tierSchema.nullable(),
  tierFrom: z.enum(['pool', 'tag', 'config']).nullable(),
  /** Left out of the coverage audit by agent.yaml (`proxmox.exclude`). */
  excluded: z.boolean(),
  /** Guest snapshots (qm/pct snapshot), oldest first, without the `current` pseudo-entry. */
  snapshots: z.array(z.object({ name: text(64), time: isoTime.nullable(), description: text(1024).optional() })).max(1000),
});
export const pveBackupJobSchema = z.object({
  id: text(128),
  enabled: z.boolean(),
  /** The PVE calendar event as configured (`sat 02:00`, `*-*-* 01:30`…). */
  schedule: text(128),
  /** The same as cron for the collector's due times; null when it cannot be expressed. */
  cron: text(128).nullable(),
  storage: text(64).nullable(),
  /** The guests it backs up now (pool members, listed vmids, or all but excluded, on its node). */
  vmids: z.array(pveVmidSchema).max(100_000),
});
export const pveStorageSchema = z.object({
  id: text(64),
  type: text(32),
  /** Its content types, e.g. "backup,iso". */
  content: text(256),
  shared: z.boolean(),
  /** A target of this name is declared in agent.yaml (`targets:`): its location and media are known, not guessed from the type. */
  declared: z.boolean(),
});
export const proxmoxSchema = z.object({
  ...base,
  kind: z.literal('proxmox'),
  node: text(64),
  guests: z.array(pveGuestSchema).max(100_000),
  backupJobs: z.array(pveBackupJobSchema).max(10_000),
  storages: z.array(pveStorageSchema).max(1000),
});

// What the agent on a Proxmox Backup Server sees of its datastores (agent/pbs/), sent when it
// changes: usage and PBS's own fill forecast for the capacity rules, and the last garbage
// collection's numbers. The datastores' server jobs (GC, verify, prune, sync) are catalog jobs
// with role 'maintenance'; their tasks arrive as runs.
export const pbsGcStatusSchema = z.object({
  /** The last GC task (UPID); absent when GC never ran. */
  upid: text(512).optional(),
  /** When the last GC started (from its UPID). */
  startedAt: isoTime.optional(),
  removedBytes: count.optional(),
  pendingBytes: count.optional(),
  diskBytes: count.optional(),
  indexDataBytes: count.optional(),
  /** Chunks found bad and still bad. */
  stillBad: count.optional(),
});
export const pbsDatastoreSchema = z.object({
  name: text(64),
  /** The target its snapshots count at (agent.yaml's `pbs.datastores.NAME.target`, default the datastore's name). */
  target: nameSchema,
  /** Absent when PBS could not read the datastore's usage (see `error`). */
  totalBytes: count.optional(),
  usedBytes: count.optional(),
  availBytes: count.optional(),
  /** PBS's linear forecast of when it is full; null when PBS has none (too little history, or flat/declining usage). */
  estimatedFullAt: isoTime.nullable().optional(),
  gc: pbsGcStatusSchema.nullable().optional(),
  /** PBS's error for this datastore (unmounted, unreadable…). */
  error: text(1024).optional(),
  /** Maintenance mode (`read-only`, `offline`…), when set. */
  maintenance: text(128).optional(),
  /** Backup groups and snapshots per type, when PBS says. */
  counts: z.partialRecord(z.enum(['vm', 'ct', 'host', 'other']), z.object({ groups: count, snapshots: count })).optional(),
});
export const pbsSchema = z.object({
  ...base,
  kind: z.literal('pbs'),
  datastores: z.array(pbsDatastoreSchema).max(1000),
});

export const messageSchema = z.discriminatedUnion('kind', [
  helloSchema,
  heartbeatSchema,
  runStartSchema,
  runSchema,
  inventorySchema,
  hostSchema,
  proxmoxSchema,
  pbsSchema,
]);

export const reportBodySchema = z.object({
  messages: z.array(messageSchema).min(1).max(MAX_BATCH),
  /** When the agent built this request (its clock): the collector compares it with its own. */
  sentAt: isoTime.optional(),
});

export type CatalogJob = z.infer<typeof catalogJobSchema>;
export type Target = z.infer<typeof targetSchema>;
export type RunStatus = z.infer<typeof runStatusSchema>;
export type Operation = z.infer<typeof operationSchema>;
export type Trigger = z.infer<typeof triggerSchema>;
export type Message = z.infer<typeof messageSchema>;
export type MessageKind = Message['kind'];
export type HelloMessage = z.infer<typeof helloSchema>;
export type HeartbeatMessage = z.infer<typeof heartbeatSchema>;
export type RunStartMessage = z.infer<typeof runStartSchema>;
export type RunMessage = z.infer<typeof runSchema>;
export type InventoryMessage = z.infer<typeof inventorySchema>;
export type HostMessage = z.infer<typeof hostSchema>;
export type ProxmoxMessage = z.infer<typeof proxmoxSchema>;
export type PveGuest = z.infer<typeof pveGuestSchema>;
export type PveBackupJob = z.infer<typeof pveBackupJobSchema>;
export type PveStorage = z.infer<typeof pveStorageSchema>;
export type PbsMessage = z.infer<typeof pbsSchema>;
export type PbsDatastore = z.infer<typeof pbsDatastoreSchema>;
export type Snapshot = z.infer<typeof snapshotSchema>;
export type Disk = z.infer<typeof diskSchema>;
export type Filesystem = z.infer<typeof filesystemSchema>;
export type Zpool = z.infer<typeof zpoolSchema>;
export type ReportBody = z.infer<typeof reportBodySchema>;

/** A message before the spool gives it its sequence number and send time. */
export type Unsequenced<M extends Message = Message> = M extends Message ? Omit<M, 'seq' | 'sentAt' | 'agent'> : never;

export interface ReportAck {
  accepted: number;
  duplicates: number;
}

/** "messages.3.runId" style path for error messages. */
export function formatPath(path: readonly PropertyKey[]): string {
  return path.map(String).join('.');
}
