import type { RuleName, Severity, Tier } from './types';

// Each rule is either a "critical" problem (data is or may be unrecoverable) or a "warning"
// (something degrades or will go wrong). The asset's tier then scales it: tier 1 keeps it,
// tier 4 (regenerable) is always info, and warnings sit one step lower than critical ones.
const CRITICAL_RULES: ReadonlySet<RuleName> = new Set<RuleName>([
  'missed-run',
  'failed-run',
  'rpo',
  'verify-failed',
  'restore-drill-failed',
  'smart',
  'agent-silent',
  // Backup results are being lost on the agent.
  'cannot-spool',
  // A Proxmox guest with a tier and no enabled backup job: nothing to restore it from.
  'guest-not-covered',
  // PBS cannot read a datastore: every copy there may be gone, and no backup lands.
  'datastore-unavailable',
  // A link of a chain of copies carries no fresh copy on: assets lost a copy (often their off-site one).
  'copy-chain-broken',
]);
// The other Proxmox audit findings are warnings, scaled by the guest's tier (a guest without a
// tier as tier 2): 'guest-untiered' (its objective is unknown, not yet broken), 'guest-schedule-
// too-slow' (backups exist; the RPO rule raises the critical one when a copy is really too old;
// a schedule that cannot be checked is info), 'storage-undeclared' (copies exist, 3-2-1 cannot
// count them) and 'stale-snapshot' (storage and speed, not data, are at stake).
// 'snapshot-verify-failed' is a warning: the failed snapshot no longer counts as a copy, so the
// RPO and 3-2-1 rules raise the critical finding when it was the only fresh one.


const BY_TIER: Record<'critical' | 'warning', Record<Tier, Severity>> = {
  critical: { 1: 'critical', 2: 'critical', 3: 'warning', 4: 'info' },
  warning: { 1: 'warning', 2: 'warning', 3: 'info', 4: 'info' },
};

/** Whether the rule is one of the "critical problem" rules (before tier scaling). */
export function isCriticalRule(rule: RuleName): boolean {
  return CRITICAL_RULES.has(rule);
}

/** Severity of a finding of `rule` for an asset of `tier`. */
export function severityFor(rule: RuleName, tier: Tier): Severity {
  return BY_TIER[CRITICAL_RULES.has(rule) ? 'critical' : 'warning'][tier];
}

/** The one severity order: higher is worse. Findings sort worst first; routing's minSeverity and escalation compare with it. */
export const SEVERITY_RANK: Readonly<Record<Severity, number>> = Object.freeze({ info: 0, warning: 1, critical: 2 });

/** Worst first (for sort). */
export const worseFirst = (a: Severity, b: Severity): number => SEVERITY_RANK[b] - SEVERITY_RANK[a];
