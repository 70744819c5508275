import type { z } from 'zod';
import type { RunStatus } from '../../shared/protocol';
import type { LogTail } from '../log-tail';
import type { ProcessResult, ProcessSpec } from '../process-runner';
import type { JobConfig } from '../config';

/** What a driver gets for one operation: its job, a way to run programs, and the run's log. */
export interface DriverContext<O> {
  job: JobConfig;
  options: O;
  tail: LogTail;
  /** Runs a program with the job's timeout (what remains of it), env and the run's log tail. */
  exec(argv: readonly string[], extra?: Partial<Pick<ProcessSpec, 'env' | 'onStdout' | 'onStderr' | 'stdin' | 'cwd'>>): Promise<ProcessResult>;
  /** Environment for the tool: the host's, plus the job's env and secrets read from files. */
  env: NodeJS.ProcessEnv;
  scratchDir: string;
}

export interface BackupOutcome {
  status: RunStatus;
  exitCode: number | null;
  signal?: string | null;
  error?: string;
  bytesAdded?: number;
  bytesTotal?: number;
  files?: number;
  snapshotId?: string;
}

/** The zod namespace, handed to drivers by the config loader (see `Driver.options`). */
export type Zod = typeof z;

/** One backup tool. Adding a driver is one new module and one line in the registry. */
export interface Driver<O = unknown> {
  name: string;
  /**
   * Schema of the options under the job key named after the driver. A factory taking zod, so
   * that driver modules import zod for types only and the daemon never loads it at run time.
   */
  options(z: Zod): z.ZodType<O>;
  backup(ctx: DriverContext<O>): Promise<BackupOutcome>;
}

/** Maps a finished process to a run status, honouring the tool's idea of a warning. */
export function outcomeFromProcess(result: ProcessResult, warningCodes: readonly number[] = []): BackupOutcome {
  if (result.spawnError) return { status: 'failure', exitCode: null, error: `cannot start: ${result.spawnError}` };
  if (result.timedOut) return { status: 'timeout', exitCode: result.exitCode, signal: result.signal, error: 'killed at its timeout' };
  if (result.exitCode === 0) return { status: 'success', exitCode: 0 };
  if (result.exitCode !== null && warningCodes.includes(result.exitCode)) return { status: 'warning', exitCode: result.exitCode };
  const error = result.signal ? `killed by ${result.signal}` : `exited with code ${result.exitCode}`;
  return { status: 'failure', exitCode: result.exitCode, signal: result.signal, error };
}
