import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { CatalogJob } from '../../shared/protocol';
import { isMissing, writeFileAtomic } from '../durable-file';

// What the TrueNAS watcher keeps in <stateDir>/truenas/ across restarts: jobs.json (the last
// scan's catalog jobs, for a hello before the first scan) and reported.json (per task, the time
// of the newest state already reported as a run), so nothing is reported twice.

const dirOf = (stateDir: string) => join(stateDir, 'truenas');

function write(file: string, text: string): void {
  try {
    writeFileAtomic(file, text);
  } catch (err) {
    if (!isMissing(err)) throw err;
    mkdirSync(join(file, '..'), { recursive: true, mode: 0o700 });
    writeFileAtomic(file, text);
  }
}

function read(file: string): unknown {
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as unknown;
  } catch {
    return null;
  }
}

export const saveTrueNasJobs = (stateDir: string, jobs: readonly CatalogJob[]): void => write(join(dirOf(stateDir), 'jobs.json'), `${JSON.stringify(jobs)}\n`);

export function loadTrueNasJobs(stateDir: string): CatalogJob[] {
  const jobs = read(join(dirOf(stateDir), 'jobs.json'));
  return Array.isArray(jobs) ? (jobs as CatalogJob[]) : [];
}

export function loadReported(stateDir: string): Record<string, number> {
  const r = read(join(dirOf(stateDir), 'reported.json'));
  if (typeof r !== 'object' || r === null || Array.isArray(r)) return {};
  return Object.fromEntries(Object.entries(r).filter(([, v]) => typeof v === 'number')) as Record<string, number>;
}

export const saveReported = (stateDir: string, reported: Record<string, number>): void => write(join(dirOf(stateDir), 'reported.json'), `${JSON.stringify(reported)}\n`);
