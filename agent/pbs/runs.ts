import { createHash } from 'node:crypto';
import type { RunMessage, RunStartMessage, RunStatus, Unsequenced } from '../../shared/protocol';
import { backupTaskGroup, snapshotPath, type PbsScan } from './scan';
import type { PbsInventory, PbsSnapshotItem, PbsTask } from './types';

// PBS tasks and snapshots as runs, each reported once (pure: the watcher spools them and then
// remembers them in the reported state, agent/pbs/state.ts):
// - a task of a server job (GC, verify, prune, sync) is a run of that job;
// - a backup task (`<store>:<type>/<id>`) is a run of the group's job, with the size and path of
//   the snapshot it made;
// - a snapshot no backup task made (synced in, or older than the task list) is a success run at
//   its backup time, once it is newer than what was reported for its group.
// Run ids are derived from the UPID or the snapshot, so a replay is a duplicate the collector drops.

/** Tasks ended within this window are reported; older ones never (a first scan sends no years of history). */
export const TASK_WINDOW_MS = 7 * 86_400_000;
/** How far a snapshot's backup time may lie outside its backup task's start..end. */
const MATCH_SLACK_S = 60;

export interface PbsReportedState {
  /** Tasks reported: UPID → start time (epoch s) and whether its end (a run) or only its start (a run-start) was sent. */
  tasks: Record<string, { t: number; done: boolean }>;
  /** Per `<store>:<type>/<id>`: the newest backup time (epoch s) already accounted for. */
  groups: Record<string, number>;
}

export interface PlannedReport {
  message: Unsequenced<RunMessage> | Unsequenced<RunStartMessage>;
  /** What to remember once it is spooled. */
  task?: { upid: string; starttime: number; done: boolean };
  group?: { key: string; time: number };
}

export interface RunPlan {
  reports: PlannedReport[];
  /** The groups' newest backup times once every report is spooled (older snapshots are never runs later). */
  highWater: Record<string, number>;
}

/** A UUID (version 8 layout) from a SHA-256 of the text: stable, not secret. */
export function stableUuid(text: string): string {
  const h = createHash('sha256').update(text).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-8${h.slice(13, 16)}-${((parseInt(h[16], 16) & 0x3) | 0x8).toString(16)}${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

export const taskRunId = (agent: string, upid: string): string => stableUuid(`pbs-task\0${agent}\0${upid}`);
export const snapshotRunId = (agent: string, store: string, group: string, time: number): string => stableUuid(`pbs-snapshot\0${agent}\0${store}\0${group}\0${time}`);

export const LOST_TASK = 'PBS lost track of the task: restarted while it ran?';

/** A task's status text as a run status: `OK`, `WARNINGS: n`, `unknown`, else the error text. */
export function runStatusOf(status: string | undefined): { status: RunStatus; error?: string } {
  const text = (status ?? '').trim();
  if (text === 'OK') return { status: 'success' };
  if (/^WARNINGS: \d+$/.test(text)) return { status: 'warning' };
  if (text === 'unknown' || text === '') return { status: 'failure', error: LOST_TASK };
  return { status: 'failure', error: text.slice(0, 4096) };
}

const groupKey = (store: string, group: string) => `${store}:${group}`;
const iso = (epochS: number) => new Date(epochS * 1000).toISOString();

/** The snapshot a backup task made: backup time within its start..end (±60 s), the nearest to its start. */
export function snapshotOfTask(task: Pick<PbsTask, 'starttime' | 'endtime'>, snapshots: readonly PbsSnapshotItem[], now: number): PbsSnapshotItem | null {
  const end = task.endtime ?? Math.floor(now / 1000);
  const within = snapshots.filter((s) => s['backup-time'] >= task.starttime - MATCH_SLACK_S && s['backup-time'] <= end + MATCH_SLACK_S);
  within.sort((a, b) => Math.abs(a['backup-time'] - task.starttime) - Math.abs(b['backup-time'] - task.starttime));
  return within[0] ?? null;
}

/** The runs and run-starts this scan has to report, oldest first. */
export function planRuns(inv: Pick<PbsInventory, 'tasks'>, scan: Pick<PbsScan, 'jobOfTask' | 'groupJob' | 'groupSnapshots'>, state: PbsReportedState, agent: string, now: number): RunPlan {
  const windowStart = (now - TASK_WINDOW_MS) / 1000;
  const tasks = inv.tasks.filter((t) => typeof t.starttime === 'number' && (t.endtime ?? Infinity) >= windowStart).sort((a, b) => a.starttime - b.starttime);
  const reports: PlannedReport[] = [];
  /** Backup tasks per group job, to tell which snapshots a task made. */
  const backupTasks = new Map<string, PbsTask[]>();

  for (const task of tasks) {
    const backup = backupTaskGroup(task);
    const job = backup ? scan.groupJob(backup.store, backup.group) : scan.jobOfTask(task);
    if (!job) continue;
    if (backup) backupTasks.set(job, [...(backupTasks.get(job) ?? []), task]);
    const seen = state.tasks[task.upid];
    const running = task.endtime === undefined;
    if (seen?.done || (seen && running)) continue;
    const runId = taskRunId(agent, task.upid);
    if (running) {
      reports.push({
        message: { kind: 'run-start', runId, job, operation: 'backup', trigger: 'schedule', startedAt: iso(task.starttime) },
        task: { upid: task.upid, starttime: task.starttime, done: false },
      });
      continue;
    }
    const { status, error } = runStatusOf(task.status);
    const made = backup && status !== 'failure' ? snapshotOfTask(task, scan.groupSnapshots.get(job)?.snapshots ?? [], now) : null;
    const end = Math.max(task.endtime!, task.starttime);
    reports.push({
      message: {
        kind: 'run',
        runId,
        job,
        operation: 'backup',
        trigger: 'schedule',
        startedAt: iso(task.starttime),
        finishedAt: iso(end),
        status,
        exitCode: null,
        durationMs: (end - task.starttime) * 1000,
        ...(made && typeof made.size === 'number' ? { bytesTotal: Math.max(0, Math.floor(made.size)) } : {}),
        ...(made ? { snapshotId: snapshotPath(made).slice(0, 128) } : {}),
        ...(error ? { error } : {}),
        logTail: `PBS task ${task.upid}\n${task.worker_type} ${task.worker_id ?? ''}: ${task.status ?? 'unknown'}\n`,
      },
      task: { upid: task.upid, starttime: task.starttime, done: true },
    });
  }

  // Snapshots no backup task made (or whose task is older than the window).
  const highWater: Record<string, number> = {};
  for (const [job, { store, group, snapshots }] of scan.groupSnapshots) {
    if (!snapshots.length) continue;
    const key = groupKey(store, group);
    const hw = state.groups[key];
    const newest = snapshots[snapshots.length - 1];
    // A group seen for the first time says only its newest snapshot: no flood of years of history.
    const candidates = hw === undefined ? [newest] : snapshots.filter((s) => s['backup-time'] > hw);
    const made = backupTasks.get(job) ?? [];
    for (const s of candidates) {
      if (made.some((t) => snapshotOfTask(t, [s], now) !== null)) continue;
      const t = s['backup-time'];
      reports.push({
        message: {
          kind: 'run',
          runId: snapshotRunId(agent, store, group, t),
          job,
          operation: 'backup',
          trigger: 'schedule',
          startedAt: iso(t),
          finishedAt: iso(t),
          status: 'success',
          exitCode: null,
          durationMs: 0,
          ...(typeof s.size === 'number' ? { bytesTotal: Math.max(0, Math.floor(s.size)) } : {}),
          snapshotId: snapshotPath(s).slice(0, 128),
          logTail: `PBS snapshot ${snapshotPath(s)} on ${store} (no backup task of it in PBS's task list: synced in, or older than the list)\n`,
        },
        group: { key, time: t },
      });
    }
    highWater[key] = Math.max(hw ?? -Infinity, newest['backup-time']);
  }
  reports.sort((a, b) => Date.parse(a.message.startedAt) - Date.parse(b.message.startedAt));
  return { reports, highWater };
}
