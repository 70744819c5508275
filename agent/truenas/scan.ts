import type { CatalogJob, RunMessage, RunStatus, Unsequenced } from '../../shared/protocol';
import { scheduleError } from '../../shared/schedule';
import type { TierId } from '../../shared/tiers';
import type { TrueNasConfig } from '../config';
import { safeName } from '../pbs/scan';
import { stableUuid } from '../pbs/runs';
import type { TrueNasDate, TrueNasInventory, TrueNasSchedule, TrueNasTaskState } from './types';

// The decisions of one TrueNAS scan, pure so they are tested as tables: each enabled replication
// task is a catalog job `truenas-replication-<id>` (its copies count at truenas.replicationTarget,
// off-site by default) and each periodic snapshot task a job `truenas-snapshot-<id>` (at
// truenas.snapshotTarget, on the NAS itself); a task's state that ended (FINISHED or ERROR, with
// its datetime) is one run of that job, reported once. FINISHED is success — not SUCCESS, which
// TrueNAS uses for VMware snapshots (REFERENCE-INTEGRATIONS §7).

export type TaskKind = 'replication' | 'snapshot';

export interface TrueNasRun {
  /** `replication:<id>` / `snapshot:<id>`: what the reported state remembers. */
  key: string;
  /** The state's datetime (epoch ms). */
  at: number;
  message: Unsequenced<RunMessage>;
}

export interface TrueNasScan {
  jobs: CatalogJob[];
  runs: TrueNasRun[];
  /** Tasks waiting, held or not yet run, and what could not be read, in words for the log. */
  notes: string[];
}

/** `{"$date": ms}`, epoch ms or an ISO text as epoch ms; null when absent or unreadable. */
export function dateOf(value: TrueNasDate | null | undefined): number | null {
  if (value === null || value === undefined) return null;
  const ms = typeof value === 'object' ? value.$date : typeof value === 'number' ? value : Date.parse(value);
  return typeof ms === 'number' && Number.isFinite(ms) && ms > 0 ? ms : null;
}

/** TrueNAS's cron fields as a cron line, or '' when there is none or it does not parse. */
export function cronOf(s: TrueNasSchedule | null | undefined): string {
  if (!s) return '';
  const line = [s.minute ?? '0', s.hour ?? '*', s.dom ?? '*', s.month ?? '*', s.dow ?? '*'].join(' ');
  return scheduleError(line) === null ? line : '';
}

/** A task's state as a run outcome; null while nothing ended (PENDING, WAITING, RUNNING, HOLD). */
export function outcomeOf(state: TrueNasTaskState | undefined): { status: RunStatus; error?: string } | null {
  const s = state?.state;
  if (s === 'FINISHED') {
    const warnings = (state?.warnings ?? []).filter((w) => typeof w === 'string' && w);
    return warnings.length ? { status: 'warning', error: warnings.join('; ').slice(0, 4096) } : { status: 'success' };
  }
  if (s === 'ERROR') return { status: 'failure', error: (state?.error || 'TrueNAS reported ERROR without a message').slice(0, 4096) };
  return null;
}

const assetOf = (raw: string): string => safeName(raw.replace(/\//g, '-')) ?? 'truenas';

export function buildTrueNasScan(inv: TrueNasInventory, cfg: Pick<TrueNasConfig, 'tier' | 'tasks' | 'replicationTarget' | 'snapshotTarget' | 'url'>, reported: Readonly<Record<string, number>>): TrueNasScan {
  const jobs: CatalogJob[] = [];
  const runs: TrueNasRun[] = [];
  const notes: string[] = [];
  const add = (kind: TaskKind, id: number, label: string, dataset: string, schedule: TrueNasSchedule | null | undefined, state: TrueNasTaskState | undefined) => {
    const conf = cfg.tasks[label] ?? {};
    const name = `truenas-${kind}-${id}`;
    jobs.push({
      name,
      asset: conf.asset ?? assetOf(dataset),
      tier: (conf.tier ?? cfg.tier) as TierId,
      driver: `truenas-${kind}`,
      target: kind === 'replication' ? cfg.replicationTarget : cfg.snapshotTarget,
      schedule: cronOf(schedule),
      timeoutMs: 0,
      retention: {},
    });
    const outcome = outcomeOf(state);
    const at = dateOf(state?.datetime);
    if (!outcome) {
      const why = state?.reason ? `: ${state.reason}` : '';
      if (state?.state && state.state !== 'RUNNING' && state.state !== 'FINISHED') notes.push(`${kind} task ${label} is ${state.state}${why}`);
      return;
    }
    if (at === null) {
      notes.push(`${kind} task ${label} is ${state!.state} without a time: not reported`);
      return;
    }
    const key = `${kind}:${id}`;
    if ((reported[key] ?? -Infinity) >= at) return;
    const when = new Date(at).toISOString();
    const snap = state?.last_snapshot ?? undefined;
    const what = kind === 'replication' ? `replication task ${label} (${dataset})` : `periodic snapshot task of ${dataset}`;
    runs.push({
      key,
      at,
      message: {
        kind: 'run',
        runId: stableUuid(`truenas\0${cfg.url}\0${key}\0${at}`),
        job: name,
        operation: 'backup',
        trigger: 'schedule',
        startedAt: when,
        finishedAt: when,
        status: outcome.status,
        exitCode: null,
        durationMs: 0,
        ...(snap ? { snapshotId: snap.slice(0, 128) } : {}),
        ...(outcome.error ? { error: outcome.error } : {}),
        logTail: `[lifeline] TrueNAS ${what}: ${state!.state} at ${when}${snap ? `, last snapshot ${snap}` : ''}${outcome.error ? `: ${outcome.error}` : ''}\n`.slice(0, 70_000),
      },
    });
  };
  for (const r of inv.replications) {
    if (r.enabled === false) continue;
    add('replication', r.id, r.name, r.source_datasets?.[0] ?? r.name, r.schedule, r.state);
  }
  for (const t of inv.snapshotTasks) {
    if (t.enabled === false) continue;
    add('snapshot', t.id, t.dataset, t.dataset, t.schedule, t.state);
  }
  return { jobs, runs, notes };
}
