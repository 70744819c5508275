import { join } from 'node:path';
import type { CatalogJob } from '../../shared/protocol';
import { readStateJson, writeStateFile } from '../state-file';
import type { PbsReportedState } from './runs';

// What the PBS watcher keeps in <stateDir>/pbs/ across restarts:
// - jobs.json: the last scan's catalog jobs, so a restarted daemon or a manual `run` says hello
//   with them at once (a hello without them would retire them until the next scan);
// - reported.json: the tasks and snapshots already reported as runs, and a hash of each message
//   last spooled (pbs, inventories), so neither a second scan nor a restart sends anything twice.

const dirOf = (stateDir: string) => join(stateDir, 'pbs');
const JOBS = 'jobs.json';
const REPORTED = 'reported.json';
/** Task entries outlive the task window by a day: a task at its edge is still known. */
const KEEP_TASKS_S = 8 * 86_400;

export interface PbsSavedState extends PbsReportedState {
  /** key (`pbs`, `inventory:<job>`) → hash of the message last spooled. */
  sent: Record<string, string>;
}

export function savePbsJobs(stateDir: string, jobs: readonly CatalogJob[]): void {
  writeStateFile(join(dirOf(stateDir), JOBS), `${JSON.stringify(jobs)}\n`);
}

/** The last scan's jobs; none before the first scan (or when the file cannot be read). */
export function loadPbsJobs(stateDir: string): CatalogJob[] {
  const jobs = readStateJson(join(dirOf(stateDir), JOBS));
  return Array.isArray(jobs) ? (jobs as CatalogJob[]) : [];
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

export function loadPbsState(stateDir: string): PbsSavedState {
  const s = readStateJson(join(dirOf(stateDir), REPORTED));
  if (!isObject(s)) return { tasks: {}, groups: {}, sent: {} };
  return {
    tasks: isObject(s.tasks) ? (s.tasks as PbsSavedState['tasks']) : {},
    groups: isObject(s.groups) ? (s.groups as PbsSavedState['groups']) : {},
    sent: isObject(s.sent) ? (s.sent as PbsSavedState['sent']) : {},
  };
}

/** Saves the state, forgetting tasks that started before the task window. */
export function savePbsState(stateDir: string, state: PbsSavedState, now = Date.now()): void {
  const oldest = now / 1000 - KEEP_TASKS_S;
  for (const [upid, t] of Object.entries(state.tasks)) if (t.t < oldest) delete state.tasks[upid];
  writeStateFile(join(dirOf(stateDir), REPORTED), `${JSON.stringify(state)}\n`);
}
