import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { PbsWorld, PbsWorldDatastore, PbsWorldJob, PbsWorldSnapshot, PbsWorldTask } from '../fixtures/pbs/world';
import { tempDir } from './processes';
import { editLocked } from './world-lock';

// No Proxmox Backup Server can run here. Its stand-ins answer from a world file named by
// PBS_WORLD (test/fixtures/pbs/world.ts) and replay ../shared/REFERENCE-INTEGRATIONS.md §5:
// proxmox-backup-manager and proxmox-backup-client in test/fixtures/pbs/bin, and startPbsApi()
// below, a real HTTPS server on loopback with a self-signed certificate. These helpers write a
// world, start the API, point an agent's `pbs:` section at them and read back what they saw.

export const PBS_BIN = fileURLToPath(new URL('../fixtures/pbs/bin', import.meta.url));
export const pbsTool = (name: 'proxmox-backup-manager' | 'proxmox-backup-client'): string => join(PBS_BIN, name);

interface Items {
  datastoreConfig(d: PbsWorldDatastore): Record<string, unknown>;
  usageItem(d: PbsWorldDatastore): Record<string, unknown>;
  jobItem(j: PbsWorldJob): Record<string, unknown>;
  taskList(w: PbsWorld, opts: { running?: boolean; since?: number; limit?: number }): Record<string, unknown>[];
  snapshotItems(w: PbsWorld, store: string, ns?: string): Record<string, unknown>[];
  upid(o: { node?: string; starttime: number; type: string; id?: string; user?: string; pid?: number; taskId?: number }): string;
}
const items = createRequire(import.meta.url)('../fixtures/pbs/items.cjs') as Items;
export const upid = items.upid;

/** Writes the world to a new temp dir (or `dir`) and returns its path. */
export function writeWorld(world: PbsWorld, dir = tempDir('lifeline-pbs-')): string {
  const file = join(dir, 'world.json');
  writeFileSync(file, JSON.stringify(world, null, 1));
  return file;
}

export function readWorld(file: string): PbsWorld {
  return JSON.parse(readFileSync(file, 'utf8')) as PbsWorld;
}

/** Changes the world the way a test needs (the stand-ins read it afresh on every call). */
export const editWorld = (file: string, edit: (w: PbsWorld) => void): void => editLocked(file, edit);

/** The environment an agent (and so the stand-ins it spawns) needs to find the world. */
export const worldEnv = (file: string): NodeJS.ProcessEnv => ({ PBS_WORLD: file });

export const TOKEN_ID = 'root@pam!lifeline';
export const TOKEN_SECRET = 'c0ffee00-5ec2-4e7a-9d1b-0123456789ab';

/** The token's secret in a 0600 file, as the agent wants it. */
export function writeTokenFile(dir: string, secret = TOKEN_SECRET): string {
  const file = join(dir, 'pbs-token');
  writeFileSync(file, `${secret}\n`, { mode: 0o600 });
  chmodSync(file, 0o600);
  return file;
}

/** agent.yaml's `pbs:` section, the tools pointing at the stand-ins. */
export function pbsYaml(opts: {
  source?: 'api' | 'cli';
  url?: string;
  tokenId?: string;
  tokenSecretFile: string;
  fingerprint?: string;
  scan?: string;
  tier?: number;
  extra?: string;
}): string {
  return `pbs:
  source: ${opts.source ?? 'api'}
${opts.url ? `  url: ${opts.url}\n` : ''}  tokenId: "${opts.tokenId ?? TOKEN_ID}"
  tokenSecretFile: ${opts.tokenSecretFile}
${opts.fingerprint ? `  fingerprint: "${opts.fingerprint}"\n` : ''}  tools: { manager: ${pbsTool('proxmox-backup-manager')}, client: ${pbsTool('proxmox-backup-client')} }
  scan: ${opts.scan ?? '10m'}
  timeout: 20s
${opts.tier ? `  tier: ${opts.tier}\n` : ''}${opts.extra ?? ''}`;
}

const DAY = 86_400;
const GiB = 2 ** 30;

/**
 * A PBS `pbs1` with what the agent must get right, `now` (epoch s) anchoring every time:
 * - store1: 85 % used, no forecast (estimated-full-date 0: infinite), GC yesterday;
 * - store2: 40 % used, full in 10 days by PBS's forecast;
 * - scratch: a datastore agent.yaml may exclude;
 * - on store1 the groups vm/100 (three snapshots, the newest one's verification failed, the
 *   oldest protected), ct/101 (verified ok) and host/elsa; on store2 vm/100 synced in (no task);
 * - tasks: a GC of store1 OK, a verify job that failed, a prune job OK, backups of vm/100 and
 *   ct/101 (making their newest snapshots), a running verify of store2, a task older than a week;
 * - a verify job on store1, a disabled one on store2, a prune job on store1, a sync job into store2.
 */
export function sampleWorld(now = Math.floor(Date.now() / 1000), dir = tempDir('lifeline-pbs-stores-')): PbsWorld {
  const day0 = now - (now % DAY) - DAY; // yesterday 00:00 UTC
  const path = (name: string) => {
    const p = join(dir, name);
    mkdirSync(p, { recursive: true });
    return p;
  };
  const gcStart = day0 + 2 * 3600;
  const task = (type: string, id: string, start: number, end: number | undefined, status?: string): PbsWorldTask => ({
    upid: upid({ node: 'pbs1', starttime: start, type, id }),
    node: 'pbs1',
    pid: 0x4f37,
    pstart: 0x39e469,
    starttime: start,
    worker_type: type,
    worker_id: id,
    user: 'root@pam',
    ...(end !== undefined ? { endtime: end, status } : {}),
  });
  const snap = (type: 'vm' | 'ct' | 'host', id: string, time: number, size: number, extra: Partial<PbsWorldSnapshot> = {}): PbsWorldSnapshot => ({
    'backup-type': type,
    'backup-id': id,
    'backup-time': time,
    files: [{ filename: 'index.json.blob', 'crypt-mode': 'none', size: 512 }],
    size,
    owner: 'root@pam',
    ...extra,
  });
  const vmBackup = day0 + 1 * 3600; // 01:00 UTC yesterday
  return {
    node: 'pbs1',
    datastores: [
      {
        name: 'store1',
        path: path('store1'),
        'gc-schedule': 'daily',
        total: 1000 * GiB,
        used: 850 * GiB,
        avail: 150 * GiB,
        'estimated-full-date': 0,
        'gc-status': {
          upid: upid({ node: 'pbs1', starttime: gcStart, type: 'garbage_collection', id: 'store1' }),
          'index-file-count': 12,
          'index-data-bytes': 900 * GiB,
          'disk-bytes': 300 * GiB,
          'disk-chunks': 120_000,
          'removed-bytes': 3 * GiB,
          'removed-chunks': 1500,
          'pending-bytes': GiB,
          'pending-chunks': 400,
          'removed-bad': 0,
          'still-bad': 0,
        },
      },
      { name: 'store2', path: path('store2'), 'gc-schedule': 'sat 03:30', total: 2000 * GiB, used: 800 * GiB, avail: 1200 * GiB, 'estimated-full-date': now + 10 * DAY },
      { name: 'scratch', path: path('scratch'), total: 100 * GiB, used: 99 * GiB, avail: GiB, 'estimated-full-date': now - 5 * DAY },
    ],
    snapshots: {
      store1: [
        snap('vm', '100', vmBackup - 2 * DAY, 30 * GiB, { protected: true, verification: { upid: 'UPID:x', state: 'ok' } }),
        snap('vm', '100', vmBackup - DAY, 31 * GiB, { verification: { upid: 'UPID:y', state: 'ok' } }),
        snap('vm', '100', vmBackup + 5, 32 * GiB, { verification: { upid: 'UPID:z', state: 'failed' } }),
        snap('ct', '101', vmBackup + 600, 2 * GiB, { verification: { upid: 'UPID:w', state: 'ok' } }),
        snap('host', 'elsa', day0 - 3 * DAY, 200_000_000),
      ],
      store2: [snap('vm', '100', vmBackup - DAY + 7200, 31 * GiB)],
      scratch: [snap('vm', '999', now - DAY, GiB)],
    },
    tasks: [
      task('garbage_collection', 'store1', gcStart, gcStart + 600, 'OK'),
      task('verificationjob', 'store1:v-weekly', day0 + 4 * 3600, day0 + 5 * 3600, 'verification failed - please check the log for details'),
      task('prunejob', 'store1', day0 + 3 * 3600, day0 + 3 * 3600 + 30, 'OK'),
      task('backup', 'store1:vm/100', vmBackup, vmBackup + 900, 'OK'),
      task('backup', 'store1:ct/101', vmBackup + 595, vmBackup + 700, 'WARNINGS: 1'),
      task('verificationjob', 'store2:v-store2', now - 300, undefined),
      task('garbage_collection', 'store1', now - 9 * DAY, now - 9 * DAY + 600, 'OK'),
      task('reader', 'store1:vm/100', vmBackup + 3600, vmBackup + 3700, 'OK'),
    ],
    verifyJobs: [
      { id: 'v-weekly', store: 'store1', schedule: 'sat 06:00', 'ignore-verified': true, 'outdated-after': 30 },
      { id: 'v-store2', store: 'store2', schedule: 'daily' },
      { id: 'v-off', store: 'store2', schedule: 'sun 01:00', disable: true },
    ],
    pruneJobs: [{ id: 'p-daily', store: 'store1', schedule: 'daily', 'keep-daily': 7, 'keep-weekly': 4 }],
    syncJobs: [{ id: 's-offsite', store: 'store2', schedule: 'hourly', remote: 'pbs0', 'remote-store': 'main' }],
    tokens: { [TOKEN_ID]: TOKEN_SECRET },
    calls: [],
  };
}

export interface PbsApiServer {
  url: string;
  /** SHA-256 of the certificate, AA:BB:… as PBS shows it. */
  fingerprint: string;
  stop(): Promise<void>;
}

const send = (res: import('node:http').ServerResponse, status: number, body: unknown) => {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json;charset=UTF-8', 'content-length': Buffer.byteLength(text) });
  res.end(text);
};

/**
 * The stand-in PBS API: HTTPS on 127.0.0.1 with a fresh self-signed certificate (openssl, as
 * PBS makes its own), answering GET /api2/json/{status/datastore-usage, config/datastore,
 * config/verify, config/prune, config/sync, nodes/localhost/tasks, admin/datastore/STORE/snapshots}
 * from the world, wrapped in `{data}`. Auth: `Authorization: PBSAPIToken=ID:SECRET` or
 * `PBSAPIToken ID:SECRET` (the server accepts both: proxmox-auth-api), the secret percent-decoded,
 * checked against world.tokens; 401 otherwise. Tasks honour limit (default 50, 0 = all), since
 * and running. Each request is recorded in world.calls (tool `api`, [method, path], headers).
 */
export async function startPbsApi(worldFile: string): Promise<PbsApiServer> {
  const dir = tempDir('lifeline-pbs-cert-');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '2', '-subj', '/CN=localhost', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem')], { stdio: 'ignore' });
  const cert = readFileSync(join(dir, 'cert.pem'));
  const key = readFileSync(join(dir, 'key.pem'));
  const fingerprint = new X509Certificate(cert).fingerprint256;

  const server: Server = createServer({ cert, key }, (req, res) => {
    const url = new URL(req.url ?? '/', 'https://localhost');
    editWorld(worldFile, (w) => {
      (w.calls ??= []).push({ tool: 'api', argv: [req.method ?? '', `${url.pathname}${url.search}`], env: {}, headers: Object.fromEntries(Object.entries(req.headers).map(([k, v]) => [k, String(v)])) });
    });
    const world = readWorld(worldFile);
    const auth = /^PBSAPIToken[= ]([^:\s]+):(.+)$/.exec(req.headers.authorization ?? '');
    let secret = auth?.[2];
    try {
      secret = secret === undefined ? undefined : decodeURIComponent(secret);
    } catch {
      /* not percent-encoded: as it is */
    }
    if (!auth || world.tokens[auth[1]] === undefined || world.tokens[auth[1]] !== secret) return send(res, 401, { data: null, message: 'authentication failed - invalid credentials' });
    if (req.method !== 'GET') return send(res, 501, { data: null, message: `Method '${req.method}' not implemented` });
    if (!url.pathname.startsWith('/api2/json/')) return send(res, 404, { data: null, message: 'Path not found.' });
    const path = url.pathname.slice('/api2/json'.length);
    const failure = world.fail?.[`api:${path}`];
    if (failure !== undefined) {
      editWorld(worldFile, (w) => void delete w.fail![`api:${path}`]);
      return send(res, 500, { data: null, message: failure });
    }
    const q = url.searchParams;
    const num = (name: string) => (q.has(name) ? Number(q.get(name)) : undefined);
    const store = /^\/admin\/datastore\/([^/]+)\/snapshots$/.exec(path);
    if (store) {
      const name = decodeURIComponent(store[1]);
      if (!world.datastores.some((d) => d.name === name)) return send(res, 400, { data: null, message: `datastore '${name}' does not exist` });
      return send(res, 200, { data: items.snapshotItems(world, name, q.get('ns') ?? '') });
    }
    switch (path) {
      case '/status/datastore-usage':
        return send(res, 200, { data: world.datastores.map(items.usageItem) });
      case '/config/datastore':
        return send(res, 200, { data: world.datastores.map(items.datastoreConfig) });
      case '/config/verify':
        return send(res, 200, { data: (world.verifyJobs ?? []).map(items.jobItem) });
      case '/config/prune':
        return send(res, 200, { data: (world.pruneJobs ?? []).map(items.jobItem) });
      case '/config/sync':
        return send(res, 200, { data: (world.syncJobs ?? []).map(items.jobItem) });
      case '/nodes/localhost/tasks':
        return send(res, 200, {
          data: items.taskList(world, { running: ['1', 'true'].includes(q.get('running') ?? ''), since: num('since'), limit: num('limit') ?? 50 }),
          total: world.tasks.length,
        });
      default:
        return send(res, 404, { data: null, message: 'Path not found.' });
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return {
    url: `https://127.0.0.1:${port}`,
    fingerprint,
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** What the agent's API reader would make of the world (for the pure builder's tests): tasks started since `since`. */
export function inventoryOf(world: PbsWorld, opts: { since?: number; host?: string } = {}): import('../../agent/pbs/types').PbsInventory {
  return {
    host: opts.host ?? 'pbs1',
    datastores: world.datastores.map(items.datastoreConfig) as never,
    usage: new Map(world.datastores.map((d) => [d.name, items.usageItem(d) as never])),
    tasks: items.taskList(world, { since: opts.since, limit: 0 }) as never,
    verifyJobs: (world.verifyJobs ?? []).map(items.jobItem) as never,
    pruneJobs: (world.pruneJobs ?? []).map(items.jobItem) as never,
    syncJobs: (world.syncJobs ?? []).map(items.jobItem) as never,
    snapshots: new Map(world.datastores.map((d) => [d.name, items.snapshotItems(world, d.name) as never])),
    source: 'api',
  };
}
