// Host facts: filesystem usage, block devices with SMART health, load, uptime, clock offset.
//
// Plain node APIs (fs.statfs over /proc/self/mounts, /sys/block, os.loadavg/uptime) rather than
// the design card's `systeminformation`: that package is large for a one-file agent bundle with a
// 700 KB budget, and its fsSize()/diskLayout()/blockDevices() spawn `df`, `lsblk`, `smartctl`
// and friends on every call. What we need is a few syscalls and file reads: statfs costs
// microseconds, and nothing at all runs between collections (the daemon keeps one timer). The
// only child processes are `smartctl -H -j` per disk, and `zpool list`/`zpool status`, each only
// where installed.
//
// Type-only imports from shared/protocol: the daemon must not load the schema library
// (see agent/config-loader.ts).
import { execFile, type ExecFileException } from 'node:child_process';
import { accessSync, constants, readdirSync, readFileSync } from 'node:fs';
import { statfs } from 'node:fs/promises';
import { loadavg, uptime } from 'node:os';
import { delimiter, join } from 'node:path';
import type { Disk, Filesystem, HostMessage, Unsequenced } from '../shared/protocol';
import { collectPools, findZpool } from './zfs/pools';

export interface MountEntry {
  /** What is mounted: /dev/sda1, rpool/data, nas:/export, tmpfs… */
  source: string;
  mount: string;
  type: string;
}

// Kernel and runtime filesystems that hold no data worth watching (or always read 100% full).
const PSEUDO_TYPES = new Set([
  'autofs', 'binfmt_misc', 'bpf', 'cgroup', 'cgroup2', 'configfs', 'debugfs', 'devpts', 'devtmpfs',
  'efivarfs', 'fusectl', 'fuse.gvfsd-fuse', 'fuse.lxcfs', 'fuse.portal', 'hugetlbfs', 'mqueue', 'nsfs',
  'proc', 'pstore', 'ramfs', 'rpc_pipefs', 'securityfs', 'selinuxfs', 'squashfs', 'sysfs', 'tracefs',
  'nfsd', 'rootfs', 'none',
]);
// Runtime trees: a tmpfs here is systemd's or the kernel's, not the operator's (a real disk
// under /run, like udisks' /run/media, is kept).
const RUNTIME_DIRS = ['/run', '/dev', '/sys', '/proc'];

const MAX_FILESYSTEMS = 500;
const MAX_DISKS = 200;
const SMARTCTL_TIMEOUT_MS = 20_000;

const under = (path: string, dir: string) => path === dir || path.startsWith(`${dir}/`);

/** /proc/self/mounts escapes space, tab, newline and backslash as octal (\040 …). */
function unescapeMount(field: string): string {
  return field.replace(/\\([0-7]{3})/g, (_, oct: string) => String.fromCharCode(parseInt(oct, 8)));
}

/**
 * The mounts worth reporting, from /proc/self/mounts text: pseudo filesystems dropped, runtime
 * tmpfs dropped, overlay kept only as a container's `/` (Docker's per-container overlays are not
 * the host's disks), and a device mounted more than once (bind mounts) reported once, at its
 * shortest mount path (as GNU df does).
 */
export function parseMounts(text: string): MountEntry[] {
  const kept = new Map<string, MountEntry>();
  for (const line of text.split('\n')) {
    const fields = line.trim().split(/\s+/);
    if (fields.length < 3) continue;
    const [source, mount, type] = fields.slice(0, 3).map(unescapeMount);
    if (!mount.startsWith('/')) continue;
    if (PSEUDO_TYPES.has(type)) continue;
    if (type === 'tmpfs' && RUNTIME_DIRS.some((d) => under(mount, d))) continue;
    if (type === 'overlay' && mount !== '/') continue;
    // A device path, a network share (host:/path, //server/share) or a dataset names one store
    // of bytes; a bare word (tmpfs, none, a zfs pool root) does not, so those stay per mount.
    const key = source.includes('/') || source.includes(':') ? `src:${source}` : `mnt:${mount}`;
    const seen = kept.get(key);
    if (seen && seen.mount !== mount && seen.mount.length <= mount.length) continue;
    // The same mount point mounted over: the last mount is the visible one.
    for (const [k, e] of kept) if (e.mount === mount) kept.delete(k);
    kept.set(key, { source, mount, type });
  }
  return [...kept.values()];
}

/** df's numbers: size = blocks × bsize, used = (blocks − free) × bsize. */
export function usage(st: { bsize: number; blocks: number; bfree: number }): { sizeBytes: number; usedBytes: number } {
  const sizeBytes = st.blocks * st.bsize;
  return { sizeBytes, usedBytes: Math.max(0, st.blocks - st.bfree) * st.bsize };
}

// A statfs on a hung NFS/CIFS mount never returns and holds a libuv pool thread; never start a
// second one on the same mount while the first is stuck.
const stuck = new Set<string>();
const STATFS_TIMEOUT_MS = 5_000;

async function statMount(m: MountEntry): Promise<Filesystem | null> {
  if (stuck.has(m.mount)) return null;
  stuck.add(m.mount);
  let timer: NodeJS.Timeout | undefined;
  const call = statfs(m.mount).finally(() => stuck.delete(m.mount));
  try {
    const st = await Promise.race([
      call,
      new Promise<null>((resolve) => {
        timer = setTimeout(() => resolve(null), STATFS_TIMEOUT_MS);
        timer.unref();
      }),
    ]);
    if (!st || st.blocks === 0) return null;
    return { mount: m.mount, fs: m.source, type: m.type, ...usage(st) };
  } catch {
    return null; // vanished between reading the table and asking, or not permitted
  } finally {
    clearTimeout(timer);
  }
}

export async function collectFilesystems(mountsFile = '/proc/self/mounts'): Promise<Filesystem[]> {
  let text: string;
  try {
    text = readFileSync(mountsFile, 'utf8');
  } catch {
    return [];
  }
  const result = await Promise.all(parseMounts(text).slice(0, MAX_FILESYSTEMS).map(statMount));
  return result.filter((f): f is Filesystem => f !== null);
}

// Whole disks that can carry SMART data; loop, ram, zram, device-mapper, md, optical, nbd and
// partitions are not.
const DISK_RE = /^(sd[a-z]+|hd[a-z]+|vd[a-z]+|xvd[a-z]+|nvme\d+n\d+|mmcblk\d+)$/;

export interface BlockDevice {
  device: string;
  model?: string;
}

/** The whole disks listed in /sys/block with a nonzero size, and their model where sysfs has it. */
export function listBlockDevices(sysBlock = '/sys/block'): BlockDevice[] {
  let names: string[];
  try {
    names = readdirSync(sysBlock);
  } catch {
    return [];
  }
  const read = (...p: string[]) => {
    try {
      return readFileSync(join(sysBlock, ...p), 'utf8').trim();
    } catch {
      return '';
    }
  };
  return names
    .filter((n) => DISK_RE.test(n) && Number(read(n, 'size')) > 0)
    .sort()
    .slice(0, MAX_DISKS)
    .map((n) => {
      const model = read(n, 'device', 'model');
      return model ? { device: `/dev/${n}`, model } : { device: `/dev/${n}` };
    });
}

export interface SmartVerdict {
  smartOk: boolean | null;
  model?: string;
  detail?: string;
}

interface SmartctlJson {
  smartctl?: { exit_status?: number; messages?: { string?: string; severity?: string }[] };
  model_name?: string;
  scsi_model_name?: string;
  smart_status?: { passed?: boolean };
}

const clip = (s: string, max = 1000) => (s.length > max ? `${s.slice(0, max - 1)}…` : s);

/**
 * Reads `smartctl -H -j` output (smartmontools JSON format 1). `smart_status.passed` is the
 * overall-health verdict for ATA, NVMe and SCSI alike. smartctl's exit status is a bit mask
 * (smartctl(8) "RETURN VALUES"): bit 3 (8) means "DISK FAILING" even if the JSON were cut short;
 * bits 0–2 mean it could not ask (bad arguments, device not opened, command failed) → unknown.
 */
export function parseSmartctl(stdout: string, exitCode: number | null): SmartVerdict {
  let data: SmartctlJson;
  try {
    data = JSON.parse(stdout) as SmartctlJson;
  } catch {
    if (exitCode !== null && exitCode & 8) return { smartOk: false, detail: 'smartctl: SMART status DISK FAILING' };
    return { smartOk: null, detail: clip(`smartctl gave no JSON (exit ${exitCode ?? 'signal'})`) };
  }
  const status = data.smartctl?.exit_status ?? exitCode ?? 0;
  const model = data.model_name ?? data.scsi_model_name;
  const errors = (data.smartctl?.messages ?? []).filter((m) => m.severity === 'error' && m.string).map((m) => m.string as string);
  const withModel = (v: SmartVerdict): SmartVerdict => (model ? { ...v, model: clip(model, 256) } : v);
  const passed = data.smart_status?.passed;
  if (passed === false || status & 8) {
    return withModel({ smartOk: false, detail: clip(['SMART overall-health self-assessment: FAILED', ...errors].join('; ')) });
  }
  if (passed === true) {
    // Bit 4: prefail attributes at or below threshold; bit 5: ones that were in the past.
    const notes = [status & 16 ? 'prefail attributes at or below threshold' : '', status & 32 ? 'attributes were at or below threshold in the past' : ''].filter(Boolean);
    return withModel(notes.length ? { smartOk: true, detail: clip(notes.join('; ')) } : { smartOk: true });
  }
  return withModel({ smartOk: null, detail: clip(errors.join('; ') || `smartctl reported no SMART status (exit ${status})`) });
}

/**
 * smartctl's path, or null when it is not installed. Debian puts it in /usr/sbin, which is on a
 * systemd service's PATH but often not on a user's, so the sbin directories are tried too.
 */
export function findSmartctl(pathEnv = process.env.PATH ?? ''): string | null {
  const dirs = [...new Set([...pathEnv.split(delimiter).filter(Boolean), '/usr/sbin', '/sbin'])];
  for (const dir of dirs) {
    const file = join(dir, 'smartctl');
    try {
      accessSync(file, constants.X_OK);
      return file;
    } catch {
      /* not here */
    }
  }
  return null;
}

function runSmartctl(smartctl: string, device: string): Promise<SmartVerdict> {
  return new Promise((resolve) => {
    execFile(smartctl, ['-H', '-j', device], { timeout: SMARTCTL_TIMEOUT_MS, maxBuffer: 1 << 20, encoding: 'utf8' }, (err, stdout) => {
      const e: ExecFileException | null = err;
      if (e && typeof e.code === 'string') {
        resolve({ smartOk: null, detail: clip(`cannot run ${smartctl}: ${e.message}`) });
        return;
      }
      if (e?.killed) {
        resolve({ smartOk: null, detail: `smartctl gave no answer within ${SMARTCTL_TIMEOUT_MS / 1000} s` });
        return;
      }
      resolve(parseSmartctl(stdout, typeof e?.code === 'number' ? e.code : e ? null : 0));
    });
  });
}

/** Block devices with SMART health; without smartctl every verdict is null, and nothing fails. */
export async function collectDisks(smartctl: string | null, sysBlock?: string): Promise<Disk[]> {
  const disks: Disk[] = [];
  // One at a time: SMART queries to several disks behind one controller are best not overlapped.
  for (const dev of listBlockDevices(sysBlock)) {
    if (!smartctl) {
      disks.push({ ...dev, smartOk: null, detail: 'smartctl is not installed (package smartmontools)' });
      continue;
    }
    const verdict = await runSmartctl(smartctl, dev.device);
    const model = dev.model ?? verdict.model;
    disks.push({ device: dev.device, ...(model ? { model } : {}), smartOk: verdict.smartOk, ...(verdict.detail ? { detail: verdict.detail } : {}) });
  }
  return disks;
}

export interface HostFactsOptions {
  /** Collector clock minus ours, from the sender; omitted from the message while unknown. */
  clockOffsetMs: number | null;
  /** smartctl to use; default: looked up in PATH. null: act as if it were not installed. */
  smartctl?: string | null;
  mountsFile?: string;
  sysBlock?: string;
  now?: () => Date;
  /** zpool to use (agent.yaml's `zfs.zpool`); default: looked up in PATH. null: no ZFS pools. */
  zpool?: string | null;
}

/** One `host` message for this machine. Never throws for a missing source: it reports less. */
export async function collectHostFacts(opts: HostFactsOptions): Promise<Unsequenced<HostMessage>> {
  const smartctl = opts.smartctl === undefined ? findSmartctl() : opts.smartctl;
  const zpool = opts.zpool === undefined ? findZpool() : opts.zpool;
  const [filesystems, disks, zfs] = await Promise.all([collectFilesystems(opts.mountsFile), collectDisks(smartctl, opts.sysBlock), zpool ? collectPools(zpool) : null]);
  const facts: Unsequenced<HostMessage> = {
    kind: 'host',
    filesystems,
    disks,
    load1: Math.max(0, loadavg()[0]),
    uptimeS: Math.max(0, Math.floor(uptime())),
    collectedAt: (opts.now?.() ?? new Date()).toISOString(),
  };
  if (opts.clockOffsetMs !== null && Number.isInteger(opts.clockOffsetMs)) facts.clockOffsetMs = opts.clockOffsetMs;
  // zpool failing (no /dev/zfs, the module not loaded) reports no pools rather than no facts.
  if (zfs && !zfs.error) facts.pools = zfs.pools;
  return facts;
}
