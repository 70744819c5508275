import type { CatalogJob, InventoryMessage, PbsDatastore, PbsMessage, Snapshot, Target, Unsequenced } from '../../shared/protocol';
import type { RestoreFacts } from '../../shared/restore-facts';
import { NAME_RE } from '../../shared/protocol-constants';
import { pveScheduleToCron } from '../../shared/pve-schedule';
import type { Retention } from '../../shared/retention-policy';
import type { TierId } from '../../shared/tiers';
import type { AgentConfig, PbsConfig } from '../config';
import type { PbsDatastoreConfig, PbsGcStatus, PbsInventory, PbsJobConfig, PbsKeepOptions, PbsSnapshotItem, PbsTask, PbsUsage } from './types';

// The decisions of one PBS scan, from what it read (types.ts), pure so they are tested as
// tables: the 'pbs' message (usage, forecast, GC per datastore), the catalog jobs — the server
// jobs of each datastore (role 'maintenance': gc-<store>, verify-<id>, prune-<id>, sync-<id>) and
// one job per backup group (pbs-<store>-<type>-<id>, asset vm-<id>/ct-<id>/the host) — and each
// group's inventory. Which task is which job's run is decided here too (jobOfTask); runs.ts
// turns tasks and snapshots into runs.

export interface PbsScan {
  message: Unsequenced<PbsMessage>;
  jobs: CatalogJob[];
  inventories: Unsequenced<InventoryMessage>[];
  /** The group job of a backup group (`store`, `vm/100`), when there is one. */
  groupJob(store: string, group: string): string | null;
  /** The server job whose run a task is (GC, verify, prune and sync jobs); null for other tasks. */
  jobOfTask(task: PbsTask): string | null;
  /** Each group job's datastore, group (`vm/100`) and snapshots, oldest first (what its inventory lists). */
  groupSnapshots: Map<string, GroupSnapshots>;
  /** What could not be read or expressed, in words for the log. */
  notes: string[];
}

export interface GroupSnapshots {
  store: string;
  group: string;
  snapshots: PbsSnapshotItem[];
}

export type PbsScanConfig = Pick<AgentConfig, 'targets'> & { pbs: Pick<PbsConfig, 'tier' | 'groupTier' | 'datastores' | 'groups' | 'exclude'> };

// --- Small pure decisions ---------------------------------------------------------------------

/** The name as the collector accepts it (letters, digits, ".", "_", "-", at most 64, a letter or digit first), or null. */
export function safeName(raw: string): string | null {
  const name = raw.replace(/[^A-Za-z0-9._-]/g, '_');
  return NAME_RE.test(name) ? name : null;
}

/**
 * PBS's `estimated-full-date` as a time: absent (fewer than 7 history points), 0 (an infinite
 * estimate) and a date in the past (usage flat or declining) all mean "no forecast".
 */
export function estimatedFullAt(value: number | undefined, now: number): string | null {
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) return null;
  return value * 1000 <= now ? null : new Date(value * 1000).toISOString();
}

/** The start time in a UPID (`UPID:node:pid:pstart:task_id:STARTTIME:type:id:authid:`, hex), epoch seconds. */
export function upidStartTime(upid: string | undefined): number | null {
  const parts = (upid ?? '').split(':');
  if (parts[0] !== 'UPID' || parts.length < 9 || !/^[0-9A-Fa-f]{8,16}$/.test(parts[5])) return null;
  return parseInt(parts[5], 16);
}

/** A PBS calendar event (systemd-like, the grammar PVE uses) as cron; the event itself when cron cannot say it; '' for none. */
export function pbsSchedule(event: string | undefined): string {
  const text = (event ?? '').trim();
  if (!text) return '';
  return (pveScheduleToCron(text) ?? text).slice(0, 128);
}

const KEEP: [keyof PbsKeepOptions, keyof Retention][] = [
  ['keep-last', 'last'],
  ['keep-hourly', 'hourly'],
  ['keep-daily', 'daily'],
  ['keep-weekly', 'weekly'],
  ['keep-monthly', 'monthly'],
  ['keep-yearly', 'yearly'],
];

/** keep-* options as GFS retention; null when none is set (PBS then keeps everything). */
export function keepRetention(o: Partial<Record<(typeof KEEP)[number][0], unknown>>): Retention | null {
  const out: Retention = {};
  for (const [key, rule] of KEEP) {
    const n = Number(o[key]);
    if (o[key] !== undefined && Number.isInteger(n) && n > 0) out[rule] = n;
  }
  return Object.keys(out).length ? out : null;
}

const enabled = (j: PbsJobConfig): boolean => !(j.disable === true || Number(j.disable) === 1);
const rootNs = (j: { ns?: string }): boolean => !j.ns;

/** The asset a backup group protects: the PVE guest's (vm-<id>, ct-<id>), or the host's name. */
export function groupAsset(type: string, id: string): string | null {
  if (type === 'vm' || type === 'ct') return safeName(`${type}-${id}`);
  return safeName(id) ?? safeName(`host-${id}`);
}

export const groupJobName = (store: string, type: string, id: string): string => `pbs-${store}-${type}-${id}`;

/** A snapshot's display path, as PBS shows it: `vm/100/2024-01-31T01:00:03Z` (RFC 3339, UTC). */
export function snapshotPath(s: PbsSnapshotItem): string {
  return `${s['backup-type']}/${s['backup-id']}/${new Date(s['backup-time'] * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z')}`;
}

/** The maintenance mode's type (`type=read-only,message=…` → read-only; a bare value as it is). */
export function maintenanceOf(mode: string | undefined): string | undefined {
  if (!mode) return undefined;
  const type = /(?:^|,)type=([^,]+)/.exec(mode)?.[1] ?? (mode.includes('=') ? undefined : mode);
  return type?.slice(0, 128);
}

const count = (n: unknown): number | undefined => (typeof n === 'number' && Number.isFinite(n) && n >= 0 ? Math.floor(n) : undefined);
const defined = <T extends object>(o: T): T => Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;

export function gcOf(gc: PbsGcStatus | undefined): PbsDatastore['gc'] {
  if (!gc) return null;
  const started = upidStartTime(gc.upid);
  return defined({
    upid: gc.upid?.slice(0, 512),
    startedAt: started !== null ? new Date(started * 1000).toISOString() : undefined,
    removedBytes: count(gc['removed-bytes']),
    pendingBytes: count(gc['pending-bytes']),
    diskBytes: count(gc['disk-bytes']),
    indexDataBytes: count(gc['index-data-bytes']),
    stillBad: count(gc['still-bad']),
  });
}

/**
 * Which configured job a job task belongs to. The worker_id formats of job tasks are not in
 * the reference; they come from PBS's source (pbs-api-types VERIFICATION_JOB_WORKER_ID_REGEX
 * `STORE:JOBID`, SYNC_JOB_WORKER_ID_REGEX `REMOTE|-:REMOTESTORE:STORE[:NS]:JOBID`; a prune job's
 * worker_id is its `STORE[:NS]`, without the job id; GC's is the store): a worker_id equal to a
 * job id or ending in `:<id>` is that job's; a prune task otherwise goes to the one enabled prune
 * job of its store and namespace, else to the datastore's own prune schedule (older PBS).
 */
export function taskJob(
  task: Pick<PbsTask, 'worker_type' | 'worker_id'>,
  ctx: { stores: ReadonlySet<string>; verify: readonly PbsJobConfig[]; prune: readonly PbsJobConfig[]; sync: readonly PbsJobConfig[]; ownPrune: ReadonlySet<string> },
): string | null {
  const wid = task.worker_id ?? '';
  const byId = (jobs: readonly PbsJobConfig[]) => jobs.find((j) => wid === j.id || wid.endsWith(`:${j.id}`));
  switch (task.worker_type) {
    case 'garbage_collection':
      return ctx.stores.has(wid) ? `gc-${wid}` : null;
    case 'verificationjob': {
      const j = byId(ctx.verify);
      return j ? `verify-${j.id}` : null;
    }
    case 'syncjob': {
      const j = byId(ctx.sync);
      return j ? `sync-${j.id}` : null;
    }
    case 'prunejob': {
      const j = byId(ctx.prune);
      if (j) return `prune-${j.id}`;
      const [store, ...ns] = wid.split(':');
      const mine = ctx.prune.filter((p) => p.store === store && (p.ns ?? '') === ns.join(':'));
      if (mine.length === 1) return `prune-${mine[0].id}`;
      if (mine.length === 0 && ctx.ownPrune.has(store)) return `prune-${store}`;
      return null;
    }
    default:
      return null;
  }
}

/** A backup task's datastore and group (`<store>:<type>/<id>`); null for other tasks and other namespaces. */
export function backupTaskGroup(task: Pick<PbsTask, 'worker_type' | 'worker_id'>): { store: string; group: string } | null {
  if (task.worker_type !== 'backup') return null;
  const m = /^([^:]+):((?:vm|ct|host)\/[^:/]+)$/.exec(task.worker_id ?? '');
  return m ? { store: m[1], group: m[2] } : null;
}

/** agent.yaml's target of that name, or an on-site PBS target. */
export function datastoreTarget(name: string, declared: readonly Target[]): Target {
  return declared.find((t) => t.name === name) ?? { name, location: 'onsite', media: 'pbs' };
}

// --- The scan -----------------------------------------------------------------------------

const MAX_SNAPSHOTS = 100_000;

/**
 * The scan's decisions. Group jobs of a datastore whose snapshots could not be listed are kept
 * from `previous` (the last scan's jobs), so a hello sent meanwhile retires none of them.
 */
export function buildPbsScan(inv: PbsInventory, config: PbsScanConfig, now = Date.now(), previous: readonly CatalogJob[] = []): PbsScan {
  const { pbs } = config;
  const notes: string[] = [];
  const excluded = new Set(pbs.exclude);
  const declared = new Set(config.targets.map((t) => t.name));
  const jobs: CatalogJob[] = [];
  const names = new Set<string>();
  const add = (job: CatalogJob, what: string) => {
    if (names.has(job.name)) return void notes.push(`${what}: its job name ${job.name} is taken by another job: not watched`);
    names.add(job.name);
    jobs.push(job);
  };

  type Watched = { conf: PbsDatastoreConfig; target: Target; asset: string; tier: TierId };
  const watched = new Map<string, Watched>();
  for (const conf of [...inv.datastores].sort((a, b) => a.name.localeCompare(b.name))) {
    if (excluded.has(conf.name)) continue;
    const own = pbs.datastores[conf.name] ?? {};
    const targetName = own.target ?? safeName(conf.name);
    const asset = own.asset ?? safeName(`datastore-${conf.name}`);
    if (!targetName || !asset) {
      notes.push(`datastore ${conf.name}: not a name the collector accepts; set pbs.datastores.${conf.name}.target and .asset in agent.yaml: not watched`);
      continue;
    }
    const target = datastoreTarget(targetName, config.targets);
    if (!declared.has(targetName)) {
      notes.push(
        `datastore ${conf.name}: target ${targetName} is not declared under targets: (taken as on-site, media pbs); name it like the PVE storage that points at this datastore, so that host's vzdump-<vmid>-<storage> jobs and these group jobs count as the same copy`,
      );
    }
    watched.set(conf.name, { conf, target, asset, tier: own.tier ?? pbs.tier });
  }
  const stores = new Set(watched.keys());

  // Server jobs (role 'maintenance'): no copy of anything, judged for failure and lateness.
  const maintenance = (name: string, driver: string, w: Watched, event: string | undefined): CatalogJob => {
    const schedule = pbsSchedule(event);
    if (event && schedule === event.trim()) notes.push(`${name}: schedule ${JSON.stringify(event)} has no cron equivalent; the collector judges it by other checks`);
    return { name, asset: w.asset, tier: w.tier, driver, target: w.target, schedule, timeoutMs: 0, retention: {}, role: 'maintenance', restore: { store: w.conf.name } };
  };
  const jobLists = { verify: inv.verifyJobs, prune: inv.pruneJobs, sync: inv.syncJobs };
  const active: Record<keyof typeof jobLists, PbsJobConfig[]> = { verify: [], prune: [], sync: [] };
  for (const [store, w] of watched) {
    if (!w.conf['gc-schedule']) notes.push(`datastore ${store} has no gc-schedule: garbage collection never runs on its own`);
    add(maintenance(`gc-${store}`, 'pbs-gc', w, w.conf['gc-schedule']), `garbage collection of ${store}`);
    if (w.conf['prune-schedule']) add(maintenance(`prune-${store}`, 'pbs-prune', w, w.conf['prune-schedule']), `prune schedule of ${store}`);
  }
  for (const kind of ['verify', 'prune', 'sync'] as const) {
    for (const j of [...jobLists[kind]].sort((a, b) => a.id.localeCompare(b.id))) {
      const w = watched.get(j.store);
      if (!w) continue;
      if (!enabled(j)) {
        notes.push(`${kind} job ${j.id} is disabled: not watched`);
        continue;
      }
      const name = safeName(`${kind}-${j.id}`);
      if (!name) {
        notes.push(`${kind} job ${j.id}: not a name the collector accepts: not watched`);
        continue;
      }
      active[kind].push(j);
      add(maintenance(name, `pbs-${kind}`, w, j.schedule), `${kind} job ${j.id}`);
    }
  }

  // What a group keeps: the enabled prune job of its datastore's root namespace, else the
  // datastore's own keep-* (older PBS), else nothing (PBS keeps all; the collector does not audit {}).
  const retentionOfStore = (store: string, conf: PbsDatastoreConfig): Retention => {
    const job = active.prune.find((j) => j.store === store && rootNs(j));
    return (job && keepRetention(job)) ?? keepRetention(conf) ?? {};
  };

  // Backup group jobs and their inventories.
  const inventories: Unsequenced<InventoryMessage>[] = [];
  const groupJobs = new Map<string, string>();
  const groupSnapshots = new Map<string, GroupSnapshots>();
  const datastores: PbsDatastore[] = [];
  for (const [store, w] of watched) {
    const snapshots = inv.snapshots.get(store);
    if (!snapshots) {
      for (const j of previous) {
        if (j.driver === 'pbs-group' && j.restore?.store === store && !names.has(j.name)) {
          names.add(j.name);
          jobs.push(j);
          groupJobs.set(`${store}\0${j.restore.backupType}/${j.restore.backupId}`, j.name);
        }
      }
    } else {
      const groups = new Map<string, PbsSnapshotItem[]>();
      for (const s of snapshots) {
        if (typeof s['backup-time'] !== 'number') continue;
        const key = `${s['backup-type']}/${s['backup-id']}`;
        groups.set(key, [...(groups.get(key) ?? []), s]);
      }
      const retention = retentionOfStore(store, w.conf);
      for (const [group, list] of [...groups].sort(([a], [b]) => a.localeCompare(b))) {
        const [type, id] = [list[0]['backup-type'], list[0]['backup-id']];
        if (type !== 'vm' && type !== 'ct' && type !== 'host') continue;
        const own = pbs.groups[group] ?? {};
        const name = safeName(groupJobName(store, type, id));
        const asset = own.asset ?? groupAsset(type, id);
        if (!name || !asset) {
          notes.push(`backup group ${group} on ${store}: no job name or asset the collector accepts (at most 64 letters, digits, ".", "_" or "-")${name ? `; set pbs.groups."${group}".asset` : ''}: not watched`);
          continue;
        }
        const sorted = [...list].sort((a, b) => a['backup-time'] - b['backup-time']).slice(-MAX_SNAPSHOTS);
        const before = names.size;
        add(
          {
            name,
            asset,
            tier: own.tier ?? pbs.groupTier,
            driver: 'pbs-group',
            target: w.target,
            // PBS does not know when PVE backs the guest up: the collector judges these by the RPO.
            schedule: '',
            timeoutMs: 0,
            retention,
            restore: { store, backupType: type, backupId: id, pbsHost: inv.host } satisfies RestoreFacts<'pbs-group'>,
          },
          `backup group ${group} on ${store}`,
        );
        if (names.size === before) continue;
        groupJobs.set(`${store}\0${group}`, name);
        groupSnapshots.set(name, { store, group, snapshots: sorted });
        inventories.push({ kind: 'inventory', job: name, target: w.target.name, snapshots: sorted.map(snapshotOf) });
      }
    }
    datastores.push(datastoreOf(store, w.target, inv.usage.get(store), w.conf, snapshots, now));
  }

  const ctx = { stores, verify: active.verify, prune: active.prune, sync: active.sync, ownPrune: new Set([...watched].filter(([, w]) => w.conf['prune-schedule']).map(([s]) => s)) };
  return {
    message: { kind: 'pbs', datastores },
    jobs,
    inventories,
    groupJob: (store, group) => groupJobs.get(`${store}\0${group}`) ?? null,
    jobOfTask: (task) => {
      const job = taskJob(task, ctx);
      return job && names.has(job) ? job : null;
    },
    groupSnapshots,
    notes,
  };
}

function snapshotOf(s: PbsSnapshotItem): Snapshot {
  const state = s.verification?.state;
  return {
    id: snapshotPath(s).slice(0, 128),
    time: new Date(s['backup-time'] * 1000).toISOString(),
    ...(count(s.size) !== undefined ? { bytes: count(s.size) } : {}),
    ...(state === 'ok' || state === 'failed' ? { verified: state } : {}),
    ...(s.protected === true ? { protected: true } : {}),
  };
}

function datastoreOf(store: string, target: Target, usage: PbsUsage | undefined, conf: PbsDatastoreConfig, snapshots: PbsSnapshotItem[] | undefined, now: number): PbsDatastore {
  // Every type is counted (zero too): "no vm groups" is worth saying.
  const counts: Record<'vm' | 'ct' | 'host' | 'other', { groups: number; snapshots: number }> = { vm: { groups: 0, snapshots: 0 }, ct: { groups: 0, snapshots: 0 }, host: { groups: 0, snapshots: 0 }, other: { groups: 0, snapshots: 0 } };
  if (snapshots) {
    const groups = new Map<string, Set<string>>();
    for (const s of snapshots) {
      const type = (['vm', 'ct', 'host'].includes(s['backup-type']) ? s['backup-type'] : 'other') as keyof typeof counts;
      const c = counts[type];
      c.snapshots++;
      const seen = groups.get(type) ?? new Set();
      if (!seen.has(s['backup-id'])) c.groups++;
      seen.add(s['backup-id']);
      groups.set(type, seen);
    }
  }
  const error = usage ? usage.error : 'PBS reported no usage for it (not mounted, or the token may not audit it)';
  return defined({
    name: store.slice(0, 64),
    target: target.name,
    totalBytes: count(usage?.total),
    usedBytes: count(usage?.used),
    availBytes: count(usage?.avail),
    estimatedFullAt: usage ? estimatedFullAt(usage['estimated-full-date'], now) : undefined,
    gc: usage ? gcOf(usage['gc-status']) : undefined,
    error: error ? error.slice(0, 1024) : undefined,
    maintenance: maintenanceOf(conf['maintenance-mode']),
    counts: snapshots ? counts : undefined,
  });
}
