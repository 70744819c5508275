import { spawn } from 'node:child_process';
import type { LogTail } from './log-tail';
import { armStop, killGroup } from './process-group';

export interface ProcessSpec {
  argv: readonly string[];
  env: NodeJS.ProcessEnv;
  cwd?: string;
  timeoutMs: number;
  killGraceMs: number;
  tail: LogTail;
  /** Called with each stdout chunk, for drivers that parse machine-readable output as it streams. */
  onStdout?: (chunk: Buffer) => void;
  onStderr?: (chunk: Buffer) => void;
  stdin?: 'ignore' | Buffer;
  /** false: stdout is only handed to onStdout (machine-readable progress), not kept in the tail. */
  tailStdout?: boolean;
  /** Aborting ends the whole process group, as a timeout does (the agent is stopping). */
  signal?: AbortSignal;
}

export interface ProcessResult {
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  timedOut: boolean;
  durationMs: number;
  /** Set when the program could not be started at all (not found, not executable). */
  spawnError?: string;
}

/**
 * Runs one program in its own process group (argv form, never a shell). Output streams into
 * the log tail; at the timeout the whole group gets SIGTERM, then SIGKILL after the grace
 * (agent/process-group.ts, shared with the dump-files pipeline).
 */
export function runProcess(spec: ProcessSpec): Promise<ProcessResult> {
  const started = performance.now();
  return new Promise((resolve) => {
    let child;
    try {
      child = spawn(spec.argv[0], spec.argv.slice(1), {
        env: spec.env,
        cwd: spec.cwd,
        detached: true, // own process group, so a timeout reaches the children too
        stdio: [spec.stdin instanceof Buffer ? 'pipe' : 'ignore', 'pipe', 'pipe'],
      });
    } catch (err) {
      resolve({ exitCode: null, signal: null, timedOut: false, durationMs: 0, spawnError: (err as Error).message });
      return;
    }
    if (spec.stdin instanceof Buffer) child.stdin!.end(spec.stdin);
    let exited: { code: number | null; signal: NodeJS.Signals | null } | null = null;
    let settled = false;
    const pgid = child.pid;
    const stopper = armStop({ ...spec, what: 'the process group', kill: (signal) => killGroup(pgid, signal) });

    const finish = (spawnError?: string) => {
      if (settled) return;
      settled = true;
      stopper.clear();
      resolve({
        exitCode: exited?.code ?? null,
        signal: exited?.signal ?? null,
        timedOut: stopper.timedOut,
        durationMs: Math.round(performance.now() - started),
        spawnError,
      });
    };

    child.stdout!.on('data', (chunk: Buffer) => {
      if (spec.tailStdout !== false) spec.tail.write(chunk);
      spec.onStdout?.(chunk);
    });
    child.stderr!.on('data', (chunk: Buffer) => {
      spec.tail.write(chunk);
      spec.onStderr?.(chunk);
    });
    child.on('error', (err) => {
      spec.tail.line(`[lifeline] cannot start ${spec.argv[0]}: ${err.message}`);
      finish(err.message);
    });
    child.on('exit', (code, signal) => {
      exited = { code, signal };
      // Leftover background children would keep the pipes open: end the whole group.
      killGroup(pgid, 'SIGTERM');
      setTimeout(() => {
        killGroup(pgid, 'SIGKILL');
        finish();
      }, Math.min(spec.killGraceMs, 2000)).unref();
    });
    child.on('close', () => finish());
  });
}
