import type { RunStatus } from '../shared/protocol';
import { previousRunMs } from '../shared/schedule';
import type { RetryPolicy } from '../shared/tiers';

// When the daemon runs a backup outside its schedule: a retry of a failed attempt, or a catch-up
// of a run missed while the host or the agent was down. Pure functions of data and `now`.

/**
 * How long to wait before the next attempt after attempt number `attempt` (1 = the scheduled run)
 * ended as `outcome`; null when there is none: it did not fail, retrying cannot help (a
 * configuration error), or the attempts are used up.
 */
export function retryDelay(policy: RetryPolicy, attempt: number, outcome: { status: RunStatus; permanent?: boolean }): number | null {
  if (outcome.status !== 'failure' && outcome.status !== 'timeout') return null;
  if (outcome.permanent) return null;
  if (attempt > policy.attempts) return null;
  return policy.delayMs;
}

/** The newest backup attempt of a job this host remembers (agent/state runs/JOB.json). */
export interface LastAttempt {
  startedAt: string;
  status: RunStatus;
  /** Set when it failed and a further attempt was planned. */
  retryAt?: string;
  scheduledFor?: string;
}

/**
 * The scheduled slot (epoch ms) a catch-up run should make up for, or null. A slot counts as
 * missed when the newest attempt began before it (the host, or the agent, was down at that
 * time), or when a planned retry never happened; like a systemd timer with `Persistent=true`,
 * only the newest missed slot is made up, never a backlog, and a job this host never ran waits
 * for its schedule. `minAgeMs` leaves a slot to the scheduler that fires it on time.
 */
export function catchUpSlot(schedule: string, last: LastAttempt | null, now: number, minAgeMs: number, timezone?: string): number | null {
  if (!last) return null;
  const slot = previousRunMs(schedule, now - minAgeMs, timezone);
  if (slot === null) return null;
  const started = Date.parse(last.startedAt);
  if (Number.isNaN(started)) return null;
  if (started < slot) return slot;
  const failed = last.status === 'failure' || last.status === 'timeout';
  const retryAt = last.retryAt ? Date.parse(last.retryAt) : NaN;
  if (failed && retryAt + minAgeMs <= now) return last.scheduledFor ? Date.parse(last.scheduledFor) : slot;
  return null;
}
