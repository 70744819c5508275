import { mkdirSync, readFileSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { Operation, RunMessage, Trigger, Unsequenced } from '../shared/protocol';
import { newRunId } from '../shared/run-id';
import type { RetryPolicy } from '../shared/tiers';
import type { AgentConfig, JobConfig } from './config';
import { DRIVERS } from './drivers';
import type { Driver, DriverContext, OperationOutcome } from './drivers/types';
import { describeFsError, isNoSpace, writeFileAtomic } from './durable-file';
import { acquireLock, type Lock } from './file-lock';
import { buildJobEnv } from './job-env';
import { LogTail } from './log-tail';
import { consoleLogger, type Logger } from './logger';
import { runProcess } from './process-runner';
import { retryDelay } from './retry';
import { SpoolWriteError, type Spool } from './spool';

export type { Trigger } from '../shared/protocol';
export type RunReport = Unsequenced<RunMessage>;

/** What one invocation does: a backup (then the tool's prune and an inventory), or one operation. */
export type Task = Operation | 'inventory';

export interface RunJobOptions {
  config: AgentConfig;
  spool: Spool;
  trigger: Trigger;
  /** Default 'backup'. */
  task?: Task;
  /** Called after each message is spooled (the daemon wakes its sender). */
  onSpooled?: () => void;
  signal?: AbortSignal;
  /** The scheduled slot this run serves (ISO), for retries and catch-ups of it too. */
  scheduledFor?: string;
  /** Which attempt at that slot this is (1 = the scheduled run). */
  attempt?: number;
  /** Given by the daemon for scheduled backups: a failed attempt then says when the next one runs. */
  retry?: RetryPolicy;
  /** Where the runner's own warnings go (the daemon's logger); lines on stderr by default. */
  log?: Logger;
}

export interface JobResult {
  reports: RunReport[];
  /** Messages that could not be stored in the spool (a full disk): the collector will not see them. */
  unrecorded: SpoolWriteError[];
}

/** Which tasks a job's driver can do, so callers can refuse the others with a clear message. */
export function supportedTasks(job: JobConfig): Task[] {
  const d = DRIVERS[job.driver];
  const tasks: Task[] = ['backup'];
  if (d.prune) tasks.push('prune');
  if (d.verify) tasks.push('verify');
  if (d.restoreTest) tasks.push('restore-test');
  if (d.inventory) tasks.push('inventory');
  return tasks;
}

/**
 * Runs one task of one job under the job's lock: at most one operation per job at a time
 * across processes (daemon and CLI); a held lock reports the run as `skipped`. A backup that
 * succeeds (or warns) is followed by the tool's prune and an inventory of the target, each
 * reported on its own, so "backups work but prune fails" is visible.
 */
export async function runJob(job: JobConfig, opts: RunJobOptions): Promise<JobResult> {
  const task = opts.task ?? 'backup';
  const result: JobResult = { reports: [], unrecorded: [] };
  const rec: Recorder = (msg) => record(opts, msg, result.unrecorded);
  let lock: Lock | null;
  try {
    try {
      lock = takeLock(opts.config.stateDir, job.name);
    } catch (err) {
      // A full disk: the lock file's block comes out of the spool's reserve, so the backup runs.
      if (!isNoSpace(err) || !opts.spool.makeRoom()) throw err;
      lock = takeLock(opts.config.stateDir, job.name);
    }
  } catch (err) {
    // No lock, no run: two operations on one repository at once are worse than one missed.
    const report = instantReport(job, task, opts.trigger, 'failure', `cannot take the job lock: ${describeFsError(err, join(opts.config.stateDir, 'locks'))}`);
    rec(report);
    result.reports.push(report);
    return result;
  }
  if (!lock) {
    const skipped = instantReport(job, task, opts.trigger, 'skipped', 'another operation of this job is still in progress');
    rec(skipped);
    result.reports.push(skipped);
    return result;
  }
  try {
    const driver = DRIVERS[job.driver];
    if (task === 'inventory') {
      await sendInventory(job, driver, opts, rec);
      return result;
    }
    const first = await operate(job, driver, task, opts, rec);
    result.reports.push(first);
    if (task === 'backup' && (first.status === 'success' || first.status === 'warning')) {
      if (driver.prune) result.reports.push(await operate(job, driver, 'prune', opts, rec));
    }
    if ((task === 'backup' || task === 'prune') && driver.inventory) await sendInventory(job, driver, opts, rec);
    return result;
  } finally {
    lock.release();
  }
}

type Recorder = (msg: Parameters<Spool['append']>[0]) => void;

function takeLock(stateDir: string, job: string): Lock | null {
  const lockDir = join(stateDir, 'locks');
  mkdirSync(lockDir, { recursive: true, mode: 0o700 });
  return acquireLock(join(lockDir, `${job}.lock`));
}

/** A run that ended before it began: skipped behind a held lock, or refused. */
function instantReport(job: JobConfig, task: Task, trigger: Trigger, status: 'skipped' | 'failure', error: string): RunReport {
  const now = new Date().toISOString();
  return {
    kind: 'run', runId: newRunId(), job: job.name, operation: task === 'inventory' ? 'backup' : task, trigger,
    startedAt: now, finishedAt: now, status, exitCode: null, durationMs: 0, error, logTail: '',
  };
}

/** One operation: run-start, the driver's method, run (with the redacted log tail). */
async function operate(job: JobConfig, driver: Driver<unknown>, operation: Operation, opts: RunJobOptions, rec: Recorder): Promise<RunReport> {
  const runId = newRunId();
  const startedAt = new Date();
  const slot = { ...(opts.scheduledFor ? { scheduledFor: opts.scheduledFor } : {}), ...(opts.attempt ? { attempt: opts.attempt } : {}) };
  rec({ kind: 'run-start', runId, job: job.name, operation, trigger: opts.trigger, startedAt: startedAt.toISOString(), ...slot });
  const tail = new LogTail();
  const slotText = opts.scheduledFor ? `the ${opts.scheduledFor} run` : 'its scheduled run';
  if (opts.trigger === 'catch-up') tail.line(`[lifeline] catch-up for ${slotText}, missed while the host or agent was down`);
  if (opts.trigger === 'retry') tail.line(`[lifeline] attempt ${opts.attempt ?? 2} at ${slotText}, after a failed attempt`);
  const scratchDir = join(opts.config.stateDir, 'scratch', `${job.name}-${runId}`);
  let outcome: OperationOutcome;
  try {
    const ctx = context(job, opts, tail, scratchDir);
    const method = operation === 'backup' ? driver.backup : operation === 'prune' ? driver.prune : operation === 'verify' ? driver.verify : driver.restoreTest;
    outcome = method
      ? await method.call(driver, ctx)
      : { status: 'failure', exitCode: null, error: `the ${job.driver} driver cannot ${operation}`, permanent: true };
  } catch (err) {
    tail.line(`[lifeline] ${(err as Error).message}`);
    // Thrown before or around the tool (an unreadable secret file, a bad option): no retry helps.
    outcome = { status: 'failure', exitCode: null, error: (err as Error).message, permanent: true };
  } finally {
    rmSync(scratchDir, { recursive: true, force: true });
  }
  const finishedAt = new Date();
  // A retry is planned here, not by the caller, so the run itself tells the collector to wait for it.
  const delay = operation === 'backup' && opts.retry && !opts.signal?.aborted ? retryDelay(opts.retry, opts.attempt ?? 1, outcome) : null;
  const report: RunReport = {
    kind: 'run', runId, job: job.name, operation, trigger: opts.trigger,
    startedAt: startedAt.toISOString(), finishedAt: finishedAt.toISOString(), ...slot,
    ...(delay !== null ? { retryAt: new Date(finishedAt.getTime() + delay).toISOString() } : {}),
    status: outcome.status, exitCode: outcome.exitCode, signal: outcome.signal ?? null,
    durationMs: outcome.durationMs ?? finishedAt.getTime() - startedAt.getTime(),
    ...numbers(outcome),
    ...(outcome.error ? { error: tail.redactText(outcome.error).slice(0, 4096) } : {}),
    logTail: tail.toString(),
  };
  rec(report);
  saveLastRun(opts.config.stateDir, report, opts.log ?? consoleLogger());
  return report;
}

async function sendInventory(job: JobConfig, driver: Driver<unknown>, opts: RunJobOptions, rec: Recorder): Promise<void> {
  if (!driver.inventory) return;
  const tail = new LogTail();
  try {
    const snapshots = await driver.inventory(context(job, opts, tail, join(opts.config.stateDir, 'scratch', `${job.name}-inventory`)));
    rec({ kind: 'inventory', job: job.name, target: job.target.name, snapshots });
  } catch (err) {
    // An inventory that cannot be read is reported by the next run's failure; keep the old one.
    (opts.log ?? consoleLogger()).warn(`job ${job.name}: cannot list the snapshots at ${job.target.name}: ${tail.redactText((err as Error).message)}`);
  }
}

function context(job: JobConfig, opts: RunJobOptions, tail: LogTail, scratchDir: string): DriverContext<unknown> {
  const deadline = Date.now() + job.timeoutMs;
  const driver = DRIVERS[job.driver];
  // Secret files named by the driver's options are redacted like envFiles secrets.
  for (const { path } of driver.secretFiles?.(job.options) ?? []) tail.addSecret(readFileSync(path, 'utf8').replace(/\r?\n$/, ''));
  const env = buildJobEnv(job, tail);
  return {
    job,
    options: job.options,
    retention: job.retention,
    tail,
    env,
    secret: (value) => tail.addSecret(value),
    signal: opts.signal,
    killGraceMs: opts.config.killGraceMs,
    ...(opts.config.proxmox ? { proxmox: { config: opts.config.proxmox, stateDir: opts.config.stateDir } } : {}),
    get scratchDir() {
      mkdirSync(scratchDir, { recursive: true, mode: 0o700 });
      return scratchDir;
    },
    exec: (argv, extra = {}) =>
      runProcess({
        argv,
        env: extra.env ?? env,
        cwd: extra.cwd ?? job.workdir,
        timeoutMs: Math.max(1, deadline - Date.now()),
        killGraceMs: opts.config.killGraceMs,
        tail,
        onStdout: extra.onStdout,
        onStderr: extra.onStderr,
        stdin: extra.stdin,
        tailStdout: extra.tailStdout,
        signal: opts.signal,
      }),
  };
}

function numbers(o: OperationOutcome): Partial<RunReport> {
  const out: Partial<RunReport> = {};
  if (o.bytesAdded !== undefined) out.bytesAdded = o.bytesAdded;
  if (o.bytesTotal !== undefined) out.bytesTotal = o.bytesTotal;
  if (o.files !== undefined) out.files = o.files;
  if (o.snapshotId !== undefined) out.snapshotId = o.snapshotId;
  return out;
}

/** Spools a message; one that cannot be stored is noted, and the job goes on (its backup still matters). */
function record(opts: RunJobOptions, msg: Parameters<Spool['append']>[0], unrecorded: SpoolWriteError[]): void {
  try {
    opts.spool.append(msg);
  } catch (err) {
    if (!(err instanceof SpoolWriteError)) throw err;
    unrecorded.push(err);
    return;
  }
  opts.onSpooled?.();
}

export function lastRunFile(stateDir: string, job: string, operation: Operation): string {
  return join(stateDir, 'runs', operation === 'backup' ? `${job}.json` : `${job}.${operation}.json`);
}

// The last run of each job and operation, kept locally so `lifeline-agent status` works
// without the collector. Best effort: the spooled report is what counts.
function saveLastRun(stateDir: string, report: RunReport, log: Logger): void {
  const file = lastRunFile(stateDir, report.job, report.operation);
  const dir = dirname(file);
  const { logTail: _omit, ...summary } = report;
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    writeFileAtomic(file, JSON.stringify(summary), { fsync: false });
  } catch (err) {
    log.warn(`job ${report.job}: cannot save the last run for \`status\`: ${describeFsError(err, dir)}`);
  }
}
