import type { Retention } from './retention-policy';

export type RetentionSemantics = 'restic' | 'borg';

export interface RetentionDecision {
  keep: { id: string; reasons: string[] }[];
  remove: { id: string }[];
}

const RULES = ['last', 'hourly', 'daily', 'weekly', 'monthly', 'yearly'] as const;

/** True when the policy keeps at least one snapshot by some rule; callers refuse to prune otherwise. */
export function hasKeepRule(policy: Retention): boolean {
  return RULES.some((r) => (policy[r] ?? 0) > 0);
}

/** Placeholder (keeps everything) until the real implementation lands; signature is final. */
export function planRetention(
  snapshots: readonly { id: string; time: Date }[],
  policy: Retention,
  opts: { semantics?: RetentionSemantics; timeZone?: string } = {},
): RetentionDecision {
  void policy;
  void opts;
  return { keep: snapshots.map((s) => ({ id: s.id, reasons: ['no keep rule: keeping everything'] })), remove: [] };
}
