import { DEFAULT_TIERS } from '../../shared/tiers';
import type { AgentView, EvaluationInput, InventoryView, JobView, RunView, SnapshotView, Tier, TierPolicyView, VerifyState } from '../../collector/rules/types';
import { DEFAULT_RULES_CONFIG } from '../../collector/rules/types';

// Builders of rule inputs with sensible defaults, for table tests and demos: each test states
// only the fields its behaviour depends on. Not used by the rules themselves.

export const MIN = 60_000;
export const HOUR = 60 * MIN;
export const DAY = 24 * HOUR;
export const at = (iso: string): number => Date.parse(iso);

let runCounter = 0;

export function run(over: Partial<RunView> & { startedAt: number }): RunView {
  const status = over.status ?? 'success';
  const durationMs = status === 'running' ? null : (over.durationMs ?? 10 * MIN);
  return {
    runId: `run-${++runCounter}`,
    operation: 'backup',
    status,
    finishedAt: status === 'running' ? null : over.startedAt + (durationMs ?? 0),
    durationMs,
    bytesAdded: null,
    bytesTotal: null,
    error: null,
    ...over,
  };
}

export function job(over: Partial<JobView> = {}): JobView {
  return {
    agent: 'pve1',
    job: 'pg-offsite',
    asset: 'postgres',
    tier: 1,
    driver: 'restic',
    target: { name: 'storagebox', location: 'offsite', media: 'cloud' },
    schedule: '0 2 * * *',
    timezone: 'Europe/Berlin',
    timeoutMs: 2 * HOUR,
    retention: { daily: 7 },
    verifySchedule: null,
    restoreTestSchedule: null,
    knownSince: at('2026-01-01T00:00:00Z'),
    lastBackup: null,
    lastOutcome: null,
    lastSuccess: null,
    recentBackups: [],
    lastVerify: null,
    lastRestoreTest: null,
    lastPrune: null,
    inventory: null,
    ...over,
  };
}

/** A job whose newest (and only) backup is the given finished run. */
export function jobWithRun(r: RunView, over: Partial<JobView> = {}): JobView {
  const good = r.status === 'success' || r.status === 'warning';
  const outcome = r.status !== 'running' && r.status !== 'skipped';
  return job({ lastBackup: r, lastOutcome: outcome ? r : null, lastSuccess: good ? r.finishedAt : null, recentBackups: r.status === 'running' ? [] : [r], ...over });
}

export function agent(over: Partial<AgentView> = {}): AgentView {
  return { agent: 'pve1', lastSeen: null, heartbeatMs: MIN, clockSkewMs: 0, filesystems: [], disks: [], ...over };
}

export function tiers(): Record<Tier, TierPolicyView> {
  const out = {} as Record<Tier, TierPolicyView>;
  for (const t of [1, 2, 3, 4] as const) out[t] = { rpoMs: DEFAULT_TIERS[t].rpoMs, rtoMs: DEFAULT_TIERS[t].rtoMs };
  return out;
}

export function input(over: Partial<EvaluationInput> = {}): EvaluationInput {
  return { jobs: [], agents: [], tiers: tiers(), config: { ...DEFAULT_RULES_CONFIG }, ...over };
}

/** An inventory view of snapshots already parsed (the collector's own come from stored listings: evaluate/gather.ts). */
export function inventoryOf(snapshots: readonly SnapshotView[], updatedAt: number): InventoryView {
  const ids = snapshots.map((s) => s.id);
  const verified: VerifyState[] | null = snapshots.some((s) => s.verified) ? snapshots.map((s) => s.verified ?? null) : null;
  return { updatedAt, times: snapshots.map((s) => s.time), ids: () => ids, verified: () => verified };
}
