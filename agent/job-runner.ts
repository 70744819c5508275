import { randomUUID } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Operation, RunMessage, Unsequenced } from '../shared/protocol';
import type { AgentConfig, JobConfig } from './config';
import { DRIVERS } from './drivers';
import type { Driver, DriverContext, OperationOutcome } from './drivers/types';
import { acquireLock } from './file-lock';
import { buildJobEnv } from './job-env';
import { LogTail } from './log-tail';
import { runProcess } from './process-runner';
import type { Spool } from './spool';

export type Trigger = 'schedule' | 'manual';
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
export async function runJob(job: JobConfig, opts: RunJobOptions): Promise<RunReport[]> {
  const task = opts.task ?? 'backup';
  const lockDir = join(opts.config.stateDir, 'locks');
  mkdirSync(lockDir, { recursive: true, mode: 0o700 });
  const lock = acquireLock(join(lockDir, `${job.name}.lock`));
  if (!lock) {
    const now = new Date().toISOString();
    const skipped: RunReport = {
      kind: 'run', runId: randomUUID(), job: job.name, operation: task === 'inventory' ? 'backup' : task, trigger: opts.trigger,
      startedAt: now, finishedAt: now, status: 'skipped', exitCode: null, durationMs: 0,
      error: 'another operation of this job is still in progress', logTail: '',
    };
    record(opts, skipped);
    return [skipped];
  }
  try {
    const driver = DRIVERS[job.driver];
    const reports: RunReport[] = [];
    if (task === 'inventory') {
      await sendInventory(job, driver, opts);
      return reports;
    }
    const first = await operate(job, driver, task, opts);
    reports.push(first);
    if (task === 'backup' && (first.status === 'success' || first.status === 'warning')) {
      if (driver.prune) reports.push(await operate(job, driver, 'prune', opts));
    }
    if ((task === 'backup' || task === 'prune') && driver.inventory) await sendInventory(job, driver, opts);
    return reports;
  } finally {
    lock.release();
  }
}

/** One operation: run-start, the driver's method, run (with the redacted log tail). */
async function operate(job: JobConfig, driver: Driver<unknown>, operation: Operation, opts: RunJobOptions): Promise<RunReport> {
  const runId = randomUUID();
  const startedAt = new Date();
  record(opts, { kind: 'run-start', runId, job: job.name, operation, trigger: opts.trigger, startedAt: startedAt.toISOString() });
  const tail = new LogTail();
  const scratchDir = join(opts.config.stateDir, 'scratch', `${job.name}-${runId}`);
  let outcome: OperationOutcome;
  try {
    const ctx = context(job, opts, tail, scratchDir);
    const method = operation === 'backup' ? driver.backup : operation === 'prune' ? driver.prune : operation === 'verify' ? driver.verify : driver.restoreTest;
    outcome = method
      ? await method.call(driver, ctx)
      : { status: 'failure', exitCode: null, error: `the ${job.driver} driver cannot ${operation}` };
  } catch (err) {
    tail.line(`[lifeline] ${(err as Error).message}`);
    outcome = { status: 'failure', exitCode: null, error: (err as Error).message };
  } finally {
    rmSync(scratchDir, { recursive: true, force: true });
  }
  const finishedAt = new Date();
  const report: RunReport = {
    kind: 'run', runId, job: job.name, operation, trigger: opts.trigger,
    startedAt: startedAt.toISOString(), finishedAt: finishedAt.toISOString(),
    status: outcome.status, exitCode: outcome.exitCode, signal: outcome.signal ?? null,
    durationMs: finishedAt.getTime() - startedAt.getTime(),
    ...numbers(outcome),
    ...(outcome.error ? { error: tail.redactText(outcome.error).slice(0, 4096) } : {}),
    logTail: tail.toString(),
  };
  record(opts, report);
  saveLastRun(opts.config.stateDir, report);
  return report;
}

async function sendInventory(job: JobConfig, driver: Driver<unknown>, opts: RunJobOptions): Promise<void> {
  if (!driver.inventory) return;
  const tail = new LogTail();
  try {
    const snapshots = await driver.inventory(context(job, opts, tail, join(opts.config.stateDir, 'scratch', `${job.name}-inventory`)));
    record(opts, { kind: 'inventory', job: job.name, target: job.target.name, snapshots });
  } catch (err) {
    // An inventory that cannot be read is reported by the next run's failure; keep the old one.
    process.stderr.write(`lifeline-agent warn: job ${job.name}: cannot list the snapshots at ${job.target.name}: ${tail.redactText((err as Error).message)}\n`);
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

function record(opts: RunJobOptions, msg: Parameters<Spool['append']>[0]): void {
  opts.spool.append(msg);
  opts.onSpooled?.();
}

// The last run of each job and operation, kept locally so `lifeline-agent status` works
// without the collector.
function saveLastRun(stateDir: string, report: RunReport): void {
  const dir = join(stateDir, 'runs');
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const file = join(dir, report.operation === 'backup' ? `${report.job}.json` : `${report.job}.${report.operation}.json`);
  const { logTail: _omit, ...summary } = report;
  writeFileSync(`${file}.tmp`, JSON.stringify(summary));
  renameSync(`${file}.tmp`, file);
}
