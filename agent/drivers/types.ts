import type { z } from 'zod';
import type { RunStatus } from '../../shared/protocol';
import type { Retention } from '../../shared/retention-policy';
import type { LogTail } from '../log-tail';
import type { ProcessResult, ProcessSpec } from '../process-runner';
import type { JobConfig, ProxmoxConfig } from '../config';

export type ExecOptions = Partial<Pick<ProcessSpec, 'env' | 'onStdout' | 'onStderr' | 'stdin' | 'cwd' | 'tailStdout'>>;

/** What a driver gets for one operation: its job, a way to run programs, and the run's log. */
export interface DriverContext<O> {
  job: JobConfig;
  options: O;
  /** The job's retention policy (its own, else its tier's). */
  retention: Retention;
  tail: LogTail;
  /**
   * Runs a program (argv form, never a shell) with the job's timeout (what remains of it), the
   * job's env and the run's log tail; stdin is /dev/null unless given, so no tool can prompt.
   */
  exec(argv: readonly string[], extra?: ExecOptions): Promise<ProcessResult>;
  /** Environment for the tool: the host's, plus the job's env and secrets read from envFiles. */
  env: NodeJS.ProcessEnv;
  /** Registers a value (e.g. a password read from a file) to be redacted from logs and errors. */
  secret(value: string): void;
  /** A private empty directory for this run (created on first use, removed afterwards). */
  readonly scratchDir: string;
  /** For drivers that spawn on their own (pipelines): aborted when the agent stops. */
  signal?: AbortSignal;
  /** SIGTERM → SIGKILL delay for process groups the driver ends itself. */
  killGraceMs: number;
  /** On a Proxmox VE host (agent.yaml's `proxmox:` section): its node and tools, and the agent's state directory. */
  proxmox?: { config: ProxmoxConfig; stateDir: string };
}

/** The result of one operation (backup, prune, verify, restore test), as reported in its run. */
export interface OperationOutcome {
  status: RunStatus;
  exitCode: number | null;
  signal?: string | null;
  error?: string;
  bytesAdded?: number;
  bytesTotal?: number;
  files?: number;
  snapshotId?: string;
  /** Retrying cannot help: a configuration error (the program cannot start, a secret file is unreadable). */
  permanent?: boolean;
  /**
   * What the run measured, when the operation does more than that: a restore drill's time until
   * the guest answered, without destroying it afterwards (the collector holds it against the RTO).
   * Default: the whole operation.
   */
  durationMs?: number;
}

/** One copy at the target, as the tool itself lists it. */
export interface SnapshotInfo {
  id: string;
  /** ISO 8601 with offset. */
  time: string;
  bytes?: number;
  /** Its last verification's state, when the tool keeps one (PBS). */
  verified?: 'ok' | 'failed';
  /** Protected from pruning (PBS). */
  protected?: boolean;
}

/** The zod namespace, handed to drivers by the config loader (see `Driver.options`). */
export type Zod = typeof z;

/**
 * One backup tool. Adding a driver is one new module and one line in the registry. Only
 * `backup` is required; the other operations are offered when the tool can do them.
 */
export interface Driver<O = unknown> {
  name: string;
  /**
   * Schema of the options under the job key named after the driver. A factory taking zod, so
   * that driver modules import zod for types only and the daemon never loads it at run time.
   */
  options(z: Zod): z.ZodType<O>;
  /**
   * Files holding secrets that the options name (password files, option files), with the option
   * key for error messages: checked readable when the config loads, their contents redacted.
   */
  secretFiles?(options: O): { key: string; path: string }[];
  /**
   * The non-secret facts a restore by hand needs (repository, password *file*, database, dump
   * directory…), sent in the catalog for the collector's restore runbook: never a credential.
   */
  restoreFacts?(options: O, job?: Pick<JobConfig, 'name' | 'asset'>): Record<string, string>;
  /**
   * Checks across the job's keys and the rest of the config that the options schema cannot make
   * (the job's name or asset, a config section the driver needs): problems with their path below
   * the job (`['asset']`, `['vzdump', 'vmid']`).
   */
  checkJob?(job: Readonly<Record<string, unknown>>, options: O, config: { proxmox: boolean }): { path: PropertyKey[]; message: string }[];
  backup(ctx: DriverContext<O>): Promise<OperationOutcome>;
  /** The snapshots/archives/dumps that exist at the target for this job, newest first or any order. */
  inventory?(ctx: DriverContext<O>): Promise<SnapshotInfo[]>;
  /** Applies `ctx.retention` with the tool's own prune. */
  prune?(ctx: DriverContext<O>): Promise<OperationOutcome>;
  /** Integrity check of the repository/archive. */
  verify?(ctx: DriverContext<O>): Promise<OperationOutcome>;
  /** Restores the newest copy (or a sample of it) into `ctx.scratchDir` and checks it. */
  restoreTest?(ctx: DriverContext<O>): Promise<OperationOutcome>;
}

/** Maps a finished process to a run status, honouring the tool's idea of a warning. */
export function outcomeFromProcess(result: ProcessResult, warningCodes: readonly number[] = []): OperationOutcome {
  if (result.spawnError) return { status: 'failure', exitCode: null, error: `cannot start: ${result.spawnError}`, permanent: true };
  if (result.timedOut) return { status: 'timeout', exitCode: result.exitCode, signal: result.signal, error: 'killed at its timeout' };
  if (result.exitCode === 0) return { status: 'success', exitCode: 0 };
  if (result.exitCode !== null && warningCodes.includes(result.exitCode)) return { status: 'warning', exitCode: result.exitCode };
  const error = result.signal ? `killed by ${result.signal}` : `exited with code ${result.exitCode}`;
  return { status: 'failure', exitCode: result.exitCode, signal: result.signal, error };
}
