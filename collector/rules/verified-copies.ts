import type { InventoryView, JobView, VerifyState } from './types';
import { isCopyJob } from './util';

// A snapshot whose verification failed (PBS verify) is no good copy. The jobs' `lastSuccess` is
// adjusted here once, where the evaluator gathers them, so the rules, the page, the API and the
// metrics all judge the same copies. Pure.

/** The newest listing with verification states of one asset at one target. */
export interface VerifiedListing {
  asset: string;
  target: string;
  /** The job whose inventory it is (any agent: a PVE host and the PBS itself may both list it). */
  job: JobView;
  inventory: InventoryView;
  states: readonly VerifyState[];
}

const keyOf = (j: JobView) => `${j.asset}\0${j.target.name}`;

/**
 * Per asset and target name: the newest inventory among the asset's copy jobs at that target
 * that carries verification states (any snapshot with one). Several jobs may list the same
 * snapshots (the guest's vzdump job on the PVE host, the backup group's job on the PBS): the
 * newest listing speaks for all of them.
 */
export function verifiedListings(jobs: readonly JobView[]): Map<string, VerifiedListing> {
  const out = new Map<string, VerifiedListing>();
  for (const j of jobs) {
    const inv = j.inventory;
    if (!inv || !isCopyJob(j)) continue;
    const states = inv.verified();
    if (!states) continue;
    const key = keyOf(j);
    const prev = out.get(key);
    if (!prev || inv.updatedAt > prev.inventory.updatedAt) out.set(key, { asset: j.asset, target: j.target.name, job: j, inventory: inv, states });
  }
  return out;
}

/** The index of the newest listed snapshot taken at or before `at` (all of them by default); -1 when none. */
export function newestAtOrBefore(times: readonly number[], at = Infinity, skip?: (i: number) => boolean): number {
  let best = -1;
  for (let i = 0; i < times.length; i++) {
    // NaN (an unparseable time) fails both comparisons.
    if (!(times[i] <= at) || skip?.(i)) continue;
    if (best < 0 || times[i] > times[best]) best = i;
  }
  return best;
}

/**
 * The newest good copy a backup that finished at `lastSuccess` leaves at a target, by the
 * listing: when the newest snapshot taken at or before it failed verification, the newest one
 * before it that did not fail (null: none), else `lastSuccess` itself.
 */
export function verifiedSuccess(listing: Pick<VerifiedListing, 'inventory' | 'states'>, lastSuccess: number): number | null {
  const { inventory: inv, states } = listing;
  const newest = newestAtOrBefore(inv.times, lastSuccess);
  if (newest < 0 || states[newest] !== 'failed') return lastSuccess;
  const good = newestAtOrBefore(inv.times, lastSuccess, (i) => states[i] === 'failed');
  return good < 0 ? null : inv.times[good];
}

/**
 * The jobs with `lastSuccess` as verification allows: for each copy job whose last success the
 * newest verified listing of its asset and target already covers (finished at or before the
 * listing), see verifiedSuccess. A backup newer than the listing is kept (not listed yet). Returns
 * the same array when nothing changes, else a copy with new views for the changed jobs. The
 * caller hands all the jobs of an asset together.
 */
export function withVerifiedCopies(jobs: JobView[]): JobView[] {
  const listings = verifiedListings(jobs);
  if (listings.size === 0) return jobs;
  let out: JobView[] | null = null;
  for (let i = 0; i < jobs.length; i++) {
    const j = jobs[i];
    if (j.lastSuccess === null || !isCopyJob(j)) continue;
    const listing = listings.get(keyOf(j));
    if (!listing || j.lastSuccess > listing.inventory.updatedAt) continue;
    const good = verifiedSuccess(listing, j.lastSuccess);
    if (good === j.lastSuccess) continue;
    // No good copy left: the RPO counts from the oldest backup listed, not from when this
    // collector first saw the job (that grace is for a new job, whose copies nobody has judged).
    const knownSince = good === null ? Math.min(j.knownSince, ...listing.inventory.times.filter((t) => Number.isFinite(t))) : j.knownSince;
    (out ??= [...jobs])[i] = { ...j, lastSuccess: good, knownSince };
  }
  return out ?? jobs;
}
