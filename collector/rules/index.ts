import { agentSilent } from './agent-silent';
import { agentSpool } from './agent-spool';
import { anomalies } from './anomalies';
import { capacity } from './capacity';
import { clockSkew } from './clock-skew';
import { copyChain } from './copy-chain';
import { datastoreCapacity } from './datastore-capacity';
import { failedRun } from './failed-run';
import { guestCoverage } from './guest-coverage';
import { missedRun } from './missed-run';
import { restoreDrill } from './restore-drill';
import { retentionAudit } from './retention-audit';
import { rpo } from './rpo';
import { runningTooLong } from './running-too-long';
import { smart } from './smart';
import { snapshotVerifyFailed } from './snapshot-verify';
import { staleSnapshot } from './stale-snapshot';
import { storageUndeclared } from './storage-undeclared';
import { threeTwoOne } from './three-two-one';
import { worseFirst } from './severity';
import type { EvaluationInput, Finding, Rule } from './types';
import { verification } from './verification';

export type * from './types';
export { DEFAULT_RULES_CONFIG } from './types';
export { severityFor } from './severity';

/** Every rule module, by name. Adding a rule is one file and one line here. */
export const RULES: Readonly<Record<string, Rule>> = Object.freeze({
  'missed-run': missedRun,
  'running-too-long': runningTooLong,
  'failed-run': failedRun,
  rpo,
  'retention-audit': retentionAudit,
  verification,
  'restore-drill': restoreDrill,
  capacity,
  smart,
  'agent-silent': agentSilent,
  'clock-skew': clockSkew,
  'agent-spool': agentSpool,
  anomalies,
  'three-two-one': threeTwoOne,
  'guest-coverage': guestCoverage,
  'storage-undeclared': storageUndeclared,
  'stale-snapshot': staleSnapshot,
  'datastore-capacity': datastoreCapacity,
  'snapshot-verify': snapshotVerifyFailed,
  'copy-chain': copyChain,
});

/**
 * Rules about a whole host: they read every agent (and its Proxmox view), and jobs only for what
 * they are (tier, asset, schedule), never their history. They run on every pass, over all agents,
 * and their findings are replaced as a whole each time.
 */
export const HOST_RULES: readonly string[] = Object.freeze([
  'capacity',
  'smart',
  'agent-silent',
  'clock-skew',
  'agent-spool',
  'guest-coverage',
  'storage-undeclared',
  'stale-snapshot',
  'datastore-capacity',
]);

export function sortFindings(all: Finding[]): Finding[] {
  return all.sort((a, b) => worseFirst(a.severity, b.severity) || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
}

/** All findings for the input at `now`, most severe first, then by key (deterministic). */
export function evaluate(input: EvaluationInput, now: number, only?: 'host' | 'jobs'): Finding[] {
  const rules = Object.entries(RULES).filter(([name]) => only === undefined || HOST_RULES.includes(name) === (only === 'host'));
  return sortFindings(rules.flatMap(([, rule]) => rule(input, now)));
}
