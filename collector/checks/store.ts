import { newRunId } from '../../shared/run-id';
import type { Db } from '../db';
import { createIngest } from '../ingest';
import { PROTOCOL_VERSION, type CatalogJob, type Message, type RunMessage, type Unsequenced } from '../../shared/protocol';
import { localTimeZone } from '../../shared/schedule';
import { VERSION } from '../../shared/version';
import { CHECK_DRIVER } from '../rules/types';
import { checkRole, checkSchedule, type Check } from './schema';

// Checks live in the tables every reader already reads: each is a job of the pseudo-agent
// 'checks', and its runs are stored by the same ingest as an agent's messages (run-start, run,
// and a hello carrying every check as the job catalog). So a check has runs, RPO, 3-2-1,
// missed- and failed-run incidents, and shows on the page, in the API, metrics and reports,
// with no reader knowing it is one. Table `checks` (migration 14) finds a job by its secret id.

/** The pseudo-agent all checks belong to. */
export const CHECKS_AGENT = 'checks';
/** What a run keeps of a posted body: the end, as an agent's log tail (the protocol allows 70,000 chars). */
export const CHECK_LOG_CHARS = 64 * 1024;

export interface StoredCheck {
  id: string;
  name: string;
  check: Check;
  source: 'config' | 'api';
  startRun: string | null;
  startRid: string | null;
}

/** How a check's run ended, as the pings and intakes tell it. */
export interface RunOutcome {
  status: RunMessage['status'];
  exitCode: number | null;
  log: string;
  error?: string;
  operation?: RunMessage['operation'];
  /** The tool's own times (an intake); a ping's run starts at its start ping or now. */
  startedAt?: number;
  durationMs?: number;
  bytesAdded?: number;
  bytesTotal?: number;
  files?: number;
}

interface Row {
  id: string;
  name: string;
  spec: string;
  source: 'config' | 'api';
  startRun: string | null;
  startRid: string | null;
}

const iso = (ms: number) => new Date(ms).toISOString();

/** The end of a body as text, bounded like an agent's log tail ("...\n" marks a cut, as borgmatic does). */
export function boundedLog(text: string, max = CHECK_LOG_CHARS): string {
  return text.length <= max ? text : `...\n${text.slice(text.length - max + 4)}`;
}

export class CheckStore {
  private readonly ingest;
  private readonly rows;
  private readonly byId;
  private readonly byName;
  private readonly agentRow;
  private readonly nextSeq;
  private readonly setStart;
  private readonly runRow;
  private readonly appendLog;

  /** `defaultGraceMs`: rules.grace, the timeout of a check that sets neither timeout nor grace. */
  constructor(
    private readonly db: Db,
    private readonly defaultGraceMs: number,
  ) {
    this.ingest = createIngest(db);
    const cols = `id, name, spec, source, start_run AS startRun, start_rid AS startRid`;
    this.rows = db.prepare<[], Row>(`SELECT ${cols} FROM checks ORDER BY name`);
    this.byId = db.prepare<[string], Row>(`SELECT ${cols} FROM checks WHERE id = ?`);
    this.byName = db.prepare<[string], Row>(`SELECT ${cols} FROM checks WHERE name = ?`);
    this.agentRow = db.prepare<[string], { id: number; publicKey: string; source: string }>(`SELECT id, public_key AS publicKey, source FROM agents WHERE name = ?`);
    this.nextSeq = db
      .prepare<[number, number], number>(`SELECT max(coalesce((SELECT max(seq) FROM messages WHERE agent_id = ?), -1), coalesce((SELECT seq_floor FROM agents WHERE id = ?), -1)) + 1`)
      .pluck();
    this.setStart = db.prepare<[string | null, string | null, string]>(`UPDATE checks SET start_run = ?, start_rid = ? WHERE id = ?`);
    this.runRow = db.prepare<[number, string], { startedAt: number; status: string; log: string | null }>(
      `SELECT started_at AS startedAt, status, log_tail AS log FROM runs WHERE agent_id = ? AND run_id = ?`,
    );
    this.appendLog = db.prepare<[string, number, string]>(`UPDATE runs SET log_tail = ? WHERE agent_id = ? AND run_id = ? AND status = 'running'`);
  }

  list(): StoredCheck[] {
    return this.rows.all().map(parseRow);
  }

  find(id: string): StoredCheck | undefined {
    const r = this.byId.get(id.toLowerCase());
    return r ? parseRow(r) : undefined;
  }

  findByName(name: string): StoredCheck | undefined {
    const r = this.byName.get(name);
    return r ? parseRow(r) : undefined;
  }

  // Every write below is one transaction begun IMMEDIATE: it reads before it writes, and a
  // deferred one would fail at once (SQLITE_BUSY, no busy wait) when the evaluator's connection
  // wrote in between; IMMEDIATE waits for the write lock (busy_timeout) instead.

  /**
   * Makes the checks from collector.yaml the stored ones (a check the API made with the same
   * name or id gives way: the operator's file wins), then announces the job list.
   */
  syncConfig(checks: readonly Check[], now: number): void {
    this.db.transaction(() => {
      const upsert = this.db.prepare(
        `INSERT INTO checks (id, name, spec, source, created_at) VALUES (?, ?, ?, 'config', ?)
         ON CONFLICT (id) DO UPDATE SET name = excluded.name, spec = excluded.spec, source = 'config'`,
      );
      const names = JSON.stringify(checks.map((c) => c.name));
      const ids = JSON.stringify(checks.map((c) => c.id));
      this.db.prepare(`DELETE FROM checks WHERE source = 'config' AND id NOT IN (SELECT value FROM json_each(?))`).run(ids);
      this.db.prepare(`DELETE FROM checks WHERE source = 'api' AND (name IN (SELECT value FROM json_each(?)) OR id IN (SELECT value FROM json_each(?)))`).run(names, ids);
      for (const c of checks) upsert.run(c.id, c.name, JSON.stringify(c), now);
      this.announce(now);
    }).immediate();
  }

  /** A check made through the admin API; false when its name or id is taken. */
  create(check: Check, now: number): boolean {
    return this.db.transaction(() => {
      if (this.byId.get(check.id) || this.byName.get(check.name)) return false;
      this.db.prepare(`INSERT INTO checks (id, name, spec, source, created_at) VALUES (?, ?, ?, 'api', ?)`).run(check.id, check.name, JSON.stringify(check), now);
      this.announce(now);
      return true;
    }).immediate();
  }

  /** Removes a check the API made (one from collector.yaml stays: edit the file). Its runs stay. */
  remove(id: string, now: number): 'removed' | 'config' | 'unknown' {
    return this.db.transaction(() => {
      const row = this.byId.get(id.toLowerCase());
      if (!row) return 'unknown';
      if (row.source === 'config') return 'config';
      this.db.prepare(`DELETE FROM checks WHERE id = ?`).run(row.id);
      this.announce(now);
      return 'removed';
    }).immediate();
  }

  /** A start: a running run, which the next completion with the same rid (or none) ends. */
  start(check: StoredCheck, rid: string | null, now: number): void {
    this.db.transaction(() => {
      const c = this.current(check);
      if (c.startRun !== null) this.closeUnended(c, c.startRun, now);
      const runId = newRunId(now);
      this.store(now, { kind: 'run-start', runId, job: c.name, operation: 'backup', trigger: 'schedule', startedAt: iso(now) });
      this.setStart.run(runId, rid, c.id);
    }).immediate();
  }

  /**
   * A completion. It ends the open start when their rids agree (both absent counts), as
   * Healthchecks pairs them for the run time; otherwise it is a run of its own, and a fail or a
   * completion without rid still leaves the running state (Healthchecks' rules): the unpaired
   * start is then closed as a run that never ended, as it is when another start comes first.
   */
  finish(check: StoredCheck, rid: string | null, outcome: RunOutcome, now: number): string {
    return this.db.transaction(() => {
      const c = this.current(check);
      const agentId = this.agentId();
      const paired = c.startRun !== null && c.startRid === rid && outcome.startedAt === undefined ? c.startRun : null;
      const started = paired ? this.runRow.get(agentId, paired) : undefined;
      let startedAt = outcome.startedAt ?? started?.startedAt ?? now;
      if (startedAt > now) startedAt = now;
      const runId = started ? paired! : newRunId(now);
      if (paired) this.setStart.run(null, null, c.id);
      else if (c.startRun !== null && outcome.startedAt === undefined && (outcome.status !== 'success' || rid === null)) this.closeUnended(c, c.startRun, now);
      const earlier = started?.log ? `${started.log}${started.log.endsWith('\n') ? '' : '\n'}` : '';
      this.store(now, {
        kind: 'run',
        runId,
        job: c.name,
        operation: outcome.operation ?? 'backup',
        trigger: 'schedule',
        startedAt: iso(startedAt),
        finishedAt: iso(now),
        status: outcome.status,
        exitCode: outcome.exitCode,
        durationMs: outcome.durationMs ?? now - startedAt,
        ...(outcome.bytesAdded !== undefined ? { bytesAdded: outcome.bytesAdded } : {}),
        ...(outcome.bytesTotal !== undefined ? { bytesTotal: outcome.bytesTotal } : {}),
        ...(outcome.files !== undefined ? { files: outcome.files } : {}),
        ...(outcome.error ? { error: outcome.error.slice(0, 4096) } : {}),
        // A /log ping's text stays before the end's unless the end repeats it (borgmatic sends the same log twice).
        logTail: boundedLog(earlier && outcome.log.startsWith(earlier.trimEnd()) ? outcome.log : `${earlier}${outcome.log}`),
      });
      return runId;
    }).immediate();
  }

  /** A /log ping: its text joins the open start's log; with no start open it records nothing, as it changes no status. */
  log(check: StoredCheck, rid: string | null, text: string): void {
    const c = this.current(check);
    if (c.startRun === null || c.startRid !== rid || text === '') return;
    const agentId = this.agentId();
    const run = this.runRow.get(agentId, c.startRun);
    if (!run || run.status !== 'running') return;
    const before = run.log ? `${run.log}${run.log.endsWith('\n') ? '' : '\n'}` : '';
    this.appendLog.run(boundedLog(before + text), agentId, c.startRun);
  }

  /** A start whose end never came (another start, or an unpaired end, came first): a failed run, ended now. */
  private closeUnended(c: StoredCheck, runId: string, now: number): void {
    this.setStart.run(null, null, c.id);
    const run = this.runRow.get(this.agentId(), runId);
    if (!run || run.status !== 'running') return;
    this.store(now, {
      kind: 'run',
      runId,
      job: c.name,
      operation: 'backup',
      trigger: 'schedule',
      startedAt: iso(run.startedAt),
      finishedAt: iso(now),
      status: 'failure',
      exitCode: null,
      durationMs: Math.max(0, now - run.startedAt),
      error: 'no end ping for this start: the check started again, or ended a run with another rid, before this one reported its end',
      logTail: run.log ?? '',
    });
  }

  /** The check as stored now: its open start may have moved since the caller read it. */
  private current(c: StoredCheck): StoredCheck {
    const r = this.byId.get(c.id);
    return r ? parseRow(r) : c;
  }

  private agentId(): number {
    const row = this.agentRow.get(CHECKS_AGENT);
    if (!row) throw new Error('the checks pseudo-agent is missing');
    return row.id;
  }

  /** Stores one message of the pseudo-agent through the agents' ingest, at the next seq. */
  private store(now: number, m: Unsequenced): void {
    const agentId = this.agentId();
    const message = { ...m, agent: CHECKS_AGENT, seq: this.nextSeq.get(agentId, agentId)!, sentAt: iso(now) } as Message;
    this.ingest(agentId, [message], now, null);
  }

  /**
   * The job catalog of the pseudo-agent: a hello listing every check (and each job's own grace).
   * Creates the pseudo-agent on first use; with no checks left it is set aside ('removed').
   * Never takes over a real agent of the same name.
   */
  private announce(now: number): void {
    const checks = this.list();
    let agent = this.agentRow.get(CHECKS_AGENT);
    if (agent && agent.publicKey !== '') {
      throw new Error(`an agent named "${CHECKS_AGENT}" exists; checks need that name for themselves: rename that agent (it is listed in collector.yaml or enrolled)`);
    }
    if (!agent && checks.length === 0) return;
    if (!agent) {
      // No key: no signed report can ever pass as this agent. heartbeat 0: never "silent".
      this.db.prepare(`INSERT INTO agents (name, public_key, source, heartbeat_ms, created_at) VALUES (?, '', 'enrolled', 0, ?)`).run(CHECKS_AGENT, now);
      agent = this.agentRow.get(CHECKS_AGENT)!;
    }
    this.db.prepare(`UPDATE agents SET source = ? WHERE id = ?`).run(checks.length > 0 ? 'enrolled' : 'removed', agent.id);
    this.store(now, {
      kind: 'hello',
      version: VERSION,
      protocol: PROTOCOL_VERSION,
      hostname: 'lifeline-collector',
      timezone: localTimeZone(),
      heartbeatMs: 0,
      jobs: checks.map((c) => this.catalogJob(c.check)),
    });
    const grace = this.db.prepare(`UPDATE jobs SET grace_ms = ? WHERE agent_id = ? AND name = ?`);
    for (const c of checks) grace.run(c.check.grace ?? null, agent.id, c.name);
  }

  private catalogJob(c: Check): CatalogJob {
    return {
      name: c.name,
      asset: c.asset,
      tier: c.tier,
      driver: CHECK_DRIVER,
      target: c.target,
      schedule: checkSchedule(c),
      timeoutMs: c.timeout ?? c.grace ?? this.defaultGraceMs,
      retention: {},
      role: checkRole(c),
    };
  }
}

function parseRow(r: Row): StoredCheck {
  return { id: r.id, name: r.name, check: JSON.parse(r.spec) as Check, source: r.source, startRun: r.startRun, startRid: r.startRid };
}
