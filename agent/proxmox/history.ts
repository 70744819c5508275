import { mkdirSync, readFileSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import type { Unsequenced } from '../../shared/protocol';
import { NAME_RE } from '../../shared/protocol-constants';
import type { AgentConfig, ProxmoxConfig } from '../config';
import { isMissing, writeFileAtomic } from '../durable-file';
import { LogTail } from '../log-tail';
import type { Spool } from '../spool';
import { listReported, markReported, readFileSlice, ReportedIndex, vzdumpJobName, vzdumpRunId, vzdumpStateDir } from './reported';
import { backupTimeOf, parseTaskIndex, parseTaskLog, snapshotIdOf, type GuestBackup, type TaskEntry } from './task-log';

export interface TaskHistoryOptions {
  config: AgentConfig;
  proxmox: ProxmoxConfig;
  spool: Spool;
  onSpooled?: () => void;
  now?: number;
  /** Where a job without `--storage` backs up to (its `storage:`), default /etc/vzdump.conf. */
  vzdumpConf?: string;
}

const DAY_MS = 86_400_000;
/**
 * How far back the task history is read (and what is remembered of it): past the longest
 * default RPO (tier 4, 90 days), so the first scan after installing tells the collector the
 * newest backup of every guest.
 */
export const HISTORY_WINDOW_MS = 100 * DAY_MS;
/** Tasks read per scan; a long history is read over several scans, oldest first. */
const MAX_TASKS_PER_SCAN = 500;
/** A task log larger than this is read from its start only (progress lines of many guests). */
const MAX_TASK_LOG_BYTES = 16 * 2 ** 20;

interface HistoryState {
  /** Finished vzdump tasks already read: UPID → start time (epoch seconds). */
  done: Record<string, number>;
}

/**
 * Reports vzdump backups found in the task history that no hook reported (before the hook was
 * installed, a job with its own `script`, a hook call that could not record), each once.
 * Returns how many runs it reported. Throws SpoolWriteError when the spool cannot store one:
 * what was reported stays reported, the rest is read again on the next scan.
 *
 * The task history: the index files (/var/log/pve/tasks/index, index.1) and the `active` list
 * name the tasks; each vzdump task's log (<taskDir>/<last hex digit of its start>/<UPID>) holds
 * the job's command line (its storage) and each guest's lines.
 */
export async function reportTaskHistory(opts: TaskHistoryOptions): Promise<number> {
  const now = opts.now ?? Date.now();
  const since = Math.floor((now - HISTORY_WINDOW_MS) / 1000);
  const { stateDir } = opts.config;
  const stateFile = join(vzdumpStateDir(stateDir), 'history.json');
  const state = loadState(stateFile);
  const before = JSON.stringify(state);
  const reportedList = listReported(stateDir);
  const reported = new ReportedIndex(reportedList);
  let count = 0;
  try {
    let read = 0;
    for (const task of finishedTasks(opts.proxmox.taskDir, since)) {
      if (state.done[task.upid] !== undefined) continue;
      if (read++ >= MAX_TASKS_PER_SCAN) break;
      const log = readFileSlice(join(opts.proxmox.taskDir, task.logPath), 'head', MAX_TASK_LOG_BYTES);
      if (log !== null) count += reportTask(task, log.text, opts, reported);
      // A task whose log is gone (removed by hand) has nothing more to tell.
      state.done[task.upid] = task.starttime;
    }
  } finally {
    for (const [upid, start] of Object.entries(state.done)) if (start < since) delete state.done[upid];
    // Markers outlive the window by a day, so a task at its edge still finds its marker.
    for (const r of reportedList) if (r.timeSec < since - 86_400) unlinkQuietly(r.file);
    if (JSON.stringify(state) !== before) saveState(stateFile, state);
    if (count > 0) opts.onSpooled?.();
  }
  return count;
}

function finishedTasks(taskDir: string, since: number): TaskEntry[] {
  const byUpid = new Map<string, TaskEntry>();
  for (const [file, kind] of [['index.1', 'index'], ['index', 'index'], ['active', 'active']] as const) {
    let text: string;
    try {
      text = readFileSync(join(taskDir, file), 'utf8');
    } catch {
      continue;
    }
    for (const t of parseTaskIndex(text, kind)) {
      // Running tasks (no end time yet) are read once they finished.
      if (t.type === 'vzdump' && t.endtime !== null && t.starttime >= since) byUpid.set(t.upid, t);
    }
  }
  return [...byUpid.values()].sort((a, b) => a.starttime - b.starttime);
}

function reportTask(task: TaskEntry, text: string, opts: TaskHistoryOptions, reported: ReportedIndex): number {
  const log = parseTaskLog(text);
  const storage = log.command?.storage ?? (log.command?.dumpdir ? null : defaultStorage(opts.vzdumpConf ?? '/etc/vzdump.conf'));
  // Backups to a bare directory (--dumpdir) belong to no storage, so to no job.
  if (!storage) return 0;
  const taskStatus = log.status ? (log.status.kind === 'ok' ? 'OK' : log.status.kind === 'warnings' ? `WARNINGS: ${log.status.count}` : log.status.message) : (task.status ?? 'unknown');
  let count = 0;
  for (const g of log.guests) {
    const job = vzdumpJobName(g.vmid, storage);
    if (!NAME_RE.test(job)) continue;
    const exactTime = backupTimeOf(g.target);
    const backupTime = exactTime ?? g.startedAt ?? task.starttime * 1000;
    const key = { vmid: g.vmid, storage, timeSec: Math.floor(backupTime / 1000), exact: exactTime !== null };
    if (reported.has(key)) continue;
    opts.spool.append(runOf(task, g, { job, runId: vzdumpRunId(opts.config.name, g.vmid, storage, key.timeSec), backupTime, taskStatus }));
    markReported(opts.config.stateDir, key);
    reported.add(key);
    count++;
  }
  return count;
}

function runOf(task: TaskEntry, g: GuestBackup, r: { job: string; runId: string; backupTime: number; taskStatus: string }): Unsequenced {
  const startedAt = g.startedAt ?? r.backupTime;
  const finishedAt = g.endedAt ?? (g.durationSec !== null ? startedAt + g.durationSec * 1000 : (task.endtime ?? task.starttime) * 1000);
  const durationMs = g.durationSec !== null ? g.durationSec * 1000 : Math.max(0, finishedAt - startedAt);
  const status = g.outcome === 'success' ? (g.warnings > 0 ? 'warning' : 'success') : 'failure';
  const error = g.outcome === 'success' ? undefined : (g.error ?? `the task log has no result for VM ${g.vmid} (task ended: ${r.taskStatus})`);
  const bytes = g.archiveBytes ?? g.transferredBytes;
  const snapshotId = g.outcome === 'success' ? snapshotIdOf(g.target) : null;
  const tail = new LogTail();
  tail.line(`vzdump task ${task.upid} (read from the task history)`);
  for (const line of g.lines) tail.line(line);
  return {
    kind: 'run',
    runId: r.runId,
    job: r.job,
    operation: 'backup',
    trigger: 'schedule',
    startedAt: new Date(startedAt).toISOString(),
    finishedAt: new Date(Math.max(finishedAt, startedAt)).toISOString(),
    status,
    exitCode: null,
    durationMs,
    ...(bytes !== null ? { bytesTotal: bytes } : {}),
    ...(snapshotId ? { snapshotId } : {}),
    ...(error ? { error: error.slice(0, 4096) } : {}),
    logTail: tail.toString(),
  };
}

/** The `storage:` default of /etc/vzdump.conf, else vzdump's own default, `local`. */
function defaultStorage(file: string): string {
  try {
    const m = /^storage:\s*(\S+)\s*$/m.exec(readFileSync(file, 'utf8'));
    if (m) return m[1];
  } catch {
    /* no vzdump.conf: vzdump's default */
  }
  return 'local';
}

function loadState(file: string): HistoryState {
  try {
    const s = JSON.parse(readFileSync(file, 'utf8')) as HistoryState;
    if (s && typeof s.done === 'object' && s.done !== null) return s;
  } catch {
    /* first scan, or a damaged file: markers still keep reported backups from coming again */
  }
  return { done: {} };
}

function saveState(file: string, state: HistoryState): void {
  try {
    writeFileAtomic(file, `${JSON.stringify(state)}\n`);
  } catch (err) {
    if (!isMissing(err)) throw err;
    mkdirSync(join(file, '..'), { recursive: true, mode: 0o700 });
    writeFileAtomic(file, `${JSON.stringify(state)}\n`);
  }
}

function unlinkQuietly(file: string): void {
  try {
    unlinkSync(file);
  } catch {
    /* already gone */
  }
}
