import type { Db } from '../db';
import { KEEP_NEWEST_RUNS, type PruneCutoffs } from './policy';
import { reclaimStep } from './vacuum';

/** What a pruning pass removed. */
export interface PruneCounts {
  logsDropped: number;
  runsDeleted: number;
  notificationsDeleted: number;
  incidentsDeleted: number;
  messagesDeleted: number;
  pagesFreed: number;
}

const zero = (): PruneCounts => ({ logsDropped: 0, runsDeleted: 0, notificationsDeleted: 0, incidentsDeleted: 0, messagesDeleted: 0, pagesFreed: 0 });

interface Group {
  agentId: number;
  job: string;
  operation: string;
}

/** A pruning pass in steps: `step()` does one short write transaction and says whether work remains. */
export interface Pruner {
  step(): boolean;
  readonly counts: PruneCounts;
}

/**
 * One pruning pass as small steps, each a write transaction of at most about `batch` rows: the
 * caller runs them back to back (tests, the benchmark) or yields between them (serve), so ingest
 * waits at most one step for the write lock.
 */
export function createPruner(db: Db, c: PruneCutoffs, batch = 2000): Pruner {
  const counts = zero();
  // Log tails. A success's goes once it is past the window or not among the newest logsPerJob
  // runs of its job and operation: each group's runs are walked newest first (runs_by_job) up to
  // the first success past those that has no log, since passes before dropped every older one's.
  // The others' (failures, warnings…) go past the window, found by their own index (migration 15).
  // Every job and operation with runs, read once a pass (a scan of runs_by_job) for both phases that visit them.
  const groupsQuery = db.prepare<[], Group>(`SELECT DISTINCT agent_id AS agentId, job, operation FROM runs`);
  let groupList: Group[] | null = null;
  const groups = () => (groupList ??= groupsQuery.all());
  const newestFirst = db.prepare<[number, string, string], { id: number; status: string; startedAt: number; hasLog: number }>(
    `SELECT id, status, started_at AS startedAt, octet_length(log_tail) IS NOT NULL AS hasLog FROM runs
     WHERE agent_id = ? AND job = ? AND operation = ? ORDER BY started_at DESC, id DESC`,
  );
  /** The group's success logs to drop, oldest first: dropped in that order, the rest stay contiguous with the newest runs. */
  const successLogsToDrop = (g: Group): number[] => {
    const out: number[] = [];
    let position = 0;
    for (const r of newestFirst.iterate(g.agentId, g.job, g.operation)) {
      position++;
      if (r.status !== 'success') continue;
      const past = position > c.logsPerJob;
      if (!r.hasLog) {
        if (past) break;
        continue;
      }
      if (past || r.startedAt < c.logsBefore) out.push(r.id);
    }
    return out.reverse();
  };
  const unusualLogsToDrop = db
    .prepare<[number, number], number>(`SELECT id FROM runs INDEXED BY runs_unusual_log WHERE log_tail IS NOT NULL AND status <> 'success' AND started_at < ? LIMIT ?`)
    .pluck();
  // A row is deleted and inserted again (same id, no log) rather than updated: SQLite merges
  // half-empty pages when rows are deleted, not when they shrink, so an UPDATE would leave every
  // summary alone on the page its log filled and free nothing.
  db.exec(`CREATE TEMP TABLE IF NOT EXISTS history_trim AS SELECT * FROM runs WHERE 0`);
  const trimCopy = db.prepare(`INSERT INTO temp.history_trim SELECT * FROM runs WHERE id IN (SELECT value FROM json_each(?))`);
  const trimLog = db.prepare(`UPDATE temp.history_trim SET log_tail = NULL`);
  const trimDelete = db.prepare(`DELETE FROM runs WHERE id IN (SELECT id FROM temp.history_trim)`);
  const trimBack = db.prepare(`INSERT INTO runs SELECT * FROM temp.history_trim`);
  const trimClear = db.prepare(`DELETE FROM temp.history_trim`);
  const dropLogs = (ids: number[]): number => {
    if (ids.length === 0) return 0;
    trimCopy.run(JSON.stringify(ids));
    trimLog.run();
    trimDelete.run();
    const n = trimBack.run().changes;
    trimClear.run();
    return n;
  };
  // Summaries past their window, except each job's newest runs, which the rules read (job_state names them).
  const keptFrom = db
    .prepare<[number, string, string, number], number>(`SELECT started_at FROM runs WHERE agent_id = ? AND job = ? AND operation = ? ORDER BY started_at DESC LIMIT 1 OFFSET ?`)
    .pluck();
  const deleteRuns = db.prepare(
    `DELETE FROM runs WHERE id IN (SELECT id FROM runs WHERE agent_id = @agentId AND job = @job AND operation = @operation AND started_at < @before LIMIT @limit)`,
  );
  // Notifications sent or given up on (next_attempt_at NULL); pending ones are never touched.
  const deleteNotifications = db.prepare(`DELETE FROM outbox WHERE id IN (SELECT id FROM outbox WHERE next_attempt_at IS NULL AND created_at < ? LIMIT ?)`);
  // Resolved incidents with their done notifications; one whose notification is still pending waits.
  const oldIncidents = db
    .prepare<[number, number], number>(
      `SELECT id FROM incidents WHERE resolved_at IS NOT NULL AND resolved_at < ?
         AND id NOT IN (SELECT incident_id FROM outbox WHERE sent_at IS NULL AND next_attempt_at IS NOT NULL AND incident_id IS NOT NULL)
       LIMIT ?`,
    )
    .pluck();
  const deleteIncidentOutbox = db.prepare(`DELETE FROM outbox WHERE incident_id IN (SELECT value FROM json_each(?))`);
  const deleteIncidents = db.prepare(`DELETE FROM incidents WHERE id IN (SELECT value FROM json_each(?))`);
  // De-duplication: an agent's seq only grows, so the messages older than the window become one
  // number per agent, its floor; ingest refuses every seq at or below it as a replay.
  const agentIds = db.prepare<[], number>(`SELECT id FROM agents`).pluck();
  const newestOld = db.prepare<[number, number], number | null>(`SELECT max(seq) FROM messages WHERE agent_id = ? AND received_at < ?`).pluck();
  const raiseFloor = db.prepare(`UPDATE agents SET seq_floor = max(coalesce(seq_floor, -1), ?) WHERE id = ?`);
  const deleteMessages = db.prepare(`DELETE FROM messages WHERE agent_id = ? AND seq IN (SELECT seq FROM messages WHERE agent_id = ? AND seq <= ? ORDER BY seq LIMIT ?)`);

  /** Works through `groups` with `work(group, room)` until about `batch` rows changed; the index of the next group to visit. */
  const perGroup = <G>(load: () => G[], work: (g: G, room: number) => number, add: (n: number) => void) => {
    let groups: G[] | null = null;
    let i = 0;
    return (): boolean => {
      groups ??= load();
      let changed = 0;
      while (i < groups.length && changed < batch) {
        const room = batch - changed;
        const n = work(groups[i], room);
        changed += n;
        // A group with more left than this step's room is visited again.
        if (n < room) i++;
      }
      add(changed);
      return i < groups.length;
    };
  };
  const untilNone = (work: () => number) => (): boolean => work() >= batch;

  const phases: (() => boolean)[] = [
    perGroup(
      groups,
      (g, room) => dropLogs(successLogsToDrop(g).slice(0, room)),
      (n) => (counts.logsDropped += n),
    ),
    untilNone(() => {
      const n = dropLogs(unusualLogsToDrop.all(c.logsBefore, batch));
      counts.logsDropped += n;
      return n;
    }),
    perGroup(
      groups,
      (g, room) => {
        const kept = keptFrom.get(g.agentId, g.job, g.operation, KEEP_NEWEST_RUNS - 1);
        return kept === undefined ? 0 : deleteRuns.run({ ...g, before: Math.min(kept, c.runsBefore), limit: room }).changes;
      },
      (n) => (counts.runsDeleted += n),
    ),
    untilNone(() => {
      const n = deleteNotifications.run(c.notificationsBefore, batch).changes;
      counts.notificationsDeleted += n;
      return n;
    }),
    untilNone(() => {
      const ids = JSON.stringify(oldIncidents.all(c.incidentsBefore, batch));
      deleteIncidentOutbox.run(ids);
      const n = deleteIncidents.run(ids).changes;
      counts.incidentsDeleted += n;
      return n;
    }),
    perGroup(
      () => agentIds.all(),
      (id, room) => {
        const floor = newestOld.get(id, c.messagesBefore);
        if (floor === null || floor === undefined) return 0;
        // The floor rises in the transaction that deletes what it covers: never a moment without either.
        raiseFloor.run(floor, id);
        return deleteMessages.run(id, id, floor, room).changes;
      },
      (n) => (counts.messagesDeleted += n),
    ),
  ];
  let phase = 0;
  // One step of one phase per transaction keeps each short.
  const step = db.transaction((): boolean => {
    if (phase < phases.length && !phases[phase]()) phase++;
    return phase < phases.length;
  });
  return { step: () => step.immediate(), counts };
}

/** A whole pass at once (tests, the benchmark, a CLI); serve yields between the steps instead. */
export function pruneHistory(db: Db, c: PruneCutoffs, batch = 2000): PruneCounts {
  const pruner = createPruner(db, c, batch);
  while (pruner.step());
  const counts = pruner.counts;
  for (let n = reclaimStep(db); n > 0; n = reclaimStep(db)) counts.pagesFreed += n;
  return counts;
}
