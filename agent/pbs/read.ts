import { readFileSync, statfsSync } from 'node:fs';
import { hostname } from 'node:os';
import { secretFileProblem } from '../../shared/secret-file';
import type { PbsConfig } from '../config';
import { pbsApi, type PbsApi } from './api';
import { TASK_WINDOW_MS } from './runs';
import { eachLimited } from '../tool-call';
import { runPbsTool } from './tools';
import type { PbsDatastoreConfig, PbsGcStatus, PbsInventory, PbsJobConfig, PbsSnapshotItem, PbsTask, PbsUsage } from './types';

// Reading one scan's worth from PBS, through the API (default) or the CLIs (`pbs.source: cli`).
// The datastore list, usage and job lists are required: a scan without them throws, so a hello
// never retires jobs PBS still has. A datastore whose snapshots (or, in CLI mode, usage or GC
// status) cannot be read is said in the notes. Snapshots are read before the tasks, so every
// snapshot seen has its backup task (started earlier) in the task list: runs.ts then never
// reports one backup both as a snapshot and as a task.

/** Tasks asked for per scan: the newest of the task window. */
export const TASK_LIMIT = 2000;

/** The token's secret: the first line of tokenSecretFile, which must be private (0600). */
export function readTokenSecret(pbs: Pick<PbsConfig, 'tokenSecretFile'>): string {
  const problem = secretFileProblem(pbs.tokenSecretFile);
  if (problem) throw new Error(`pbs.tokenSecretFile: ${problem.message}`);
  const secret = readFileSync(pbs.tokenSecretFile, 'utf8').split(/\r?\n/)[0].trim();
  if (!secret) throw new Error(`pbs.tokenSecretFile: ${pbs.tokenSecretFile} is empty (the token's secret goes on its first line)`);
  return secret;
}

const watchedStores = (datastores: readonly PbsDatastoreConfig[], pbs: Pick<PbsConfig, 'exclude'>) => datastores.filter((d) => !pbs.exclude.includes(d.name));
const array = <T>(v: unknown, what: string): T[] => {
  if (!Array.isArray(v)) throw new Error(`${what}: expected a list from PBS, got ${JSON.stringify(v)?.slice(0, 100)}`);
  return v as T[];
};

export async function readPbs(pbs: PbsConfig, notes: string[], now = Date.now(), env: NodeJS.ProcessEnv = process.env): Promise<PbsInventory> {
  return pbs.source === 'cli' ? readCli(pbs, notes, now, env) : readApi(pbsApi(pbs, readTokenSecret(pbs)), pbs, notes, now);
}

export async function readApi(api: PbsApi, pbs: Pick<PbsConfig, 'exclude'>, notes: string[], now: number): Promise<PbsInventory> {
  // The verify/prune/sync job lists (/config/verify, /config/prune, /config/sync) are not in the
  // reference: their paths come from PBS's API documentation (apidoc), like their fields.
  const [datastores, usage, verifyJobs, pruneJobs, syncJobs] = await Promise.all([
    api.get('/config/datastore').then((v) => array<PbsDatastoreConfig>(v, 'GET /config/datastore')),
    api.get('/status/datastore-usage').then((v) => array<PbsUsage>(v, 'GET /status/datastore-usage')),
    api.get('/config/verify').then((v) => array<PbsJobConfig>(v, 'GET /config/verify')),
    api.get('/config/prune').then((v) => array<PbsJobConfig>(v, 'GET /config/prune')),
    api.get('/config/sync').then((v) => array<PbsJobConfig>(v, 'GET /config/sync')),
  ]);
  const snapshots = new Map<string, PbsSnapshotItem[]>();
  await eachLimited(watchedStores(datastores, pbs), async (d) => {
    try {
      snapshots.set(d.name, array<PbsSnapshotItem>(await api.get(`/admin/datastore/${encodeURIComponent(d.name)}/snapshots`), 'snapshots'));
    } catch (err) {
      notes.push(`snapshots of datastore ${d.name} not listed: ${(err as Error).message}`);
    }
  });
  // Stopped tasks too (the API lists them unless `running` is set), started within the window.
  const since = Math.floor((now - TASK_WINDOW_MS) / 1000);
  const tasks = array<PbsTask>(await api.get('/nodes/localhost/tasks', { limit: TASK_LIMIT, since }), 'GET /nodes/localhost/tasks');
  return { host: hostname(), datastores, usage: new Map(usage.map((u) => [u.store, u])), tasks, verifyJobs, pruneJobs, syncJobs, snapshots, source: 'api' };
}

/** `proxmox-backup-client`'s repository for a datastore: `<tokenid>@<host>[:<port>]:<store>`. */
export function clientRepository(pbs: Pick<PbsConfig, 'url' | 'tokenId'>, store: string): string {
  const url = new URL(pbs.url);
  const port = url.port && url.port !== '8007' ? `:${url.port}` : '';
  return `${pbs.tokenId}@${url.hostname}${port}:${store}`;
}

/** The client's environment: the secret only by file, the pinned fingerprint; no password from elsewhere taking precedence. */
export function clientEnv(pbs: Pick<PbsConfig, 'tokenSecretFile' | 'fingerprint'>, env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const out: NodeJS.ProcessEnv = { ...env, PBS_PASSWORD_FILE: pbs.tokenSecretFile };
  delete out.PBS_PASSWORD;
  delete out.PBS_PASSWORD_FD;
  delete out.PBS_FINGERPRINT;
  if (pbs.fingerprint) out.PBS_FINGERPRINT = pbs.fingerprint;
  return out;
}

/** Usage as PBS computes it for a datastore's path (statfs); no forecast without PBS's history. */
function statfsUsage(store: string, path: string | undefined): PbsUsage {
  if (!path) return { store, error: 'no path in its configuration: usage unknown' };
  try {
    const s = statfsSync(path);
    return { store, total: s.blocks * s.bsize, used: (s.blocks - s.bfree) * s.bsize, avail: s.bavail * s.bsize };
  } catch (err) {
    return { store, error: `cannot read the usage of ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}` };
  }
}

export async function readCli(pbs: PbsConfig, notes: string[], now: number, env: NodeJS.ProcessEnv): Promise<PbsInventory> {
  const manager = <T>(args: string[]) => runPbsTool<T>(pbs, 'manager', [...args, '--output-format', 'json'], env);
  // `verify-job list`, `prune-job list` and `sync-job list` are not in the reference: they come
  // from PBS's documentation of proxmox-backup-manager (the CLI of /config/verify|prune|sync).
  const [datastores, verifyJobs, pruneJobs, syncJobs] = await Promise.all([
    manager<unknown>(['datastore', 'list']).then((v) => array<PbsDatastoreConfig>(v, 'datastore list')),
    manager<unknown>(['verify-job', 'list']).then((v) => array<PbsJobConfig>(v, 'verify-job list')),
    manager<unknown>(['prune-job', 'list']).then((v) => array<PbsJobConfig>(v, 'prune-job list')),
    manager<unknown>(['sync-job', 'list']).then((v) => array<PbsJobConfig>(v, 'sync-job list')),
  ]);
  const watched = watchedStores(datastores, pbs);
  const usage = new Map<string, PbsUsage>();
  const snapshots = new Map<string, PbsSnapshotItem[]>();
  if (watched.length) readTokenSecret(pbs); // the client reads it; a bad file is said once, here
  const clientEnvironment = clientEnv(pbs, env);
  await eachLimited(watched, async (d) => {
    const u = statfsUsage(d.name, d.path);
    try {
      u['gc-status'] = await manager<PbsGcStatus>(['garbage-collection', 'status', d.name]);
    } catch (err) {
      notes.push(`garbage collection status of datastore ${d.name} not read: ${(err as Error).message}`);
    }
    usage.set(d.name, u);
    try {
      const list = await runPbsTool<unknown>(pbs, 'client', ['snapshot', 'list', '--repository', clientRepository(pbs, d.name), '--output-format', 'json'], clientEnvironment);
      snapshots.set(d.name, array<PbsSnapshotItem>(list, 'snapshot list'));
    } catch (err) {
      notes.push(`snapshots of datastore ${d.name} not listed: ${(err as Error).message}`);
    }
  });
  // Without --all, `task list` shows only the running tasks (REFERENCE-INTEGRATIONS §5).
  const since = (now - TASK_WINDOW_MS) / 1000;
  const all = array<PbsTask>(await manager<unknown>(['task', 'list', '--all', '--limit', String(TASK_LIMIT)]), 'task list');
  const tasks = all.filter((t) => t.starttime >= since);
  return { host: hostname(), datastores, usage, tasks, verifyJobs, pruneJobs, syncJobs, snapshots, source: 'cli' };
}
