import type { AssetState } from '../rules/asset-state';
import type { JobView } from '../rules/types';
import { humanDuration } from '../rules/util';

/**
 * Why an asset could not be brought back within its RPO and RTO from an off-site copy if its
 * host died now; empty when it could. The same fresh-copy test as the RPO and 3-2-1 rules
 * (asset-state.ts), so the page's verdict never disagrees with the alerts.
 */
export function riskReasons(state: AssetState): string[] {
  const reasons: string[] = [];
  if (state.ageMs === null) reasons.push('no good copy yet');
  else if (!state.rpoOk) reasons.push(`newest copy ${humanDuration(state.ageMs)} old (RPO ${humanDuration(state.rpoMs)})`);
  if (state.ageMs !== null && state.copies.offsite < 1) reasons.push('no off-site copy within RPO');
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
