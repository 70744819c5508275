import type { LogTail } from './log-tail';

// What every program the agent starts shares (agent/process-runner.ts for one program, the
// dump-files pipeline for several): each runs in its own process group, so a signal reaches its
// children too; at the timeout, or when the agent stops, SIGTERM goes to every group and SIGKILL
// after the kill grace.

/** Signals a whole process group; a group already gone is fine. */
export function killGroup(pid: number | undefined, signal: NodeJS.Signals): void {
  if (pid === undefined) return;
  try {
    process.kill(-pid, signal);
  } catch {
    // ESRCH: the group is already gone.
  }
}

export interface StopOptions {
  timeoutMs: number;
  killGraceMs: number;
  tail: LogTail;
  /** Aborting stops the programs as a timeout does (the agent is stopping). */
  signal?: AbortSignal;
  /** What the log lines call the programs: "the process group", "the pipeline". */
  what: string;
  /** Sends a signal to every group. */
  kill: (signal: NodeJS.Signals) => void;
}

export interface Stopper {
  readonly timedOut: boolean;
  /** The programs have ended: no more timers or signals. */
  clear(): void;
}

/** Arms the timeout and the abort for a set of process groups, with the escalation to SIGKILL. */
export function armStop(o: StopOptions): Stopper {
  let timedOut = false;
  let killTimer: NodeJS.Timeout | undefined;
  const stop = (why: string) => {
    o.tail.line(`[lifeline] ${why}: sending SIGTERM to ${o.what}`);
    o.kill('SIGTERM');
    killTimer ??= setTimeout(() => {
      o.tail.line('[lifeline] still running after the grace period: sending SIGKILL');
      o.kill('SIGKILL');
    }, o.killGraceMs);
  };
  const timer = setTimeout(() => {
    timedOut = true;
    stop(`timeout after ${Math.round(o.timeoutMs / 1000)}s`);
  }, Math.max(1, o.timeoutMs));
  const onAbort = () => stop('the agent is stopping');
  o.signal?.addEventListener('abort', onAbort, { once: true });
  return {
    get timedOut() {
      return timedOut;
    },
    clear() {
      clearTimeout(timer);
      clearTimeout(killTimer);
      o.signal?.removeEventListener('abort', onAbort);
    },
  };
}
