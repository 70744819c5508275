import type { IncidentRow } from '../incidents/types';
import { SEVERITY_RANK } from '../incidents/types';
import type { StatusIncident } from '../status';

// The incidents page's view model: open incidents (most severe first) with their
// acknowledge and mute state, the recently resolved ones, and the silences in force.

export interface MuteRow {
  id: number;
  /** null: everything is muted. */
  asset: string | null;
  until: number;
  reason: string;
}

export interface IncidentsInput {
  open: readonly IncidentRow[];
  /** Resolved incidents, newest first (the source bounds how many and how old). */
  resolved: readonly IncidentRow[];
  /** Silences still in force at `now`. */
  mutes: readonly MuteRow[];
}

/** An incident as GET /api/v1/status lists it, plus what the incidents page needs. */
export interface IncidentItem extends StatusIncident {
  severity: IncidentRow['severity'];
  resolvedAt: string | null;
  ackedBy: string | null;
  /** A silence covers it: no notifications until the mute ends. */
  muted: boolean;
}

export interface IncidentsView {
  generatedAt: string;
  open: IncidentItem[];
  resolved: IncidentItem[];
  mutes: { id: number; asset: string | null; until: string; reason: string }[];
}

export function incidentsView(input: IncidentsInput, now: number): IncidentsView {
  const active = input.mutes.filter((m) => m.until > now);
  const item = (i: IncidentRow): IncidentItem => ({
    id: i.id,
    severity: i.severity,
    rule: i.rule,
    agent: i.agent,
    job: i.job,
    asset: i.asset,
    target: i.target,
    title: i.title,
    detail: i.detail,
    since: new Date(i.since).toISOString(),
    openedAt: new Date(i.openedAt).toISOString(),
    resolvedAt: i.resolvedAt === null ? null : new Date(i.resolvedAt).toISOString(),
    acknowledged: i.ackedAt !== null,
    ackedBy: i.ackedBy,
    muted: active.some((m) => m.asset === null || m.asset === i.asset),
  });
  return {
    generatedAt: new Date(now).toISOString(),
    open: [...input.open].sort((a, b) => SEVERITY_RANK[b.severity] - SEVERITY_RANK[a.severity] || a.openedAt - b.openedAt).map(item),
    resolved: input.resolved.map(item),
    mutes: active.map((m) => ({ id: m.id, asset: m.asset, until: new Date(m.until).toISOString(), reason: m.reason })),
  };
}
