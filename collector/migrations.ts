import type { Database } from 'better-sqlite3';
import { encodeVerified } from './evaluate/verified-codec';
import { refillJobStates } from './evaluate/job-state-store';

// Numbered schema migrations: MIGRATIONS[i] brings the schema to version i+1, tracked in
// PRAGMA user_version. Append only; never edit a migration that has shipped. A migration is SQL,
// or a function where the data it fills is computed in TypeScript.
// Times are epoch milliseconds (INTEGER) everywhere; JSON columns are TEXT.
export type Migration = string | ((db: Database) => void);

export const MIGRATIONS: readonly Migration[] = [
  `
  CREATE TABLE agents (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    public_key TEXT NOT NULL,
    -- 'removed': was listed in collector.yaml, no longer is; history kept, key no longer accepted.
    source TEXT NOT NULL CHECK (source IN ('config', 'enrolled', 'removed')),
    version TEXT,
    hostname TEXT,
    timezone TEXT,
    heartbeat_ms INTEGER,
    hello_seq INTEGER,
    heartbeat_seq INTEGER,
    last_seen INTEGER,
    spool_pending INTEGER,
    spool_dropped INTEGER,
    created_at INTEGER NOT NULL
  );

  CREATE TABLE enroll_tokens (
    id INTEGER PRIMARY KEY,
    token_hash TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    used_at INTEGER
  );

  -- Every accepted message once: the primary key is the de-duplication on (agent, seq). The
  -- facts a message carries live in their own tables, so its body is not kept twice.
  CREATE TABLE messages (
    agent_id INTEGER NOT NULL REFERENCES agents(id),
    seq INTEGER NOT NULL,
    kind TEXT NOT NULL,
    sent_at INTEGER NOT NULL,
    received_at INTEGER NOT NULL,
    PRIMARY KEY (agent_id, seq)
  ) WITHOUT ROWID;

  CREATE TABLE jobs (
    id INTEGER PRIMARY KEY,
    agent_id INTEGER NOT NULL REFERENCES agents(id),
    name TEXT NOT NULL,
    asset TEXT NOT NULL,
    tier INTEGER NOT NULL,
    driver TEXT NOT NULL,
    target_name TEXT NOT NULL,
    target_location TEXT NOT NULL,
    target_media TEXT NOT NULL,
    schedule TEXT NOT NULL,
    timeout_ms INTEGER NOT NULL,
    retention TEXT NOT NULL,
    verify TEXT,
    restore_test TEXT,
    active INTEGER NOT NULL DEFAULT 1,
    updated_at INTEGER NOT NULL,
    UNIQUE (agent_id, name)
  );

  CREATE TABLE runs (
    id INTEGER PRIMARY KEY,
    agent_id INTEGER NOT NULL REFERENCES agents(id),
    run_id TEXT NOT NULL,
    job TEXT NOT NULL,
    operation TEXT NOT NULL DEFAULT 'backup' CHECK (operation IN ('backup', 'prune', 'verify', 'restore-test')),
    trigger TEXT NOT NULL,
    started_at INTEGER NOT NULL,
    finished_at INTEGER,
    status TEXT NOT NULL CHECK (status IN ('running', 'success', 'warning', 'failure', 'timeout', 'skipped')),
    exit_code INTEGER,
    signal TEXT,
    duration_ms INTEGER,
    bytes_added INTEGER,
    bytes_total INTEGER,
    files INTEGER,
    snapshot_id TEXT,
    error TEXT,
    log_tail TEXT,
    UNIQUE (agent_id, run_id)
  );
  CREATE INDEX runs_by_job ON runs (agent_id, job, operation, started_at);

  CREATE TABLE inventory (
    agent_id INTEGER NOT NULL REFERENCES agents(id),
    job TEXT NOT NULL,
    target TEXT NOT NULL,
    snapshots TEXT NOT NULL,
    seq INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (agent_id, job, target)
  );

  CREATE TABLE host_facts (
    agent_id INTEGER PRIMARY KEY REFERENCES agents(id),
    facts TEXT NOT NULL,
    seq INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
  );
  `,
  // 2: incidents, silences and the notification outbox. A notification row is written in the
  // same transaction as the incident change it announces; senders claim rows by compare-and-set.
  `
  CREATE TABLE incidents (
    id INTEGER PRIMARY KEY,
    key TEXT NOT NULL,
    rule TEXT NOT NULL,
    severity TEXT NOT NULL CHECK (severity IN ('critical', 'warning', 'info')),
    agent TEXT,
    job TEXT,
    asset TEXT,
    target TEXT,
    tier INTEGER NOT NULL,
    title TEXT NOT NULL,
    detail TEXT NOT NULL,
    opened_at INTEGER NOT NULL,
    since INTEGER NOT NULL,
    last_seen_failing_at INTEGER NOT NULL,
    resolved_at INTEGER,
    -- NULL while the operator has not been told (muted or in maintenance when it opened).
    last_notified_at INTEGER,
    reminders INTEGER NOT NULL DEFAULT 0,
    acked_at INTEGER,
    acked_by TEXT
  );
  -- At most one open incident per finding key.
  CREATE UNIQUE INDEX incidents_open_key ON incidents (key) WHERE resolved_at IS NULL;
  CREATE INDEX incidents_by_opened ON incidents (opened_at);

  CREATE TABLE mutes (
    id INTEGER PRIMARY KEY,
    asset TEXT, -- NULL: everything
    until INTEGER NOT NULL,
    reason TEXT NOT NULL DEFAULT '',
    created_at INTEGER NOT NULL
  );

  CREATE TABLE maintenance_windows (
    id INTEGER PRIMARY KEY,
    starts_at INTEGER NOT NULL,
    ends_at INTEGER NOT NULL,
    asset TEXT, -- NULL: everything
    reason TEXT NOT NULL DEFAULT ''
  );

  CREATE TABLE outbox (
    id INTEGER PRIMARY KEY,
    incident_id INTEGER REFERENCES incidents(id),
    channel TEXT NOT NULL,
    event TEXT NOT NULL CHECK (event IN ('open', 'reminder', 'resolved', 'report')),
    payload TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    -- NULL once sent or given up on.
    next_attempt_at INTEGER,
    attempts INTEGER NOT NULL DEFAULT 0,
    claimed_at INTEGER,
    claim_token TEXT,
    sent_at INTEGER,
    last_error TEXT
  );
  CREATE INDEX outbox_due ON outbox (next_attempt_at) WHERE sent_at IS NULL;
  `,
  `
  -- When the collector first saw each job: missed runs and retention are expected from then on.
  ALTER TABLE jobs ADD COLUMN created_at INTEGER NOT NULL DEFAULT 0;
  UPDATE jobs SET created_at = updated_at;

  -- Filesystem usage samples from host facts, for the fill forecast (kept ~35 days).
  CREATE TABLE fs_usage (
    agent_id INTEGER NOT NULL REFERENCES agents(id),
    mount TEXT NOT NULL,
    at INTEGER NOT NULL,
    used_bytes INTEGER NOT NULL,
    size_bytes INTEGER NOT NULL,
    PRIMARY KEY (agent_id, mount, at)
  ) WITHOUT ROWID;
  `,
  `
  -- Non-secret restore facts from the hello (JSON object), for the restore runbook.
  ALTER TABLE jobs ADD COLUMN restore TEXT;
  `,
  // 5: each job's history as the rules read it, kept at ingest (collector/evaluate/job-state.ts),
  // so an evaluation reads one small row per job and the runs it names. Filled here from the runs
  // already stored. A run is named [runs.id, started_at]; newest first means started_at, then id.
  `
  CREATE TABLE job_state (
    -- Every change replaces the row, so its id is above every other row's (AUTOINCREMENT: ids
    -- are never reused): readers ask only for rows above the highest id they have seen.
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    agent_id INTEGER NOT NULL REFERENCES agents(id),
    job TEXT NOT NULL,
    -- finished_at of the newest successful (or warning) backup.
    last_success INTEGER,
    last_verify TEXT,
    last_restore_test TEXT,
    last_prune TEXT,
    -- The newest 21 backups (the newest maybe running), newest first.
    backups TEXT NOT NULL,
    UNIQUE (agent_id, job)
  );
  -- Readers tell whether the job list changed by its newest update (and count): an index, not a scan.
  CREATE INDEX jobs_by_updated ON jobs (updated_at);

  INSERT INTO job_state (agent_id, job, backups, last_success, last_verify, last_restore_test, last_prune)
  SELECT k.agent_id, k.job,
    (SELECT json_group_array(json(v) ORDER BY started_at DESC, id DESC) FROM (
       SELECT json_array(id, started_at) AS v, started_at, id FROM runs
       WHERE agent_id = k.agent_id AND job = k.job AND operation = 'backup' ORDER BY started_at DESC, id DESC LIMIT 21)),
    (SELECT max(finished_at) FROM runs WHERE agent_id = k.agent_id AND job = k.job AND operation = 'backup' AND status IN ('success', 'warning')),
    (SELECT json_array(id, started_at) FROM runs WHERE agent_id = k.agent_id AND job = k.job AND operation = 'verify' ORDER BY started_at DESC, id DESC LIMIT 1),
    (SELECT json_array(id, started_at) FROM runs WHERE agent_id = k.agent_id AND job = k.job AND operation = 'restore-test' ORDER BY started_at DESC, id DESC LIMIT 1),
    (SELECT json_array(id, started_at) FROM runs WHERE agent_id = k.agent_id AND job = k.job AND operation = 'prune' ORDER BY started_at DESC, id DESC LIMIT 1)
  FROM (SELECT DISTINCT agent_id, job FROM runs) k;
  `,
  // 6: each kept backup of job_state also carries its status, finish, duration and sizes, in a
  // compact binary form (collector/evaluate/job-state-codec.ts), so a first evaluation after
  // start reads full run rows only for the runs a finding prints. Refilled from the runs table.
  (db) => {
    db.exec(`
    DROP TABLE job_state;
    CREATE TABLE job_state (
      -- Every change replaces the row, so its id is above every other row's (AUTOINCREMENT: ids
      -- are never reused): readers ask only for rows above the highest id they have seen.
      id INTEGER PRIMARY KEY AUTOINCREMENT,
      agent_id INTEGER NOT NULL REFERENCES agents(id),
      job TEXT NOT NULL,
      -- finished_at of the newest successful (or warning) backup.
      last_success INTEGER,
      -- The newest verify, restore drill and prune: JSON [runs.id, started_at].
      last_verify TEXT,
      last_restore_test TEXT,
      last_prune TEXT,
      -- The newest 21 backups (the newest maybe running), newest first, with their numbers (binary).
      backups BLOB NOT NULL,
      UNIQUE (agent_id, job)
    );`);
    refillJobStates(db);
  },
  // 7: each inventory's snapshot times as epoch ms (JSON array, in the snapshots' order), written
  // at ingest, so the evaluator reads numbers instead of parsing every ISO time of every
  // inventory. Rows from before stay NULL until their next inventory replaces them.
  `
  ALTER TABLE inventory ADD COLUMN times TEXT;
  `,
  // 8: what an agent says of its own spool (messages set aside or lost, and why it cannot store),
  // its clock as measured on each request, the newest time it reported (the evidence that a run's
  // result is lost), and per run the slot and attempt it serves, a planned retry, and how far
  // ahead the agent's clock put it (its stored times are the collector's, never in the future).
  `
  ALTER TABLE agents ADD COLUMN spool_rejected INTEGER;
  ALTER TABLE agents ADD COLUMN spool_lost INTEGER;
  ALTER TABLE agents ADD COLUMN spool_error TEXT;
  -- Agent clock minus collector clock (ms) at the agent's newest request, and when.
  ALTER TABLE agents ADD COLUMN clock_skew_ms INTEGER;
  ALTER TABLE agents ADD COLUMN clock_skew_at INTEGER;
  ALTER TABLE agents ADD COLUMN last_sent_at INTEGER;
  ALTER TABLE runs ADD COLUMN scheduled_for INTEGER;
  ALTER TABLE runs ADD COLUMN attempt INTEGER;
  ALTER TABLE runs ADD COLUMN retry_at INTEGER;
  ALTER TABLE runs ADD COLUMN clock_ahead_ms INTEGER;
  CREATE INDEX runs_running ON runs (agent_id) WHERE status = 'running';
  `,
  // 9: what the agent on a Proxmox VE host sees of its cluster (the 'proxmox' message: guests
  // with their tier and snapshots, backup jobs with the guests they cover, storages), the newest
  // per agent, for the coverage audit, snapshot checks and guest names. Replaced only by a
  // message with a higher seq, like host facts.
  `
  CREATE TABLE proxmox (
    agent_id INTEGER PRIMARY KEY REFERENCES agents(id),
    -- The message without its envelope (agent, seq, sentAt, kind), as JSON.
    body TEXT NOT NULL,
    seq INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
  );
  `,
  // 10: Proxmox Backup Server. The newest 'pbs' message per agent (its datastores: usage, PBS's
  // fill forecast, GC status), replaced only by a higher seq like the Proxmox view; a job's role
  // ('maintenance': a server job, no copy); and each inventory's verification states, one
  // character per snapshot in the snapshots' order ('o' ok, 'f' failed, '-' never verified),
  // NULL when no snapshot has one, so the evaluator tells failed copies without parsing every
  // listing. Filled here for listings stored before (agents already sent the states).
  // Datastore usage samples go to fs_usage under the mount 'datastore <name>'.
  (db) => {
    db.exec(`
    CREATE TABLE pbs (
      agent_id INTEGER PRIMARY KEY REFERENCES agents(id),
      -- The message without its envelope (agent, seq, sentAt, kind), as JSON.
      body TEXT NOT NULL,
      seq INTEGER NOT NULL,
      updated_at INTEGER NOT NULL
    );
    ALTER TABLE jobs ADD COLUMN role TEXT NOT NULL DEFAULT 'backup';
    ALTER TABLE inventory ADD COLUMN verified TEXT;`);
    const rows = db.prepare<[], { rowid: number; snapshots: string }>(`SELECT rowid, snapshots FROM inventory WHERE instr(snapshots, '"verified"') > 0`).all();
    const set = db.prepare('UPDATE inventory SET verified = ? WHERE rowid = ?');
    for (const r of rows) {
      try {
        set.run(encodeVerified(JSON.parse(r.snapshots) as { verified?: string }[]), r.rowid);
      } catch {
        // an unreadable listing stays without states until the next one replaces it
      }
    }
  },
  // 11: copies of copies. A job's source target (`source: { target }`: it copies what that target
  // holds), NULL for a direct backup; the evaluator derives chained copies from it.
  `ALTER TABLE jobs ADD COLUMN source_target TEXT;`,
  // 12: bounded history (collector/history/). Runs that still carry a log tail, by job, so the
  // pruner finds the logs to drop without walking the summaries; and per agent the seq at or
  // below which every message counts as received (the de-duplication table keeps only a window).
  `
  CREATE INDEX runs_with_log ON runs (agent_id, job, operation, started_at) WHERE log_tail IS NOT NULL;
  ALTER TABLE agents ADD COLUMN seq_floor INTEGER;
  `,
  // 13: stored deadlines (as Healthchecks stores alert_after): when each job's findings can next
  // change with no new report (the rules' nextCheckAt), written by every evaluation pass. A table
  // of its own, narrow, so each pass rewrites small pages and never the job catalog's.
  `
  CREATE TABLE job_deadlines (
    agent_id INTEGER NOT NULL,
    job TEXT NOT NULL,
    check_at INTEGER NOT NULL,
    PRIMARY KEY (agent_id, job)
  ) WITHOUT ROWID;
  CREATE INDEX job_deadlines_due ON job_deadlines (check_at);
  `,
  // 14: checks (collector/checks/), jobs without an agent: each is a job of the pseudo-agent
  // 'checks', fed by Healthchecks-style pings and Proxmox/Duplicati notifications. This table
  // finds it by its secret UUID and keeps the open start a completion pairs with (Healthchecks'
  // last_start and last_start_rid). A job's own grace (NULL: rules.grace), set for checks.
  `
  CREATE TABLE checks (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    spec TEXT NOT NULL,
    source TEXT NOT NULL CHECK (source IN ('config', 'api')),
    start_run TEXT,
    start_rid TEXT,
    created_at INTEGER NOT NULL
  );
  ALTER TABLE jobs ADD COLUMN grace_ms INTEGER;
  `,
  // 15: the runs that keep a log although no longer among their job's newest (failures, warnings,
  // timeouts: for the whole log window), by start, for the pruner; it finds successes' logs by
  // walking each job's newest runs (collector/history/prune.ts). runs_with_log held every run
  // with a log and cost ingest about a tenth of its speed: an index entry per run stored.
  `
  DROP INDEX runs_with_log;
  CREATE INDEX runs_unusual_log ON runs (started_at) WHERE log_tail IS NOT NULL AND status <> 'success';
  `,
  // 16: inventory with its snapshot list last. SQLite reads a row's columns in order, so times and
  // verification states stored after a listing of a few KB (on overflow pages) made every read of
  // them read the listing too (bench/big-columns.ts: 10,000 listings of 100 snapshots, 144-167 ms
  // against 172-205). Listings stored before migration 7 get their times here (as ingest writes
  // them: capped at when they were stored), so every row has them. One listing in memory at a time.
  (db) => {
    db.exec(`
    CREATE TABLE inventory_new (
      agent_id INTEGER NOT NULL REFERENCES agents(id),
      job TEXT NOT NULL,
      target TEXT NOT NULL,
      seq INTEGER NOT NULL,
      updated_at INTEGER NOT NULL,
      -- The snapshots' times as epoch ms (JSON, in the snapshots' order; null: unreadable).
      times TEXT NOT NULL,
      verified TEXT,
      -- Read only for the few findings and pages that print snapshot ids.
      snapshots TEXT NOT NULL,
      PRIMARY KEY (agent_id, job, target)
    );
    INSERT INTO inventory_new SELECT agent_id, job, target, seq, updated_at, times, verified, snapshots FROM inventory WHERE times IS NOT NULL;`);
    const old = db.prepare<[], { rowid: number }>(`SELECT rowid FROM inventory WHERE times IS NULL`).all();
    const listing = db.prepare<[number], { snapshots: string; updatedAt: number }>(`SELECT snapshots, updated_at AS updatedAt FROM inventory WHERE rowid = ?`);
    const insert = db.prepare(`INSERT INTO inventory_new SELECT agent_id, job, target, seq, updated_at, ?, verified, snapshots FROM inventory WHERE rowid = ?`);
    for (const { rowid } of old) {
      const r = listing.get(rowid)!;
      let times: number[] = [];
      try {
        times = (JSON.parse(r.snapshots) as { time: string }[]).map((s) => Math.min(Date.parse(s.time), r.updatedAt));
      } catch {
        // an unreadable listing counts no snapshot, as it did
      }
      insert.run(JSON.stringify(times), rowid);
    }
    db.exec(`DROP TABLE inventory; ALTER TABLE inventory_new RENAME TO inventory;`);
  },
];

export const SCHEMA_VERSION = MIGRATIONS.length;

/** Applies pending migrations, each in its own transaction; returns the versions before and after. */
export function migrate(db: Database): { from: number; to: number } {
  const version = () => db.pragma('user_version', { simple: true }) as number;
  const from = version();
  if (from > SCHEMA_VERSION) {
    throw new Error(`database schema version ${from} is newer than this collector knows (${SCHEMA_VERSION}); upgrade lifeline-collector`);
  }
  // The version is re-read inside an IMMEDIATE transaction, so two processes opening a fresh
  // database at once (serve and a CLI command) never apply the same migration twice.
  const step = db.transaction((): boolean => {
    const v = version();
    if (v >= SCHEMA_VERSION) return false;
    const m = MIGRATIONS[v];
    if (typeof m === 'string') db.exec(m);
    else m(db);
    // user_version lives in the database header and is covered by the transaction.
    db.pragma(`user_version = ${v + 1}`);
    return true;
  });
  while (step.immediate());
  return { from, to: SCHEMA_VERSION };
}
