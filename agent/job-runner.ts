import { randomUUID } from 'node:crypto';
import { mkdirSync, rmSync, writeFileSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import type { RunMessage, Unsequenced } from '../shared/protocol';
import type { AgentConfig, JobConfig } from './config';
import { DRIVERS } from './drivers';
import type { BackupOutcome } from './drivers/types';
import { acquireLock } from './file-lock';
import { buildJobEnv } from './job-env';
import { LogTail } from './log-tail';
import { runProcess } from './process-runner';
import type { Spool } from './spool';

export type Trigger = 'schedule' | 'manual';
export type RunReport = Unsequenced<RunMessage>;

export interface RunJobOptions {
  config: AgentConfig;
  spool: Spool;
  trigger: Trigger;
  /** Called after each message is spooled (the daemon wakes its sender). */
  onSpooled?: () => void;
  signal?: AbortSignal;
}

/**
 * One run of one job: lock, run-start, the driver's backup, run. At most one run per job at a
 * time across processes (daemon and `lifeline-agent run`); a held lock makes this run `skipped`.
 */
export async function runJob(job: JobConfig, opts: RunJobOptions): Promise<RunReport> {
  const { config, spool } = opts;
  const runId = randomUUID();
  const startedAt = new Date();
  const lockDir = join(config.stateDir, 'locks');
  mkdirSync(lockDir, { recursive: true, mode: 0o700 });
  const lock = acquireLock(join(lockDir, `${job.name}.lock`));
  if (!lock) {
    const skipped: RunReport = {
      kind: 'run', runId, job: job.name, trigger: opts.trigger,
      startedAt: startedAt.toISOString(), finishedAt: startedAt.toISOString(),
      status: 'skipped', exitCode: null, durationMs: 0,
      error: 'the previous run of this job is still in progress', logTail: '',
    };
    record(opts, skipped);
    return skipped;
  }
  try {
    record(opts, { kind: 'run-start', runId, job: job.name, trigger: opts.trigger, startedAt: startedAt.toISOString() });
    const tail = new LogTail();
    const scratchDir = join(config.stateDir, 'scratch', `${job.name}-${runId}`);
    const outcome = await execute(job, config, tail, scratchDir, opts.signal);
    rmSync(scratchDir, { recursive: true, force: true });
    const finishedAt = new Date();
    const report: RunReport = {
      kind: 'run', runId, job: job.name, trigger: opts.trigger,
      startedAt: startedAt.toISOString(), finishedAt: finishedAt.toISOString(),
      status: outcome.status, exitCode: outcome.exitCode, signal: outcome.signal ?? null,
      durationMs: finishedAt.getTime() - startedAt.getTime(),
      ...pick(outcome),
      ...(outcome.error ? { error: tail.redactText(outcome.error).slice(0, 4096) } : {}),
      logTail: tail.toString(),
    };
    record(opts, report);
    saveLastRun(config.stateDir, report);
    return report;
  } finally {
    lock.release();
  }
}

async function execute(job: JobConfig, config: AgentConfig, tail: LogTail, scratchDir: string, signal?: AbortSignal): Promise<BackupOutcome> {
  const deadline = Date.now() + job.timeoutMs;
  try {
    const env = buildJobEnv(job, tail);
    const driver = DRIVERS[job.driver];
    return await driver.backup({
      job,
      options: job.options,
      tail,
      env,
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
          killGraceMs: config.killGraceMs,
          tail,
          onStdout: extra.onStdout,
          onStderr: extra.onStderr,
          stdin: extra.stdin,
          signal,
        }),
    });
  } catch (err) {
    tail.line(`[lifeline] ${(err as Error).message}`);
    return { status: 'failure', exitCode: null, error: (err as Error).message };
  }
}

function pick(o: BackupOutcome): Partial<RunReport> {
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

// The last run of each job, kept locally so `lifeline-agent status` works without the collector.
function saveLastRun(stateDir: string, report: RunReport): void {
  const dir = join(stateDir, 'runs');
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const file = join(dir, `${report.job}.json`);
  const { logTail: _omit, ...summary } = report;
  writeFileSync(`${file}.tmp`, JSON.stringify(summary));
  renameSync(`${file}.tmp`, file);
}

