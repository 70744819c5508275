// vzdump's own words, read back: the task log (/var/log/pve/tasks/<X>/<UPID>), the per-guest log
// (/var/log/vzdump/<vmtype>-<vmid>.log, the same lines with a local "%F %H:%M:%S " in front), the
// task index and the UPID. Pure functions over text: no clock, no files. The formats are those
// pve-manager PVE/VZDump.pm, qemu-server, pve-common PVE/UPID.pm and PVE/INotify.pm write
// (../shared/REFERENCE-INTEGRATIONS.md §1–2).

export type GuestType = 'qemu' | 'lxc';

export interface GuestBackup {
  vmid: number;
  vmtype: GuestType | null;
  /** "Backup started at …" (local time, task log only), epoch ms. */
  startedAt: number | null;
  /** "Backup finished at …" or "Failed at …" (local time, task log only), epoch ms. */
  endedAt: number | null;
  /** Archive path ("creating vzdump archive '…'") or PBS snapshot ("creating Proxmox Backup Server archive 'vm/100/…Z'"). */
  target: string | null;
  pbs: boolean;
  /** "archive file size: 1.20GB" (file storages; format_size, 1024-based). */
  archiveBytes: number | null;
  /** "transferred 32.00 GiB in 72 seconds" (qemu, and what PBS received). */
  transferredBytes: number | null;
  /** "Finished Backup of VM 100 (00:00:12)". */
  durationSec: number | null;
  /** success: the Finished line; failure: the ERROR line; null: neither (the task was cut short). */
  outcome: 'success' | 'failure' | null;
  /** The text after "ERROR: Backup of VM N failed - ", with its continuation lines. */
  error: string | null;
  warnings: number;
  /** This guest's lines, as logged. */
  lines: string[];
}

export type TaskStatus = { kind: 'ok' } | { kind: 'warnings'; count: number } | { kind: 'error'; message: string };

export interface VzdumpCommand {
  vmids: number[];
  all: boolean;
  pool: string | null;
  storage: string | null;
  dumpdir: string | null;
}

export interface TaskLog {
  /** "starting new backup job: vzdump …" */
  cmdline: string | null;
  command: VzdumpCommand | null;
  guests: GuestBackup[];
  /** "ERROR: Backup job failed - …" */
  jobError: string | null;
  /** The last line: TASK OK / TASK WARNINGS: n / TASK ERROR: …; null while running or cut short. */
  status: TaskStatus | null;
}

const LOCAL_STAMP = /^(\d{4})-(\d{2})-(\d{2}) (\d{2}):(\d{2}):(\d{2})$/;
const GUEST_LOG_PREFIX = /^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2} (?=(?:INFO|WARN|ERROR):)/;

/** "2024-01-31 02:00:03" in the host's local time (vzdump's strftime of localtime), epoch ms. */
export function parseLocalTime(text: string): number | null {
  const m = LOCAL_STAMP.exec(text.trim());
  if (!m) return null;
  const t = new Date(+m[1], +m[2] - 1, +m[3], +m[4], +m[5], +m[6]).getTime();
  return Number.isNaN(t) ? null : t;
}

const FILE_ARCHIVE = /(?:^|\/)vzdump-(lxc|openvz|qemu)-([1-9]\d{2,8})-(\d{4})_(\d{2})_(\d{2})-(\d{2})_(\d{2})_(\d{2})\.(?:tgz|(?:tar|vma)(?:\.(?:gz|lzo|zst|bz2))?|dat)$/;
const PBS_SNAPSHOT = /^(vm|ct)\/([1-9]\d{2,8})\/(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})Z$/;

/** A PBS snapshot name, `vm/100/2024-01-31T01:00:03Z`, rather than an archive path. */
export const isPbsSnapshot = (target: string) => PBS_SNAPSHOT.test(target);

/**
 * When vzdump began a guest's backup (its `backup_time`), from the name it gave the copy: local
 * time in an archive name (`vzdump-qemu-100-2024_01_31-02_00_03.vma.zst`), UTC in a PBS snapshot
 * name (`vm/100/2024-01-31T01:00:03Z`). Epoch ms, or null for anything else (`-` for stdout).
 */
export function backupTimeOf(target: string | null | undefined): number | null {
  if (!target) return null;
  let m = PBS_SNAPSHOT.exec(target);
  if (m) return Date.UTC(+m[3], +m[4] - 1, +m[5], +m[6], +m[7], +m[8]);
  m = FILE_ARCHIVE.exec(target);
  if (m) return new Date(+m[3], +m[4] - 1, +m[5], +m[6], +m[7], +m[8]).getTime();
  return null;
}

/** The snapshot id a run reports: the archive's file name, or the PBS snapshot name as it is. */
export function snapshotIdOf(target: string | null | undefined): string | null {
  if (!target || target === '-') return null;
  if (isPbsSnapshot(target)) return target;
  return target.slice(target.lastIndexOf('/') + 1) || null;
}

const UNIT: Record<string, number> = {
  B: 1,
  KB: 2 ** 10, MB: 2 ** 20, GB: 2 ** 30, TB: 2 ** 40, PB: 2 ** 50,
  KIB: 2 ** 10, MIB: 2 ** 20, GIB: 2 ** 30, TIB: 2 ** 40, PIB: 2 ** 50,
};

/** "1.20GB", "532MB", "32.00 GiB": vzdump's format_size and qemu-server's render_bytes are both 1024-based. */
export function parseVzdumpSize(text: string): number | null {
  const m = /^(\d+(?:\.\d+)?)\s*([KMGTP]i?B|B)?$/i.exec(text.trim());
  if (!m) return null;
  const unit = UNIT[(m[2] ?? 'B').toUpperCase()];
  return unit === undefined ? null : Math.round(Number(m[1]) * unit);
}

/** "00:00:12" (format_time; hours may exceed 24), seconds. */
export function parseVzdumpDuration(text: string): number | null {
  const m = /^(\d+):([0-5]\d):([0-5]\d)$/.exec(text.trim());
  return m ? +m[1] * 3600 + +m[2] * 60 + +m[3] : null;
}

/** The task's status line (pve-common PVE/RESTEnvironment.pm, PVE/UPID.pm read_status). */
export function parseStatusLine(line: string): TaskStatus | null {
  if (line === 'TASK OK') return { kind: 'ok' };
  let m = /^TASK WARNINGS: (\d+)$/.exec(line);
  if (m) return { kind: 'warnings', count: Number(m[1]) };
  m = /^TASK ERROR: (.*)$/.exec(line);
  return m ? { kind: 'error', message: m[1] } : null;
}

/**
 * The job's command line as vzdump logs it ("vzdump 100 101 --mode snapshot --storage local …",
 * options in any order): which guests, and where to.
 */
export function parseVzdumpCommand(cmdline: string): VzdumpCommand | null {
  const words = cmdline.trim().split(/\s+/);
  if (words[0] !== 'vzdump') return null;
  const vmids: number[] = [];
  let i = 1;
  for (; i < words.length && /^\d+$/.test(words[i]); i++) vmids.push(Number(words[i]));
  const opts = new Map<string, string>();
  for (; i < words.length; i++) {
    if (!words[i].startsWith('--')) continue;
    const key = words[i].slice(2);
    const next = words[i + 1];
    // A flag without a value (`--all`) reads as 1, like the API's booleans (`--all 1`).
    if (next !== undefined && !next.startsWith('--')) opts.set(key, words[++i]);
    else opts.set(key, '1');
  }
  // "--vmid 100,101" (the API parameter) as well as the positional list.
  for (const v of (opts.get('vmid') ?? '').split(/[,;\s]+/)) if (/^\d+$/.test(v)) vmids.push(Number(v));
  const all = opts.has('all') && opts.get('all') !== '0';
  return { vmids, all, pool: opts.get('pool') ?? null, storage: opts.get('storage') ?? null, dumpdir: opts.get('dumpdir') ?? null };
}

interface Line {
  level: 'INFO' | 'WARN' | 'ERROR' | null;
  text: string;
  raw: string;
}

function splitLine(raw: string): Line {
  const line = raw.replace(GUEST_LOG_PREFIX, '');
  const m = /^(INFO|WARN|ERROR): ?(.*)$/.exec(line);
  return m ? { level: m[1] as Line['level'], text: m[2], raw } : { level: null, text: line, raw };
}

function newGuest(vmid: number, vmtype: GuestType | null): GuestBackup {
  return { vmid, vmtype, startedAt: null, endedAt: null, target: null, pbs: false, archiveBytes: null, transferredBytes: null, durationSec: null, outcome: null, error: null, warnings: 0, lines: [] };
}

const MAX_ERROR_CHARS = 4000;

/**
 * Parses a vzdump task log, or one guest's log from /var/log/vzdump (its lines carry a local
 * timestamp, stripped here). Lines between "Starting Backup of VM N" and the next guest or the
 * job's end belong to guest N; an ERROR for a guest that never started (e.g. "unable to find
 * VM") makes a guest of its own.
 */
export function parseTaskLog(text: string, of?: { vmid: number; vmtype: GuestType | null }): TaskLog {
  const out: TaskLog = { cmdline: null, command: null, guests: [], jobError: null, status: null };
  // One guest's log read from its tail may have lost its "Starting Backup" line: it is still that guest's.
  let guest: GuestBackup | null = of ? newGuest(of.vmid, of.vmtype) : null;
  if (guest) out.guests.push(guest);
  // The ERROR line's continuation lines (a multi-line error is logged one "ERROR: " line each).
  let errorOf: GuestBackup | null = null;
  const rawLines = text.split('\n');
  if (rawLines[rawLines.length - 1] === '') rawLines.pop();
  for (const raw of rawLines) {
    const status = parseStatusLine(raw);
    if (status) {
      out.status = status;
      guest = null;
      continue;
    }
    const { level, text: t } = splitLine(raw);
    if (errorOf && level === 'ERROR' && !/^Backup (?:of VM \d+|job) failed - /.test(t)) {
      if ((errorOf.error?.length ?? 0) < MAX_ERROR_CHARS) errorOf.error = `${errorOf.error}\n${t}`.slice(0, MAX_ERROR_CHARS);
      errorOf.lines.push(raw);
      continue;
    }
    errorOf = null;
    let m: RegExpExecArray | null;
    if ((m = /^starting new backup job: (vzdump\b.*)$/.exec(t))) {
      out.cmdline = m[1];
      out.command = parseVzdumpCommand(m[1]);
      continue;
    }
    if ((m = /^Starting Backup of VM (\d+) \((qemu|lxc|openvz)\)$/.exec(t))) {
      const vmtype = m[2] === 'qemu' ? 'qemu' : 'lxc';
      if (guest?.vmid === Number(m[1]) && guest.lines.length === 0) guest.vmtype = vmtype;
      else out.guests.push((guest = newGuest(Number(m[1]), vmtype)));
      guest.lines.push(raw);
      continue;
    }
    if ((m = /^Backup of VM (\d+) failed - (.*)$/.exec(t)) && level === 'ERROR') {
      const vmid = Number(m[1]);
      if (guest?.vmid !== vmid) {
        guest = newGuest(vmid, null);
        out.guests.push(guest);
      }
      guest.outcome = 'failure';
      guest.error = m[2].slice(0, MAX_ERROR_CHARS);
      guest.lines.push(raw);
      errorOf = guest;
      continue;
    }
    if ((m = /^Backup job failed - (.*)$/.exec(t))) {
      out.jobError = m[1];
      guest = null;
      continue;
    }
    if (/^Backup job finished (?:successfully|with errors)$/.test(t)) {
      guest = null;
      continue;
    }
    if (!guest) continue;
    guest.lines.push(raw);
    if (level === 'WARN') guest.warnings++;
    if ((m = /^Backup started at (.*)$/.exec(t))) guest.startedAt = parseLocalTime(m[1]);
    else if ((m = /^(?:Backup finished|Failed) at (.*)$/.exec(t))) guest.endedAt = parseLocalTime(m[1]);
    else if ((m = /^creating vzdump archive '(.*)'$/.exec(t))) guest.target = m[1];
    else if ((m = /^creating Proxmox Backup Server archive '(.*)'$/.exec(t))) {
      guest.target = m[1];
      guest.pbs = true;
    } else if ((m = /^archive file size: (\S+)$/.exec(t))) guest.archiveBytes = parseVzdumpSize(m[1]);
    else if ((m = /^transferred (\d+(?:\.\d+)?\s*[KMGTP]?i?B) in \d+ seconds\b/.exec(t))) guest.transferredBytes = parseVzdumpSize(m[1]);
    else if ((m = /^Finished Backup of VM (\d+) \((\d+:\d{2}:\d{2})\)$/.exec(t)) && Number(m[1]) === guest.vmid) {
      guest.outcome = 'success';
      guest.durationSec = parseVzdumpDuration(m[2]);
    }
  }
  return out;
}

export interface Upid {
  upid: string;
  node: string;
  pid: number;
  pstart: number;
  /** Epoch seconds. */
  starttime: number;
  type: string;
  id: string;
  user: string;
  /** The task log's path below the task directory: `<last hex digit of starttime>/<UPID>`. */
  logPath: string;
}

/** `UPID:$node:%08X:%08X:%08X:$type:$id:$user:` (pve-common PVE/UPID.pm). */
export function parseUpid(upid: string): Upid | null {
  const m = /^UPID:([a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?):([0-9A-Fa-f]{8}):([0-9A-Fa-f]{8,9}):([0-9A-Fa-f]{8}):([^:\s]+):([^:\s]*):([^:\s]+):$/.exec(upid);
  if (!m) return null;
  return {
    upid,
    node: m[1],
    pid: parseInt(m[2], 16),
    pstart: parseInt(m[3], 16),
    starttime: parseInt(m[4], 16),
    type: m[5],
    id: m[6],
    user: m[7],
    logPath: `${m[4].slice(7, 8)}/${upid}`,
  };
}

export interface TaskEntry extends Upid {
  /** Epoch seconds; null while running. */
  endtime: number | null;
  /** "OK", "WARNINGS: 2", the error text, "unexpected status"; null while running. */
  status: string | null;
}

/**
 * Lines of the task index (`/var/log/pve/tasks/index`, `index.1`: "UPID ENDTIME STATUS") or of
 * the active list (`active`: "UPID SAVED [ENDTIME [STATUS]]"), as PVE/INotify.pm and
 * PVE/RPCEnvironment.pm write them. Lines that do not parse are skipped.
 */
export function parseTaskIndex(text: string, kind: 'index' | 'active'): TaskEntry[] {
  const out: TaskEntry[] = [];
  const re = kind === 'index' ? /^(\S+)(?:\s([0-9A-Za-z]{8})(?:\s(\S.*))?)?$/ : /^(\S+)\s[01](?:\s([0-9A-Za-z]{8})(?:\s\s*(\S.*))?)?$/;
  for (const line of text.split('\n')) {
    const m = re.exec(line.trimEnd());
    if (!m) continue;
    const upid = parseUpid(m[1]);
    if (!upid) continue;
    out.push({ ...upid, endtime: m[2] ? parseInt(m[2], 16) : null, status: m[3] ?? null });
  }
  return out;
}
