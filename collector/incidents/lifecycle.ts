import { SEVERITY_RANK, type Finding, type IncidentRow, type Severity, type Tier } from './types';

// What should change in the incidents table, and who should be told, given the open incidents,
// this evaluation's findings and one frozen `now`. Pure: the store applies the plan.

export interface LifecyclePolicy {
  /** Cadence of reminders while an incident lasts; 0 or less: never remind. */
  reminderMs: number;
  /**
   * Flap suppression. A finding opens an incident only once it has lasted this long
   * (`now - since >= flapMs`), and an incident resolves only after its finding has been absent
   * for this long (`now - lastSeenFailingAt >= flapMs`): a key flipping on every evaluation
   * keeps one incident open and sends nothing more than its reminders.
   */
  flapMs: number;
  /** True while notifications for this asset are silenced (undefined asset: findings without one). */
  muted: (asset?: string) => boolean;
  inMaintenance: (asset?: string) => boolean;
  tierOf: (finding: Finding) => Tier;
}

export interface NewIncident {
  finding: Finding;
  tier: Tier;
  /** False when muted or in maintenance: tracked, not announced (announced later, see `remind`). */
  notify: boolean;
}

export interface IncidentUpdate {
  id: number;
  severity: Severity;
  tier: Tier;
  title: string;
  detail: string;
  lastSeenFailingAt: number;
  /** The finding got worse (e.g. warning → critical): a previous acknowledgement no longer holds. */
  clearAck: boolean;
}

export interface PlannedResolve {
  incident: IncidentRow;
  /** Announce the resolution: the operator was told it opened, and it is not silenced now. */
  notify: boolean;
}

export interface PlannedReminder {
  incident: IncidentRow;
  /**
   * 'open' when the operator was never told (it opened while silenced and the silence ended),
   * 'reminder' otherwise. Either way `lastNotifiedAt` becomes now.
   */
  event: 'open' | 'reminder';
}

export interface IncidentPlan {
  open: NewIncident[];
  update: IncidentUpdate[];
  resolve: PlannedResolve[];
  remind: PlannedReminder[];
}

export function planIncidents(open: readonly IncidentRow[], findings: readonly Finding[], now: number, policy: LifecyclePolicy): IncidentPlan {
  const plan: IncidentPlan = { open: [], update: [], resolve: [], remind: [] };
  const silenced = (asset: string | null | undefined) => {
    const a = asset ?? undefined;
    return policy.muted(a) || policy.inMaintenance(a);
  };

  // Rules should not repeat a key; if one does, the most severe finding wins.
  const byKey = new Map<string, Finding>();
  for (const f of findings) {
    const prev = byKey.get(f.key);
    if (!prev || SEVERITY_RANK[f.severity] > SEVERITY_RANK[prev.severity]) byKey.set(f.key, f);
  }
  const openByKey = new Map(open.filter((i) => i.resolvedAt === null).map((i) => [i.key, i]));

  for (const incident of openByKey.values()) {
    const finding = byKey.get(incident.key);
    const quiet = silenced(incident.asset);
    if (!finding) {
      if (now - incident.lastSeenFailingAt >= policy.flapMs) {
        plan.resolve.push({ incident, notify: incident.lastNotifiedAt !== null && !quiet });
      }
      continue;
    }
    const escalated = SEVERITY_RANK[finding.severity] > SEVERITY_RANK[incident.severity];
    plan.update.push({
      id: incident.id,
      // Severity only rises while an incident is open, so a flapping warning/critical pair
      // does not re-announce the critical every other pass.
      severity: escalated ? finding.severity : incident.severity,
      tier: policy.tierOf(finding),
      title: finding.title,
      detail: finding.detail,
      lastSeenFailingAt: now,
      clearAck: escalated && incident.ackedAt !== null,
    });
    if (quiet) continue;
    const acked = incident.ackedAt !== null && !escalated;
    if (incident.lastNotifiedAt === null) {
      if (!acked) plan.remind.push({ incident, event: 'open' });
    } else if (!acked && (escalated || (policy.reminderMs > 0 && now - incident.lastNotifiedAt >= policy.reminderMs))) {
      plan.remind.push({ incident, event: 'reminder' });
    }
  }

  for (const finding of byKey.values()) {
    if (openByKey.has(finding.key)) continue;
    if (now - finding.since < policy.flapMs) continue;
    plan.open.push({ finding, tier: policy.tierOf(finding), notify: !silenced(finding.asset) });
  }
  return plan;
}
