import type { AssetState } from '../rules/asset-state';
import type { JobView } from '../rules/types';
import { humanDuration, isCopyJob } from '../rules/util';

const PENDING_FIRST = 'first backup pending';
const PENDING_OFFSITE = 'first off-site copy pending';

/**
 * What an asset still waits for rather than lacks: a copy job that has never finished a run
 * and was first seen less than an RPO ago is pending, as the 3-2-1 rule treats it (a new job,
 * a demo's first minute). Then "first backup pending" when no copy exists yet and every copy
 * job is pending; "first off-site copy pending" when an off-site one is. Empty otherwise.
 */
export function pendingReasons(state: AssetState, now: number): string[] {
  const pending = (j: JobView) => isCopyJob(j) && !j.derivedVia && j.lastSuccess === null && j.lastOutcome === null && now - j.knownSince < state.rpoMs;
  const copies = state.jobs.filter(isCopyJob);
  const out: string[] = [];
  if (state.ageMs === null && copies.length > 0 && copies.every(pending)) out.push(PENDING_FIRST);
  if (state.copies.offsite < 1 && copies.some((j) => j.target.location === 'offsite' && pending(j))) out.push(PENDING_OFFSITE);
  return out;
}

/**
 * Why an asset could not be brought back within its RPO and RTO from an off-site copy if its
 * host died now; empty when it could. The same fresh-copy test as the RPO and 3-2-1 rules
 * (asset-state.ts), so the page's verdict never disagrees with the alerts. Given `now`, what is
 * only pending (pendingReasons) is no risk.
 */
export function riskReasons(state: AssetState, now?: number): string[] {
  const reasons: string[] = [];
  const waiting = now === undefined ? [] : pendingReasons(state, now);
  if (state.ageMs === null) {
    if (!waiting.length) reasons.push('no good copy yet');
  } else if (!state.rpoOk) reasons.push(`newest copy ${humanDuration(state.ageMs)} old (RPO ${humanDuration(state.rpoMs)})`);
  if (state.ageMs !== null && state.copies.offsite < 1 && !waiting.includes(PENDING_OFFSITE)) reasons.push('no off-site copy within RPO');
  const drill = newestDrill(state.jobs);
  if (drill?.status === 'failure' || drill?.status === 'timeout') reasons.push('last restore drill failed');
  else if (drill?.durationMs != null && drill.durationMs > state.rtoMs) {
    reasons.push(`last restore drill took ${humanDuration(drill.durationMs)} (RTO ${humanDuration(state.rtoMs)})`);
  }
  return reasons;
}

/** The newest finished restore drill among the asset's jobs: the best evidence of the RTO. */
export function newestDrill(jobs: readonly JobView[]) {
  let best: JobView['lastRestoreTest'] = null;
  for (const j of jobs) {
    const d = j.lastRestoreTest;
    if (d && d.status !== 'running' && (best === null || d.startedAt > best.startedAt)) best = d;
  }
  return best;
}
