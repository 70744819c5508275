import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { RestoreFacts } from '../../shared/restore-facts';
import type { CatalogJob, InventoryMessage, ProxmoxMessage, PveBackupJob, PveGuest, PveStorage, Target, Unsequenced } from '../../shared/protocol';
import { NAME_RE } from '../../shared/protocol-constants';
import { pveScheduleToCron } from '../../shared/pve-schedule';
import type { Retention } from '../../shared/retention-policy';
import { nextRunMs } from '../../shared/schedule';
import type { TierId } from '../../shared/tiers';
import type { AgentConfig, ProxmoxConfig } from '../config';
import { writeFileAtomic } from '../durable-file';
import { guestTier } from './tiers';
import { eachLimited } from '../tool-call';
import { pveTools, type PveTools } from './tools';

// What the agent on a Proxmox VE node learns from pvesh (REFERENCE-INTEGRATIONS §3–4): the
// cluster's guests, pools, backup jobs and storages, this node's guests' snapshots and the
// backups on the storages its jobs write to. From it come the 'proxmox' message, one catalog
// job per guest of this node and storage an enabled backup job writes it to
// (`vzdump-<vmid>-<storage>`, asset `vm-<vmid>`/`ct-<vmid>`), and their inventories. The
// agent schedules none of these jobs: PVE's scheduler runs vzdump, the agent watches.

// --- What pvesh answers (only the fields read here) ----------------------------------------

/** `/cluster/resources --type vm`: name and template are absent while the node's RRD data is. */
export interface PveResource {
  vmid: number;
  node: string;
  type: string;
  status?: string;
  name?: string;
  template?: number | boolean;
  pool?: string;
  tags?: string;
}

/** `/cluster/backup`: the job's own options (a pool, a vmid list, or all minus exclude). */
export interface PveBackupJobConfig {
  id: string;
  enabled?: number | string | boolean;
  schedule?: string;
  /** Legacy /etc/pve/vzdump.cron entries. */
  starttime?: string;
  dow?: string;
  vmid?: string;
  all?: number | string | boolean;
  exclude?: string;
  pool?: string;
  node?: string;
  storage?: string;
  dumpdir?: string;
  remove?: number | string | boolean;
  'prune-backups'?: Record<string, unknown> | string;
}

/** `/storage`: the cluster's storage configuration. */
export interface PveStorageConfig {
  storage: string;
  type: string;
  content?: string;
  shared?: number | boolean;
  disable?: number | boolean;
  /** Nodes it is available on (comma list); all when absent. */
  nodes?: string;
  'prune-backups'?: Record<string, unknown> | string;
}

export interface PveSnapshotEntry {
  name: string;
  snaptime?: number;
  description?: string;
}

export interface PveBackupVolume {
  volid: string;
  vmid?: number | string;
  ctime?: number;
  size?: number;
  /** PBS storages: the last verify's state (pve-storage PBSPlugin list_volumes). */
  verification?: { state?: string; upid?: string };
  protected?: number | boolean;
}

/** A PBS verification state as the protocol carries it; other states (none yet) are left out. */
export const verifiedOf = (state: unknown): { verified?: 'ok' | 'failed' } => (state === 'ok' || state === 'failed' ? { verified: state } : {});

/** Everything one scan read, before any decision: the input of buildScan. */
export interface PveInventory {
  node: string;
  resources: PveResource[];
  backupJobs: PveBackupJobConfig[];
  storages: PveStorageConfig[];
  /** Pools that exist (null: could not be read). */
  pools: string[] | null;
  /** Per VMID of this node's guests, as pvesh lists them (unsorted, with `current`). */
  snapshots: Map<number, PveSnapshotEntry[]>;
  /** Backup volumes per storage ID; a storage missing here could not be listed. */
  content: Map<string, PveBackupVolume[]>;
}

export interface ProxmoxScan {
  message: Unsequenced<ProxmoxMessage>;
  jobs: CatalogJob[];
  inventories: Unsequenced<InventoryMessage>[];
  /** What could not be read or expressed, in words for the log. */
  notes: string[];
}

// --- Pure decisions -----------------------------------------------------------------------

/** PVE's split_list: `;`, `,`, spaces and NULs separate. */
export function splitList(s: string | undefined): string[] {
  return (s ?? '').split(/[;,\s\0]+/).filter(Boolean);
}

const flag = (v: unknown, dflt: boolean): boolean => (v === undefined || v === null || v === '' ? dflt : v === true || Number(v) === 1);

export const assetOf = (type: string, vmid: number): string => `${type === 'lxc' ? 'ct' : 'vm'}-${vmid}`;
export const jobNameOf = (vmid: number, storage: string): string => `vzdump-${vmid}-${storage}`;

/** The storage a job writes to: its own, else vzdump's default `local` (none with a dumpdir). */
export function jobStorage(job: PveBackupJobConfig): string | null {
  if (job.storage) return job.storage;
  return job.dumpdir ? null : 'local';
}

/**
 * The guests a backup job covers, as PVE's get_included_guests decides: a pool's members,
 * else the vmid list, else (`all`, or an `exclude` without a pool) every guest but the
 * excluded; then only those on the job's node when it names one. A disabled job covers none:
 * it backs nothing up now.
 */
export function includedGuests(job: PveBackupJobConfig, guests: readonly PveResource[]): number[] {
  if (!flag(job.enabled, true)) return [];
  let chosen: PveResource[];
  if (job.pool) chosen = guests.filter((g) => g.pool === job.pool);
  else if (job.vmid) {
    const ids = new Set(splitList(job.vmid).map(Number));
    chosen = guests.filter((g) => ids.has(g.vmid));
  } else if (flag(job.all, false) || job.exclude !== undefined) {
    const excluded = new Set(splitList(job.exclude).map(Number));
    chosen = guests.filter((g) => !excluded.has(g.vmid));
  } else chosen = [];
  if (job.node) chosen = chosen.filter((g) => g.node === job.node);
  return chosen.map((g) => g.vmid).sort((a, b) => a - b);
}

/** The job's calendar event; legacy vzdump.cron entries have a weekday list and a start time. */
export function jobSchedule(job: PveBackupJobConfig): string {
  if (job.schedule) return job.schedule;
  if (job.starttime) return job.dow ? `${job.dow} ${job.starttime}` : job.starttime;
  return '';
}

const KEEP: Record<string, keyof Retention> = {
  'keep-last': 'last',
  'keep-hourly': 'hourly',
  'keep-daily': 'daily',
  'keep-weekly': 'weekly',
  'keep-monthly': 'monthly',
  'keep-yearly': 'yearly',
};

/** vzdump's `prune-backups` (an object from the API, `keep-daily=7,keep-last=3` in configs) as GFS retention. */
export function retentionOf(prune: Record<string, unknown> | string | undefined): Retention | null {
  if (prune === undefined || prune === null || prune === '') return null;
  const entries = typeof prune === 'string' ? prune.split(',').map((kv) => kv.split('=') as [string, unknown]) : Object.entries(prune);
  const out: Retention = {};
  for (const [key, value] of entries) {
    const n = Number(value);
    if (key.trim() === 'keep-all' && n === 1) return {};
    const rule = KEEP[key.trim()];
    if (rule && Number.isInteger(n) && n > 0) out[rule] = n;
  }
  return out;
}

/**
 * What a vzdump job keeps: its own `prune-backups`, else the storage's; nothing is pruned with
 * `remove: 0` or with neither (PVE's default is keep-all) — an empty policy, which the
 * collector does not audit.
 */
export function jobRetention(job: PveBackupJobConfig, storage: PveStorageConfig | undefined): Retention {
  if (!flag(job.remove, true)) return {};
  return retentionOf(job['prune-backups']) ?? retentionOf(storage?.['prune-backups']) ?? {};
}

const MEDIA: Record<string, Target['media']> = {
  pbs: 'pbs',
  nfs: 'nas',
  cifs: 'nas',
  cephfs: 'nas',
  glusterfs: 'nas',
};

/** agent.yaml's target of that name, or one derived from the storage type (always on-site). */
export function storageTarget(id: string, type: string | undefined, declared: readonly Target[]): Target {
  const own = declared.find((t) => t.name === id);
  if (own) return own;
  return { name: id, location: 'onsite', media: MEDIA[type ?? ''] ?? 'disk' };
}

export function storageAvailable(s: PveStorageConfig, node: string): boolean {
  return !flag(s.disable, false) && (!s.nodes || splitList(s.nodes).includes(node));
}

/** A guest snapshot list sorted oldest first, without the `current` pseudo-entry; snaptime 0 is unknown. */
export function guestSnapshots(list: readonly PveSnapshotEntry[]): PveGuest['snapshots'] {
  return list
    .filter((s) => s.name !== 'current')
    .map((s) => ({ s, t: typeof s.snaptime === 'number' && s.snaptime > 0 ? s.snaptime : 0 }))
    .sort((a, b) => a.t - b.t || a.s.name.localeCompare(b.s.name))
    .slice(0, 1000)
    .map(({ s, t }) => {
      // The first line, as `qm listsnapshot` shows it, within the protocol's bounds.
      const description = (s.description ?? '').split('\n')[0].slice(0, 200);
      return { name: s.name.slice(0, 64), time: t ? new Date(t * 1000).toISOString() : null, ...(description ? { description } : {}) };
    });
}

const FILE_ARCHIVE = /vzdump-(?:lxc|openvz|qemu)-\d+-(\d{4})_(\d{2})_(\d{2})-(\d{2})_(\d{2})_(\d{2})\./;
const PBS_SNAPSHOT = /\/(?:vm|ct)\/\d+\/(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z)$/;

/**
 * When a backup was made, epoch seconds: the API's `ctime` (epoch already). Without it, from
 * the name — file archives are named in the node's local time, PBS snapshots in UTC.
 */
export function backupTime(v: PveBackupVolume): number | null {
  if (typeof v.ctime === 'number' && v.ctime > 0) return v.ctime;
  const pbs = PBS_SNAPSHOT.exec(v.volid);
  if (pbs) return Date.parse(pbs[1]) / 1000;
  const file = FILE_ARCHIVE.exec(v.volid);
  if (file) {
    const [y, mo, d, h, mi, s] = file.slice(1).map(Number);
    return new Date(y, mo - 1, d, h, mi, s).getTime() / 1000;
  }
  return null;
}

/** The vmid a backup volume belongs to: the API's field, else its name. */
function volumeVmid(v: PveBackupVolume): number | null {
  if (v.vmid !== undefined && v.vmid !== null && v.vmid !== '') return Number(v.vmid);
  const m = /vzdump-(?:lxc|openvz|qemu)-(\d+)-|\/(?:vm|ct)\/(\d+)\//.exec(v.volid);
  return m ? Number(m[1] ?? m[2]) : null;
}

/** How often a cron expression fires (ms between its next two runs after `now`); Infinity when unknown. */
function interval(cron: string | null, now: number): number {
  if (!cron) return Infinity;
  try {
    const a = nextRunMs(cron, now);
    const b = a === null ? null : nextRunMs(cron, a);
    return a === null || b === null ? Infinity : b - a;
  } catch {
    return Infinity;
  }
}

/** The untiered guest's jobs are reported as tier 4 until it has a tier (the guest itself says tier null). */
export const UNTIERED_JOB_TIER: TierId = 4;

const MAX_MESSAGE_CHARS = 700 * 1024;

/** The decisions of a scan, from what it read: pure, so it is tested as a table. */
export function buildScan(inv: PveInventory, config: Pick<AgentConfig, 'targets'> & { proxmox: Pick<ProxmoxConfig, 'tiers' | 'exclude'> }, now = Date.now()): ProxmoxScan {
  const notes: string[] = [];
  const excluded = new Set(config.proxmox.exclude);
  const declared = new Set(config.targets.map((t) => t.name));
  const storageById = new Map(inv.storages.map((s) => [s.storage, s]));
  const guests = inv.resources.filter((r) => r.type === 'qemu' || r.type === 'lxc').sort((a, b) => a.vmid - b.vmid);

  const pveGuests: PveGuest[] = guests.map((r) => {
    const tags = [...new Set(splitList(r.tags))].slice(0, 64).map((t) => t.slice(0, 128));
    const { tier, from } = guestTier({ vmid: r.vmid, pool: r.pool, tags }, config.proxmox.tiers);
    const snapshots = inv.snapshots.get(r.vmid);
    return {
      vmid: r.vmid,
      type: r.type as 'qemu' | 'lxc',
      ...(r.name ? { name: r.name.slice(0, 255) } : {}),
      node: r.node,
      ...(r.pool ? { pool: r.pool.slice(0, 255) } : {}),
      tags,
      template: flag(r.template, false),
      tier,
      tierFrom: from,
      excluded: excluded.has(r.vmid),
      snapshots: snapshots ? guestSnapshots(snapshots) : [],
    };
  });
  const guestByVmid = new Map(pveGuests.map((g) => [g.vmid, g]));

  const raw = [...inv.backupJobs].sort((a, b) => a.id.localeCompare(b.id));
  const backupJobs: PveBackupJob[] = raw.map((j) => {
    const schedule = jobSchedule(j);
    const cron = pveScheduleToCron(schedule);
    if (flag(j.enabled, true) && cron === null) notes.push(`backup job ${j.id}: schedule ${JSON.stringify(schedule)} has no cron equivalent; its runs are expected by the RPO alone`);
    if (j.pool && inv.pools && !inv.pools.includes(j.pool)) notes.push(`backup job ${j.id}: pool ${JSON.stringify(j.pool)} does not exist; the job backs up nothing`);
    return { id: j.id.slice(0, 128), enabled: flag(j.enabled, true), schedule: schedule.slice(0, 128), cron, storage: jobStorage(j), vmids: includedGuests(j, guests) };
  });

  // One catalog job per (guest of this node, storage); two PVE jobs writing the same guest to
  // the same storage make one, with the schedule of the one that runs more often.
  const chosen = new Map<string, { job: PveBackupJobConfig; guest: PveGuest; storage: string; schedule: string; cron: string | null }>();
  raw.forEach((job, i) => {
    const { storage, vmids, schedule, cron } = backupJobs[i];
    if (storage === null) {
      if (vmids.length) notes.push(`backup job ${job.id} writes to a dumpdir, not a storage: not watched`);
      return;
    }
    for (const vmid of vmids) {
      const guest = guestByVmid.get(vmid);
      if (!guest || guest.node !== inv.node || guest.template) continue;
      const name = jobNameOf(vmid, storage);
      const had = chosen.get(name);
      if (had && interval(had.cron, now) <= interval(cron, now)) continue;
      chosen.set(name, { job, guest, storage, schedule, cron });
    }
  });

  const jobs: CatalogJob[] = [];
  for (const [name, { job, guest, storage, schedule, cron }] of [...chosen].sort(([a], [b]) => a.localeCompare(b))) {
    if (!NAME_RE.test(name) || !NAME_RE.test(storage)) {
      notes.push(`${name}: not a name the collector accepts (at most 64 letters, digits, ".", "_" or "-"): not watched`);
      continue;
    }
    const conf = storageById.get(storage);
    jobs.push({
      name,
      asset: assetOf(guest.type, guest.vmid),
      tier: guest.tier ?? UNTIERED_JOB_TIER,
      driver: 'vzdump',
      target: storageTarget(storage, conf?.type, config.targets),
      // Without a cron equivalent, the PVE event itself: the collector cannot compute due times
      // from it and leaves the job to the RPO check, rather than expecting runs at wrong times.
      schedule: cron ?? schedule,
      timeoutMs: 0,
      retention: jobRetention(job, conf),
      restore: { vmtype: guest.type, vmid: String(guest.vmid), storage, storageType: conf?.type ?? 'unknown', node: inv.node } satisfies RestoreFacts<'vzdump'>,
    });
  }

  const inventories: Unsequenced<InventoryMessage>[] = [];
  for (const job of jobs) {
    const volumes = inv.content.get(job.target.name);
    if (!volumes) continue; // not listed: saying "no copies" would be a lie
    const vmid = Number(job.restore!.vmid);
    const snapshots = volumes
      .filter((v) => volumeVmid(v) === vmid)
      .map((v) => ({ v, t: backupTime(v) }))
      .filter((x): x is { v: PveBackupVolume; t: number } => x.t !== null)
      .sort((a, b) => a.t - b.t)
      .slice(-100_000)
      .map(({ v, t }) => ({
        id: v.volid.slice(0, 128),
        time: new Date(t * 1000).toISOString(),
        ...(typeof v.size === 'number' && v.size >= 0 ? { bytes: Math.floor(v.size) } : {}),
        ...verifiedOf(v.verification?.state),
        ...(v.protected === true || v.protected === 1 ? { protected: true } : {}),
      }));
    inventories.push({ kind: 'inventory', job: job.name, target: job.target.name, snapshots });
  }

  const storages: PveStorage[] = [...inv.storages]
    .sort((a, b) => a.storage.localeCompare(b.storage))
    .slice(0, 1000)
    .map((s) => ({ id: s.storage.slice(0, 64), type: s.type.slice(0, 32), content: (s.content ?? '').slice(0, 256), shared: flag(s.shared, false), declared: declared.has(s.storage) }));

  const message: Unsequenced<ProxmoxMessage> = { kind: 'proxmox', node: inv.node, guests: pveGuests, backupJobs, storages };
  // The collector takes requests up to ~1 MiB: descriptions go first when a cluster's snapshots
  // would not fit, then the newest snapshots (the old ones are what the collector warns about).
  if (JSON.stringify(message).length > MAX_MESSAGE_CHARS) {
    for (const g of pveGuests) g.snapshots = g.snapshots.map(({ name, time }) => ({ name, time }));
    notes.push('snapshot descriptions left out: the proxmox message would be too large');
    let keep = 50;
    while (JSON.stringify(message).length > MAX_MESSAGE_CHARS && keep > 0) {
      for (const g of pveGuests) g.snapshots = g.snapshots.slice(0, keep);
      keep = Math.floor(keep / 2);
    }
  }
  return { message, jobs, inventories, notes };
}

// --- Reading the cluster --------------------------------------------------------------------


/** This node's guests (not templates: PVE takes no snapshots of them). */
export function localGuests(resources: readonly PveResource[], node: string): PveResource[] {
  return resources.filter((r) => r.node === node && (r.type === 'qemu' || r.type === 'lxc') && !flag(r.template, false));
}

/**
 * Snapshot lists kept between a daemon's scans. There is no cluster-wide snapshot list: each
 * guest costs one pvesh call (a Perl start, a few hundred ms of CPU), so a scan refreshes at most
 * SNAPSHOT_CALLS_PER_SCAN lists, oldest first, and a list is re-read after SNAPSHOT_REFRESH_MS.
 * That is fine for what the lists are for: a snapshot becomes "stale" after days, not minutes.
 */
export type SnapshotCache = Map<number, { at: number; list: PveSnapshotEntry[] }>;
export const SNAPSHOT_CALLS_PER_SCAN = 50;
export const SNAPSHOT_REFRESH_MS = 6 * 3_600_000;

/**
 * The snapshot lists of this node's guests, as pvesh gives them (a node's agent reports its
 * own guests; pvesh would proxy the others to their nodes). A guest whose list cannot be read
 * (removed meanwhile) is left out and said in the notes. With a cache, only the lists due
 * (see SnapshotCache) are read; the others come from it.
 */
export async function readSnapshots(node: string, tools: PveTools, resources: readonly PveResource[], notes: string[], cache?: SnapshotCache, now = Date.now()): Promise<Map<number, PveSnapshotEntry[]>> {
  const out = new Map<number, PveSnapshotEntry[]>();
  const guests = localGuests(resources, node);
  let due = guests;
  if (cache) {
    const present = new Set(guests.map((g) => g.vmid));
    for (const vmid of [...cache.keys()]) if (!present.has(vmid)) cache.delete(vmid);
    const age = (vmid: number) => cache.get(vmid)?.at ?? -Infinity;
    due = guests.filter((g) => now - age(g.vmid) >= SNAPSHOT_REFRESH_MS).sort((a, b) => age(a.vmid) - age(b.vmid)).slice(0, SNAPSHOT_CALLS_PER_SCAN);
    for (const g of guests) {
      const kept = cache.get(g.vmid);
      if (kept) out.set(g.vmid, kept.list);
    }
  }
  await eachLimited(due, async (g) => {
    try {
      const list = await tools.get<PveSnapshotEntry[]>(`/nodes/${node}/${g.type}/${g.vmid}/snapshot`);
      out.set(g.vmid, list);
      cache?.set(g.vmid, { at: now, list });
    } catch (err) {
      notes.push(`snapshots of ${assetOf(g.type, g.vmid)} not read: ${(err as Error).message}`);
    }
  });
  return out;
}

/**
 * Reads what the scan needs through pvesh. The guest list, backup jobs and storages are
 * required (a scan without them throws); a pool list, a guest's snapshots or a storage's
 * content that cannot be read is left out and said in the notes.
 */
export async function readPve(proxmox: ProxmoxConfig, tools: PveTools, notes: string[], snapshotCache?: SnapshotCache): Promise<PveInventory> {
  const node = proxmox.node;
  const [resources, backupJobs, storages, pools] = await Promise.all([
    tools.get<PveResource[]>('/cluster/resources', { type: 'vm' }),
    tools.get<PveBackupJobConfig[]>('/cluster/backup'),
    tools.get<PveStorageConfig[]>('/storage'),
    tools.get<{ poolid: string }[]>('/pools').then(
      (p) => p.map((x) => x.poolid),
      (err: Error) => {
        notes.push(`pools not read: ${err.message}`);
        return null;
      },
    ),
  ]);
  const inv: PveInventory = { node, resources, backupJobs, storages, pools, snapshots: new Map(), content: new Map() };

  inv.snapshots = await readSnapshots(node, tools, resources, notes, snapshotCache);

  // Backups on the storages this node's jobs write to.
  const used = new Set<string>();
  for (const j of backupJobs) {
    const s = jobStorage(j);
    if (s && flag(j.enabled, true)) used.add(s);
  }
  const listable = storages.filter((s) => used.has(s.storage) && splitList(s.content).includes('backup') && storageAvailable(s, node));
  await eachLimited(listable, async (s) => {
    try {
      inv.content.set(s.storage, await tools.get<PveBackupVolume[]>(`/nodes/${node}/storage/${s.storage}/content`, { content: 'backup' }));
    } catch (err) {
      notes.push(`backups on storage ${s.storage} not listed: ${(err as Error).message}`);
    }
  });
  return inv;
}

/** One scan: read the cluster, decide. Throws when the guest list, jobs or storages cannot be read. */
export async function scanProxmox(config: AgentConfig, opts: { tools?: PveTools; now?: number; snapshotCache?: SnapshotCache } = {}): Promise<ProxmoxScan> {
  const proxmox = config.proxmox;
  if (!proxmox) throw new Error(`no proxmox: section in ${config.file}`);
  const notes: string[] = [];
  const inv = await readPve(proxmox, opts.tools ?? pveTools(proxmox), notes, opts.snapshotCache);
  const scan = buildScan(inv, { targets: config.targets, proxmox }, opts.now);
  scan.notes.unshift(...notes);
  return scan;
}

// --- The discovered catalog, kept for the commands that send a hello ------------------------

const CATALOG_FILE = 'proxmox-jobs.json';

/** Keeps the last scan's jobs, so a `run` or a restarted daemon says hello with them too. */
export function saveDiscoveredJobs(stateDir: string, jobs: readonly CatalogJob[]): void {
  writeFileAtomic(join(stateDir, CATALOG_FILE), `${JSON.stringify(jobs)}\n`);
}

/** The last scan's jobs; none before the first scan (or when the file cannot be read). */
export function loadDiscoveredJobs(stateDir: string): CatalogJob[] {
  try {
    const jobs = JSON.parse(readFileSync(join(stateDir, CATALOG_FILE), 'utf8')) as unknown;
    return Array.isArray(jobs) ? (jobs as CatalogJob[]) : [];
  } catch {
    return [];
  }
}
