import type { Retention } from './retention-policy';

export type TierId = 1 | 2 | 3 | 4;

export interface RetryPolicy {
  /** Further attempts after a failed scheduled backup (0: none). */
  attempts: number;
  /** Wait before each further attempt. */
  delayMs: number;
}

export interface TierPolicy {
  name: string;
  schedule: string;
  retention: Retention;
  rpoMs: number;
  rtoMs: number;
  retry: RetryPolicy;
}

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

// Defaults from ADR-005 (seeds/001): tier 1 daily, 2 weekly, 3 monthly on the 1st Sunday,
// 4 quarterly on the 1st Sunday of Jan/Apr/Jul/Oct. Tier 4 keeps "2 quarterly" (about six
// months): GFS has no quarterly bucket, and 6 monthly buckets over quarterly runs keep 2.
// ADR-005 answers "backup jobs fail silently" with automated retries: tiers 1–2 retry a failed
// run once after 15 minutes rather than waiting a day (or a week) for the next one.
const RETRY_ONCE = { attempts: 1, delayMs: 15 * 60_000 };
const NO_RETRY = { attempts: 0, delayMs: 15 * 60_000 };
export const DEFAULT_TIERS: Readonly<Record<TierId, TierPolicy>> = Object.freeze({
  1: { name: 'critical production', schedule: '0 2 * * *', retention: { daily: 30 }, rpoMs: 24 * HOUR, rtoMs: 4 * HOUR, retry: RETRY_ONCE },
  2: { name: 'standard application', schedule: '0 3 * * 0', retention: { weekly: 12 }, rpoMs: 7 * DAY, rtoMs: 24 * HOUR, retry: RETRY_ONCE },
  3: { name: 'development/testing', schedule: '0 4 * * SUN#1', retention: { monthly: 3 }, rpoMs: 30 * DAY, rtoMs: 48 * HOUR, retry: NO_RETRY },
  4: { name: 'cache/regenerable', schedule: '0 5 * 1,4,7,10 SUN#1', retention: { monthly: 6 }, rpoMs: 90 * DAY, rtoMs: 7 * DAY, retry: NO_RETRY },
});

export const TIER_IDS: readonly TierId[] = [1, 2, 3, 4];

export type TierOverrides = Partial<Record<TierId, Partial<TierPolicy>>>;

/** Built-in tier policies with the config's overrides laid over them. */
export function resolveTiers(overrides: TierOverrides = {}): Record<TierId, TierPolicy> {
  const out = {} as Record<TierId, TierPolicy>;
  for (const id of TIER_IDS) out[id] = { ...DEFAULT_TIERS[id], ...(overrides[id] ?? {}) };
  return out;
}
