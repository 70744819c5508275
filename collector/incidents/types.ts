// Shapes shared by the incident lifecycle (pure) and its store (SQLite).

// The findings come from the pure rules; one definition of their shape.
export type { Finding, Severity, Tier } from '../rules/types';
import type { Severity, Tier } from '../rules/types';

/** One row of the incidents table. Times are epoch ms. */
export interface IncidentRow {
  id: number;
  key: string;
  rule: string;
  severity: Severity;
  agent: string | null;
  job: string | null;
  asset: string | null;
  target: string | null;
  tier: Tier;
  title: string;
  detail: string;
  openedAt: number;
  since: number;
  lastSeenFailingAt: number;
  resolvedAt: number | null;
  /** null while the operator has never been told (it opened muted or in maintenance). */
  lastNotifiedAt: number | null;
  reminders: number;
  ackedAt: number | null;
  ackedBy: string | null;
}

export { SEVERITY_RANK } from '../rules/severity';
