import { agentSilent } from './agent-silent';
import { agentSpool } from './agent-spool';
import { anomalies } from './anomalies';
import { capacity } from './capacity';
import { clockSkew } from './clock-skew';
import { copyChain, copyChainCheckAt } from './copy-chain';
import { datastoreCapacity } from './datastore-capacity';
import { failedRun, failedRunCheckAt } from './failed-run';
import { guestCoverage } from './guest-coverage';
import { missedRun, missedRunCheckAt } from './missed-run';
import { restoreDrill, restoreDrillCheckAt } from './restore-drill';
import { retentionAudit, retentionAuditCheckAt } from './retention-audit';
import { rpo, rpoCheckAt } from './rpo';
import { runningTooLong, runningTooLongCheckAt } from './running-too-long';
import { smart } from './smart';
import { snapshotVerifyFailed } from './snapshot-verify';
import { staleSnapshot } from './stale-snapshot';
import { storageUndeclared } from './storage-undeclared';
import { threeTwoOne, threeTwoOneCheckAt } from './three-two-one';
import { worseFirst } from './severity';
import type { EvaluationInput, Finding, JobView, RuleEntry } from './types';
import { verification, verificationCheckAt } from './verification';
import { zfsPool } from './zfs-pool';

export type * from './types';
export { DEFAULT_RULES_CONFIG } from './types';
export { severityFor } from './severity';

/**
 * Every rule module, by name. Adding a rule is one file and one line here: a job rule whose answer
 * changes with time alone names its nextCheckAt (the evaluator looks at the job again then); a
 * host rule reads every agent and runs on every pass.
 */
export const RULES: Readonly<Record<string, RuleEntry>> = Object.freeze({
  'missed-run': { check: missedRun, nextCheckAt: missedRunCheckAt },
  'running-too-long': { check: runningTooLong, nextCheckAt: runningTooLongCheckAt },
  'failed-run': { check: failedRun, nextCheckAt: failedRunCheckAt },
  rpo: { check: rpo, nextCheckAt: rpoCheckAt },
  'retention-audit': { check: retentionAudit, nextCheckAt: retentionAuditCheckAt },
  verification: { check: verification, nextCheckAt: verificationCheckAt },
  'restore-drill': { check: restoreDrill, nextCheckAt: restoreDrillCheckAt },
  capacity: { check: capacity, host: true },
  smart: { check: smart, host: true },
  'agent-silent': { check: agentSilent, host: true },
  'clock-skew': { check: clockSkew, host: true },
  'agent-spool': { check: agentSpool, host: true },
  anomalies: { check: anomalies },
  'three-two-one': { check: threeTwoOne, nextCheckAt: threeTwoOneCheckAt },
  'guest-coverage': { check: guestCoverage, host: true },
  'storage-undeclared': { check: storageUndeclared, host: true },
  'stale-snapshot': { check: staleSnapshot, host: true },
  'datastore-capacity': { check: datastoreCapacity, host: true },
  'snapshot-verify': { check: snapshotVerifyFailed },
  'copy-chain': { check: copyChain, nextCheckAt: copyChainCheckAt },
  'zfs-pool': { check: zfsPool, host: true },
});

/** Rules about a whole host (every agent, its Proxmox and PBS views; jobs only for what they are). */
export const HOST_RULES: readonly string[] = Object.freeze(Object.keys(RULES).filter((name) => RULES[name].host));

const DEADLINES = Object.values(RULES).flatMap((r) => (r.nextCheckAt ? [r.nextCheckAt] : []));

/** When any rule's answer about the job can next change by time alone (see NextCheckAt); Infinity: never. */
export function nextCheckAt(job: JobView, input: EvaluationInput, now: number): number {
  let at = Infinity;
  for (const due of DEADLINES) {
    const t = due(job, input, now);
    if (t > now && t < at) at = t;
  }
  return at;
}

export function sortFindings(all: Finding[]): Finding[] {
  return all.sort((a, b) => worseFirst(a.severity, b.severity) || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
}

/** All findings for the input at `now`, most severe first, then by key (deterministic). */
export function evaluate(input: EvaluationInput, now: number, only?: 'host' | 'jobs'): Finding[] {
  const rules = Object.values(RULES).filter((r) => only === undefined || Boolean(r.host) === (only === 'host'));
  return sortFindings(rules.flatMap((r) => r.check(input, now)));
}
