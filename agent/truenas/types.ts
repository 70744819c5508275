// What the agent reads from TrueNAS (REFERENCE-INTEGRATIONS §7 "TrueNAS replication state"), in
// TrueNAS's own field names, only those Lifeline uses. `replication.query` (REST
// `GET /api/v2.0/replication`) and `pool.snapshottask.query` (REST `GET /api/v2.0/pool/snapshottask`)
// return the tasks with their `state`.

/** A datetime as the API encodes it: `{"$date": <epoch ms>}` (truenas_api_client ejson); numbers and ISO text are read too. */
export type TrueNasDate = { $date: number } | number | string;

/** A task's `state`: PENDING (no state yet), WAITING, RUNNING, FINISHED (success), ERROR or HOLD. */
export interface TrueNasTaskState {
  state?: string;
  datetime?: TrueNasDate | null;
  /** ERROR: a sentence. */
  error?: string | null;
  /** WAITING / HOLD: why. */
  reason?: string | null;
  /** FINISHED: warnings, if any. */
  warnings?: string[] | null;
  /** `pool/ds@snapname` or null. */
  last_snapshot?: string | null;
}

/** The task's cron schedule as TrueNAS stores it. */
export interface TrueNasSchedule {
  minute?: string;
  hour?: string;
  dom?: string;
  month?: string;
  dow?: string;
}

export interface TrueNasReplication {
  id: number;
  name: string;
  direction?: string;
  transport?: string;
  source_datasets?: string[];
  target_dataset?: string;
  enabled?: boolean;
  /** Absent when the task runs after its periodic snapshot tasks (auto). */
  schedule?: TrueNasSchedule | null;
  auto?: boolean;
  state?: TrueNasTaskState;
}

export interface TrueNasSnapshotTask {
  id: number;
  dataset: string;
  recursive?: boolean;
  naming_schema?: string;
  enabled?: boolean;
  schedule?: TrueNasSchedule | null;
  state?: TrueNasTaskState;
}

/** Everything one scan read. */
export interface TrueNasInventory {
  replications: TrueNasReplication[];
  snapshotTasks: TrueNasSnapshotTask[];
}
