// What the agent reads from a Proxmox Backup Server, in PBS's own field names (kebab-case API
// items, snake_case task items: REFERENCE-INTEGRATIONS §5), only the fields Lifeline uses. The
// readers (api.ts, cli.ts) fill a PbsInventory; scan.ts and runs.ts decide from it.

/** PBS's keep-* prune options, on a datastore (older PBS) or a prune job. */
export interface PbsKeepOptions {
  'keep-last'?: number;
  'keep-hourly'?: number;
  'keep-daily'?: number;
  'keep-weekly'?: number;
  'keep-monthly'?: number;
  'keep-yearly'?: number;
}

/** `DataStoreConfig` (`GET /config/datastore`, `proxmox-backup-manager datastore list`). */
export interface PbsDatastoreConfig extends PbsKeepOptions {
  name: string;
  path?: string;
  'gc-schedule'?: string;
  /** Older PBS: the datastore's own prune, with its keep-* options. */
  'prune-schedule'?: string;
  /** e.g. `type=read-only,message=…` or `offline`. */
  'maintenance-mode'?: string;
}

/** `GarbageCollectionStatus`. */
export interface PbsGcStatus {
  upid?: string;
  'index-data-bytes'?: number;
  'disk-bytes'?: number;
  'removed-bytes'?: number;
  'pending-bytes'?: number;
  'still-bad'?: number;
}

/** `DataStoreStatusListItem` (`GET /status/datastore-usage`); in CLI mode built from statfs and `garbage-collection status`. */
export interface PbsUsage {
  store: string;
  total?: number;
  used?: number;
  avail?: number;
  /** Epoch seconds; 0: infinite; in the past: usage flat or declining; absent: too little history. */
  'estimated-full-date'?: number;
  error?: string;
  'gc-status'?: PbsGcStatus;
}

/** `TaskListItem`: snake_case, no rename. */
export interface PbsTask {
  upid: string;
  starttime: number;
  /** Absent while it runs. */
  endtime?: number;
  worker_type: string;
  worker_id?: string;
  /** `OK`, `WARNINGS: <n>`, `unknown` or the error text; absent while it runs. */
  status?: string;
}

/** A verify, prune or sync job's config (`GET /config/verify|prune|sync`, `… verify-job list` etc.). */
export interface PbsJobConfig extends PbsKeepOptions {
  id: string;
  store: string;
  schedule?: string;
  disable?: boolean | number;
  ns?: string;
}

/** `SnapshotListItem`. */
export interface PbsSnapshotItem {
  'backup-type': string;
  'backup-id': string;
  /** Epoch seconds. */
  'backup-time': number;
  size?: number;
  protected?: boolean;
  verification?: { upid?: string; state?: string };
}

/** Everything one scan read, before any decision: the input of buildPbsScan and planRuns. */
export interface PbsInventory {
  /** This host's name (restore facts). */
  host: string;
  /** Every datastore PBS has (the excluded ones too: scan.ts leaves them out). */
  datastores: PbsDatastoreConfig[];
  /** Per datastore; missing: PBS said nothing about it. */
  usage: Map<string, PbsUsage>;
  /** Tasks started within the task window, newest first as PBS lists them. */
  tasks: PbsTask[];
  verifyJobs: PbsJobConfig[];
  pruneJobs: PbsJobConfig[];
  syncJobs: PbsJobConfig[];
  /** Snapshots of the root namespace per datastore; a datastore missing here could not be listed. */
  snapshots: Map<string, PbsSnapshotItem[]>;
  /** CLI mode: usage from statfs, so no PBS forecast. */
  source: 'api' | 'cli';
}
