export interface BackoffOptions {
  baseMs: number;
  capMs: number;
  /** A number in [0, 1); injectable so tests are exact. */
  random?: () => number;
}

/**
 * Delay before retry number `attempt` (1 = first retry): "full jitter", uniform in
 * [0, min(capMs, baseMs · 2^(attempt-1))), so many agents that lost the collector at the same
 * moment do not come back in lockstep.
 */
export function nextDelay(attempt: number, { baseMs, capMs, random = Math.random }: BackoffOptions): number {
  const n = attempt > 1 ? Math.floor(attempt) : 1; // also NaN → 1
  const ceiling = Math.min(capMs, baseMs * 2 ** (n - 1));
  return Math.floor(random() * ceiling);
}
