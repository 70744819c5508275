import { join } from 'node:path';
import type { CatalogJob } from '../../shared/protocol';
import { readStateJson, writeStateFile } from '../state-file';

// What the TrueNAS watcher keeps in <stateDir>/truenas/ across restarts: jobs.json (the last
// scan's catalog jobs, for a hello before the first scan) and reported.json (per task, the time
// of the newest state already reported as a run), so nothing is reported twice.

const dirOf = (stateDir: string) => join(stateDir, 'truenas');

export const saveTrueNasJobs = (stateDir: string, jobs: readonly CatalogJob[]): void => writeStateFile(join(dirOf(stateDir), 'jobs.json'), `${JSON.stringify(jobs)}\n`);

export function loadTrueNasJobs(stateDir: string): CatalogJob[] {
  const jobs = readStateJson(join(dirOf(stateDir), 'jobs.json'));
  return Array.isArray(jobs) ? (jobs as CatalogJob[]) : [];
}

export function loadReported(stateDir: string): Record<string, number> {
  const r = readStateJson(join(dirOf(stateDir), 'reported.json'));
  if (typeof r !== 'object' || r === null || Array.isArray(r)) return {};
  return Object.fromEntries(Object.entries(r).filter(([, v]) => typeof v === 'number')) as Record<string, number>;
}

export const saveReported = (stateDir: string, reported: Record<string, number>): void => writeStateFile(join(dirOf(stateDir), 'reported.json'), `${JSON.stringify(reported)}\n`);
