import { closeSync, fstatSync, mkdirSync, openSync, readdirSync, readSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { isMissing } from '../durable-file';

// What the vzdump hook and the task-history scan share, so that one backup is reported once
// whichever of them saw it: the job name, a run id derived from the backup itself, and a marker
// file per reported backup under <stateDir>/vzdump/reported/. Markers are files (not one list
// rewritten by both) so the hook and the daemon's scan never race over a shared file.

/** A guest's backup to a storage is the job `vzdump-<vmid>-<storage>`, the storage its target. */
export const vzdumpJobName = (vmid: number, storage: string) => `vzdump-${vmid}-${storage}`;

/** The folder of the hook's and the scan's state. */
export const vzdumpStateDir = (stateDir: string) => join(stateDir, 'vzdump');
const reportedDir = (stateDir: string) => join(vzdumpStateDir(stateDir), 'reported');

/**
 * The run id of one backup: the same from the hook and from the task history (both read the
 * backup's time from the archive or snapshot name), so even a backup both reported is one run
 * at the collector. A UUID (version 8, "custom") of two 64-bit FNV-1a hashes over agent, guest,
 * storage and time: not secret, only stable, and without node:crypto, whose loading alone
 * costs the hook more than its whole budget over a bare node start.
 */
export function vzdumpRunId(agent: string, vmid: number, storage: string, backupTimeSec: number): string {
  const text = `vzdump\0${agent}\0${vmid}\0${storage}\0${backupTimeSec}`;
  const h = fnv1a64(text, 0xcbf29ce484222325n) + fnv1a64(`${text}\0lifeline`, 0x84222325cbf29ce4n);
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-8${h.slice(13, 16)}-${((parseInt(h[16], 16) & 0x3) | 0x8).toString(16)}${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

function fnv1a64(text: string, offset: bigint): string {
  let h = offset;
  for (const byte of Buffer.from(text)) h = ((h ^ BigInt(byte)) * 0x100000001b3n) & 0xffffffffffffffffn;
  return h.toString(16).padStart(16, '0');
}

/** One backup of a guest to a storage, as both the hook and the history scan name it. */
export interface BackupKey {
  vmid: number;
  storage: string;
  /** Epoch seconds: vzdump's time of the backup, read from the archive or snapshot name, or else a near time. */
  timeSec: number;
  /** The time is vzdump's own (from the copy's name), not a near one ("Backup started at", the hook's clock). */
  exact: boolean;
}

export interface ReportedBackup extends BackupKey {
  file: string;
}

/**
 * Storage ids are `[a-z][a-z0-9._-]*[a-z0-9]` (pve-storage), so the storage goes last in the
 * marker's name: `<vmid>.<time>.<storage>`, with `~` after a near time.
 */
const markerName = (k: BackupKey) => `${k.vmid}.${k.timeSec}${k.exact ? '' : '~'}.${k.storage}`;

export function markReported(stateDir: string, key: BackupKey): void {
  const file = join(reportedDir(stateDir), markerName(key));
  for (let attempt = 0; ; attempt++) {
    try {
      closeSync(openSync(file, 'wx', 0o600));
      return;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EEXIST') return;
      if (!isMissing(err) || attempt > 0) throw err;
      mkdirSync(reportedDir(stateDir), { recursive: true, mode: 0o700 });
    }
  }
}

/** Takes a marker back: the backup's report could not be stored, so the history scan may send it. */
export function unmarkReported(stateDir: string, key: BackupKey): void {
  try {
    unlinkSync(join(reportedDir(stateDir), markerName(key)));
  } catch {
    /* not there */
  }
}

export function listReported(stateDir: string): ReportedBackup[] {
  let names: string[];
  try {
    names = readdirSync(reportedDir(stateDir));
  } catch (err) {
    if (isMissing(err)) return [];
    throw err;
  }
  const out: ReportedBackup[] = [];
  for (const name of names) {
    const m = /^(\d+)\.(\d+)(~?)\.([a-z][a-z0-9._-]*)$/i.exec(name);
    if (m) out.push({ vmid: Number(m[1]), storage: m[4], timeSec: Number(m[2]), exact: m[3] === '', file: join(reportedDir(stateDir), name) });
  }
  return out;
}

/**
 * How far apart two times of one backup may be when one of them is a near time: the hook's
 * clock at backup-start, or "Backup started at", against vzdump's own time, a few seconds
 * before. Two exact times match only when equal, so two backups of a guest minutes apart stay two.
 */
export const SAME_BACKUP_SEC = 300;

export class ReportedIndex {
  private readonly keys = new Map<string, BackupKey[]>();
  constructor(entries: readonly BackupKey[]) {
    for (const e of entries) this.add(e);
  }
  add(key: BackupKey): void {
    const id = `${key.vmid}\0${key.storage}`;
    this.keys.set(id, [...(this.keys.get(id) ?? []), key]);
  }
  has(key: BackupKey): boolean {
    return (this.keys.get(`${key.vmid}\0${key.storage}`) ?? []).some((k) =>
      k.exact && key.exact ? k.timeSec === key.timeSec : Math.abs(k.timeSec - key.timeSec) <= SAME_BACKUP_SEC,
    );
  }
}

/** Reads at most `max` bytes from the head or the tail of a file, with its mtime; null if unreadable. */
export function readFileSlice(path: string, where: 'head' | 'tail', max: number): { text: string; mtimeMs: number } | null {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch {
    return null;
  }
  try {
    const st = fstatSync(fd);
    const len = Math.min(st.size, max);
    const buf = Buffer.alloc(len);
    let off = 0;
    const start = where === 'tail' ? st.size - len : 0;
    while (off < len) {
      const n = readSync(fd, buf, off, len - off, start + off);
      if (n <= 0) break;
      off += n;
    }
    let text = buf.subarray(0, off).toString('utf8');
    // A tail starts mid-line: drop the partial line.
    if (where === 'tail' && start > 0) text = text.slice(text.indexOf('\n') + 1);
    return { text, mtimeMs: st.mtimeMs };
  } catch {
    return null;
  } finally {
    closeSync(fd);
  }
}
