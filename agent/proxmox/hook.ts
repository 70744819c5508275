import { mkdirSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { hostname } from 'node:os';
import { dirname, join } from 'node:path';
import type { Unsequenced } from '../../shared/protocol';
import { NAME_RE } from '../../shared/protocol-constants';
import { formatBytes } from '../../shared/size';
import { describeFsError, isMissing, unlinkQuiet, writeFileAtomic } from '../durable-file';
import { LOG_TAIL_BYTES, LogTail } from '../log-tail';
import { Spool, SpoolWriteError } from '../spool';
import { lifelineBackupRunning } from './lifeline-backups';
import { listReported, markReported, readFileSlice, unmarkReported, vzdumpJobName, vzdumpRunId, vzdumpStateDir, type BackupKey } from './reported';
import { backupTimeOf, parseTaskIndex, parseTaskLog, snapshotIdOf, type GuestBackup } from './task-log';

// `lifeline-agent vzdump-hook PHASE [MODE VMID]`: vzdump's hook script (its `script` option),
// so backups configured in the Proxmox UI are reported as they happen. vzdump calls it a dozen
// times per guest with an emptied environment (no PATH, no HOME: only STOREID, DUMPDIR, VMTYPE,
// HOSTNAME = the guest's name, TARGET, LOGFILE, LC_ALL=C) and waits for it; a non-zero exit
// fails the guest's backup (../shared/REFERENCE-INTEGRATIONS.md §1). So the hook:
// - never fails a phase: whatever goes wrong (a broken config, a full disk) is one
//   "lifeline-agent: …" line, which vzdump logs as INFO, and exit 0;
// - never makes vzdump wait: it writes the report to the spool and returns; the daemon sends
//   it (with its next heartbeat), and a collector outage is absorbed by the spool;
// - runs from its own small bundle (dist/lifeline-vzdump-hook.cjs, without the YAML parser and
//   the schema library), so a call costs about a bare `node` start plus the spool's fsyncs. The
//   five settings it needs come from a cache file in the state directory, kept while the config
//   file is unchanged; after an edit the full agent resolves the config once
//   (`check-config --json`, the same loader and defaults as the daemon's) and the cache is
//   remade.
// A backup the hook missed (not installed yet, a per-job script, a call that could not record)
// is found later in the task history by the daemon (history.ts).

/** What the hook needs from the agent config. */
export interface HookSettings {
  name: string;
  stateDir: string;
  maxBytes: number;
  /** proxmox.logDir: the per-guest logs. */
  logDir: string;
  /** proxmox.taskDir: the task logs. */
  taskDir: string;
}

/** Where vzdump writes, when agent.yaml has no `proxmox:` section (the same as its defaults). */
export const PVE_LOG_DIRS = { logDir: '/var/log/vzdump', taskDir: '/var/log/pve/tasks' } as const;

/** The config cannot give the hook what it needs; the message is shown as is. */
export class HookConfigError extends Error {}

/** The hook's settings out of the resolved agent config (`check-config --json` or loadConfig). */
export function settingsFromConfig(c: { name: string; stateDir: string; spool: { maxBytes: number }; proxmox?: { logDir: string; taskDir: string } }): HookSettings {
  return { name: c.name, stateDir: c.stateDir, maxBytes: c.spool.maxBytes, logDir: c.proxmox?.logDir ?? PVE_LOG_DIRS.logDir, taskDir: c.proxmox?.taskDir ?? PVE_LOG_DIRS.taskDir };
}

/** Resolves the config with the full agent beside the hook, in a child: `check-config --json`. */
export async function settingsFromAgent(agentBin: string, file: string): Promise<HookSettings> {
  // Loaded only here: node:child_process costs a start-up more than everything else the hook loads.
  const { spawnSync } = await import('node:child_process');
  const r = spawnSync(process.execPath, [agentBin, 'check-config', '--json', '--config', file], { encoding: 'utf8', env: {}, timeout: 60_000 });
  if (r.status === 0) return settingsFromConfig(JSON.parse(r.stdout) as Parameters<typeof settingsFromConfig>[0]);
  const why = (r.stderr || r.error?.message || `exit ${r.status ?? r.signal}`).replace(/^invalid config:\n/, '').trim().split('\n').join('; ');
  throw new HookConfigError(`invalid config ${file}: ${why}`);
}

interface SettingsCache {
  /** Identifies the config file's version: path, inode, size, mtime, ctime, and the host name (the default agent name). */
  key: string;
  settings: HookSettings;
}

/**
 * The hook's settings: from the cache while the config file is the one it was made from, else
 * resolved (`resolve`) and the cache rewritten. The cache only saves time: unreadable, stale or
 * missing, it is remade.
 */
export async function loadHookSettings(file: string, cacheFile: string | undefined, resolve: (file: string) => Promise<HookSettings>): Promise<HookSettings> {
  let key: string;
  try {
    const st = statSync(file);
    key = `${file}\0${st.ino}\0${st.size}\0${st.mtimeMs}\0${st.ctimeMs}\0${hostname()}`;
  } catch (err) {
    throw new HookConfigError(`cannot read the agent config ${file}: ${(err as Error).message}`);
  }
  if (cacheFile) {
    try {
      const cached = JSON.parse(readFileSync(cacheFile, 'utf8')) as SettingsCache;
      if (cached.key === key && typeof cached.settings?.stateDir === 'string') return cached.settings;
    } catch {
      /* no cache yet, or a torn one: remade below */
    }
  }
  const settings = await resolve(file);
  if (cacheFile) {
    try {
      mkdirSync(dirname(cacheFile), { recursive: true, mode: 0o700 });
      writeFileAtomic(cacheFile, `${JSON.stringify({ key, settings } satisfies SettingsCache)}\n`, { fsync: false });
    } catch {
      // A read-only or full state directory: the next call resolves the config again.
    }
  }
  return settings;
}

export interface HookCall {
  phase: string;
  mode?: string;
  vmid?: string;
  /** The environment vzdump gave (STOREID, VMTYPE, HOSTNAME, TARGET, …). */
  env: Readonly<Record<string, string | undefined>>;
  /** The settings, asked for only by the phases that record something; may throw. */
  settings: () => HookSettings | Promise<HookSettings>;
  /** The vzdump process (the hook's parent), to find its task among several running ones. */
  parentPid?: number;
  now?: number;
}

/** A guest whose backup-start was recorded and whose end was not yet. */
interface OpenGuest {
  runId: string;
  job: string;
  vmid: number;
  storage: string;
  vmtype: string | null;
  mode: string | null;
  /** Epoch ms of the backup-start call. */
  startedAt: number;
  backupTimeSec: number;
  /** backupTimeSec is vzdump's own (read from TARGET), not the hook's clock. */
  exact: boolean;
  target: string | null;
}

/** The job between job-start and job-end/job-abort. */
interface OpenJob {
  startedAt: number;
  storage: string | null;
}

const PREFIX = 'lifeline-agent:';
/** The phases that record something; vzdump's others are answered at once. */
export const HOOK_PHASES: ReadonlySet<string> = new Set(['job-start', 'backup-start', 'backup-end', 'backup-abort', 'job-end', 'job-abort']);
/** Enough of the per-guest log for its last lines: the size, the error, the outcome. */
const GUEST_LOG_READ_BYTES = 256 * 1024;

/**
 * Runs one hook call and returns the lines to print (each "lifeline-agent: …"). Never throws:
 * vzdump would fail the guest's backup over a non-zero exit.
 */
export async function runVzdumpHook(call: HookCall): Promise<string[]> {
  // job-init, pre-stop, pre-restart, post-restart, log-end, and phases of later versions.
  if (!HOOK_PHASES.has(call.phase)) return [];
  try {
    return new HookRun(call, await call.settings()).run();
  } catch (err) {
    // A filesystem error names its path; any other (the config, the spool) says what it is.
    const e = err as NodeJS.ErrnoException;
    const why = e?.syscall ? describeFsError(err, e.path ?? 'the agent state directory') : (e?.message ?? String(err));
    return [`${PREFIX} ${call.phase}${call.vmid ? ` of VM ${call.vmid}` : ''} not recorded: ${why} (the daemon's task-history scan reports the backup later)`];
  }
}

class HookRun {
  private readonly now: number;
  private readonly dir: string;
  private readonly out: string[] = [];
  private spoolInstance?: Spool;

  constructor(private readonly call: HookCall, private readonly s: HookSettings) {
    this.now = call.now ?? Date.now();
    this.dir = vzdumpStateDir(s.stateDir);
  }

  run(): string[] {
    switch (this.call.phase) {
      case 'job-start':
        this.jobStart();
        break;
      case 'backup-start':
        this.backupStart();
        break;
      case 'backup-end':
      case 'backup-abort':
        this.backupEnd(this.call.phase === 'backup-end');
        break;
      default:
        this.jobEnd(this.call.phase === 'job-abort');
    }
    return this.out;
  }

  private get spool(): Spool {
    return (this.spoolInstance ??= new Spool(join(this.s.stateDir, 'spool'), { maxBytes: this.s.maxBytes, agent: this.s.name, appendOnly: true }));
  }

  private append(msg: Unsequenced): boolean {
    try {
      this.spool.append(msg);
      return true;
    } catch (err) {
      if (!(err instanceof SpoolWriteError)) throw err;
      this.out.push(`${PREFIX} ${err.message} (the daemon's task-history scan reports the backup later)`);
      return false;
    }
  }

  private vmid(): number | null {
    const v = this.call.vmid;
    if (v && /^[1-9]\d{2,8}$/.test(v)) return Number(v);
    this.out.push(`${PREFIX} ${this.call.phase}: expected MODE and VMID after the phase, got ${JSON.stringify([this.call.mode, v].filter(Boolean).join(' '))}`);
    return null;
  }

  /**
   * A backup Lifeline runs itself (the vzdump driver holds the guest's lock while its vzdump
   * runs) is reported by its job: the hook leaves it alone (agent/proxmox/lifeline-backups.ts).
   */
  private lifelineOwns(vmid: number, storage: string): boolean {
    return lifelineBackupRunning(this.s.stateDir, vmid, storage);
  }

  /** The job name for this guest, or null (with the reason printed) when it cannot be one. */
  private jobFor(vmid: number, storage: string | undefined): string | null {
    if (!storage) {
      this.out.push(`${PREFIX} VM ${vmid} is backed up to a directory (--dumpdir) or stdout, not a storage: not reported`);
      return null;
    }
    const job = vzdumpJobName(vmid, storage);
    if (NAME_RE.test(job)) return job;
    this.out.push(`${PREFIX} VM ${vmid}: storage ${JSON.stringify(storage)} makes no valid job name: not reported`);
    return null;
  }

  private jobStart(): void {
    this.closeOpenGuests('vzdump stopped before this backup ended: no backup-end or backup-abort came (was the host or vzdump stopped?)');
    this.writeState('job.json', { startedAt: this.now, storage: this.call.env.STOREID ?? null } satisfies OpenJob);
  }

  private backupStart(): void {
    const vmid = this.vmid();
    if (vmid === null) return;
    const { env } = this.call;
    const storage = env.STOREID;
    const job = this.jobFor(vmid, storage);
    if (!job || !storage || this.lifelineOwns(vmid, storage)) return;
    // vzdump names the copy after the time it began this guest; the task history reads the same.
    const backupTime = backupTimeOf(env.TARGET);
    const backupTimeSec = Math.floor((backupTime ?? this.now) / 1000);
    const runId = vzdumpRunId(this.s.name, vmid, storage, backupTimeSec);
    // Not stored: no state either, so the task-history scan reports this backup later.
    if (!this.append({ kind: 'run-start', runId, job, operation: 'backup', trigger: 'schedule', startedAt: new Date(this.now).toISOString() })) return;
    const open: OpenGuest = { runId, job, vmid, storage, vmtype: env.VMTYPE ?? null, mode: this.call.mode ?? null, startedAt: this.now, backupTimeSec, exact: backupTime !== null, target: env.TARGET ?? null };
    this.writeState(`guest-${vmid}.json`, open);
    markReported(this.s.stateDir, keyOf(open));
  }

  private backupEnd(ok: boolean): void {
    const vmid = this.vmid();
    if (vmid === null) return;
    const { env } = this.call;
    let open = this.readState<OpenGuest>(`guest-${vmid}.json`);
    if (!open) {
      // No backup-start recorded (it failed before it, or the hook was installed mid-job).
      const storage = env.STOREID;
      const job = this.jobFor(vmid, storage);
      if (!job || !storage || this.lifelineOwns(vmid, storage)) return;
      const backupTime = backupTimeOf(env.TARGET);
      const backupTimeSec = Math.floor((backupTime ?? this.now) / 1000);
      open = {
        runId: vzdumpRunId(this.s.name, vmid, storage, backupTimeSec),
        job, vmid, storage, vmtype: env.VMTYPE ?? null, mode: this.call.mode ?? null,
        startedAt: Math.min(backupTime ?? this.now, this.now), backupTimeSec, exact: backupTime !== null, target: env.TARGET ?? null,
      };
    }
    const target = env.TARGET ?? open.target;
    this.finish({ ...open, target, vmtype: env.VMTYPE ?? open.vmtype }, ok ? 'success' : 'failure', ok ? null : `vzdump aborted the backup of VM ${vmid} (backup-abort)`);
  }

  private jobEnd(aborted: boolean): void {
    const job = this.readState<OpenJob>('job.json');
    const closed = this.closeOpenGuests(
      aborted
        ? 'the backup job was aborted (job-abort) while this guest was being backed up'
        : 'vzdump ended the job (job-end) without a backup-end or backup-abort for this guest',
    );
    if (aborted) this.reportUnstarted(job, closed);
    this.removeState('job.json');
  }

  /**
   * A job aborted before some of its guests (stopped in the UI, or failed between guests): the
   * guests named on its command line that never got a backup-start failed too. The command line
   * is the first line of the running task's log.
   */
  private reportUnstarted(job: OpenJob | null, closed: number[]): void {
    const storage = job?.storage ?? this.call.env.STOREID;
    const task = this.runningTask();
    const command = task ? parseTaskLog(task.head).command : null;
    // Guests that got a backup-start in this job: their markers are no older than the job.
    const since = Math.floor((job?.startedAt ?? this.now) / 1000) - 5;
    const started = new Set([...closed, ...listReported(this.s.stateDir).filter((r) => r.timeSec >= since).map((r) => r.vmid)]);
    if (!command || command.vmids.length === 0) {
      if (started.size === 0) {
        const which = command?.all ? 'all guests (--all)' : command?.pool ? `pool ${command.pool}` : 'its guests';
        this.out.push(`${PREFIX} the backup job was aborted before any guest was backed up; ${which} cannot be listed here, so the collector reports them as missed`);
      }
      return;
    }
    for (const vmid of command.vmids) {
      if (started.has(vmid)) continue;
      const name = this.jobFor(vmid, storage ?? command.storage ?? undefined);
      const st = (storage ?? command.storage)!;
      if (!name || this.lifelineOwns(vmid, st)) continue;
      const timeSec = Math.floor(this.now / 1000);
      const runId = vzdumpRunId(this.s.name, vmid, st, timeSec);
      const error = `the backup job was aborted before VM ${vmid} was backed up (task ${task!.upid})`;
      if (this.append(this.runMessage({ runId, job: name, startedAt: this.now, status: 'failure', error, logTail: `${error}\n` }))) {
        markReported(this.s.stateDir, { vmid, storage: st, timeSec, exact: false });
        this.out.push(`${PREFIX} VM ${vmid}: failure recorded (job ${name}, aborted before it started)`);
      }
    }
  }

  /** The running vzdump task (the `active` list), preferably the one whose pid is our parent's. */
  private runningTask(): { upid: string; head: string } | null {
    let active: string;
    try {
      active = readFileSync(join(this.s.taskDir, 'active'), 'utf8');
    } catch {
      return null;
    }
    const running = parseTaskIndex(active, 'active').filter((t) => t.type === 'vzdump' && t.endtime === null);
    const task = running.find((t) => t.pid === this.call.parentPid) ?? running.sort((a, b) => b.starttime - a.starttime)[0];
    if (!task) return null;
    const head = readFileSlice(join(this.s.taskDir, task.logPath), 'head', 64 * 1024);
    return head ? { upid: task.upid, head: head.text } : null;
  }

  /** Closes as failed every guest whose backup started and never ended; returns their VMIDs. */
  private closeOpenGuests(error: string): number[] {
    let names: string[];
    try {
      names = readdirSync(this.dir).filter((n) => /^guest-\d+\.json$/.test(n));
    } catch (err) {
      if (isMissing(err)) return [];
      throw err;
    }
    const closed: number[] = [];
    for (const name of names) {
      const open = this.readState<OpenGuest>(name);
      if (!open) continue;
      this.finish(open, 'failure', error, true);
      closed.push(open.vmid);
    }
    return closed;
  }

  /** Spools the run of a guest from what its log says, and forgets the open guest. */
  private finish(open: OpenGuest, phaseOutcome: 'success' | 'failure', fallbackError: string | null, logDecides = false): void {
    const log = this.guestLog(open);
    // Closing a guest whose end call never came: its log may still say how it ended.
    const outcome = (logDecides ? log?.guest?.outcome : null) ?? phaseOutcome;
    const status = outcome === 'failure' ? 'failure' : (log?.guest?.warnings ?? 0) > 0 ? 'warning' : 'success';
    const g = log?.guest;
    const error = outcome === 'failure' ? (g?.error ?? fallbackError ?? undefined) : undefined;
    const bytes = g?.archiveBytes ?? g?.transferredBytes ?? null;
    const snapshotId = outcome === 'success' ? snapshotIdOf(g?.target ?? open.target) : null;
    const tail = new LogTail();
    if (log) tail.write(log.text);
    if (!log?.guest?.error && error) tail.line(`lifeline-agent: ${error}`);
    const msg = this.runMessage({
      runId: open.runId,
      job: open.job,
      startedAt: open.startedAt,
      status,
      error,
      logTail: tail.toString(),
      ...(bytes !== null ? { bytesTotal: bytes } : {}),
      ...(snapshotId ? { snapshotId } : {}),
    });
    if (this.append(msg)) {
      markReported(this.s.stateDir, keyOf(open));
      const size = bytes !== null ? `, ${formatBytes(bytes)}` : '';
      this.out.push(`${PREFIX} VM ${open.vmid}: ${status}${size} recorded (job ${open.job})`);
    } else {
      // Not stored: let the task-history scan report it once there is room again.
      unmarkReported(this.s.stateDir, keyOf(open));
    }
    this.removeState(`guest-${open.vmid}.json`);
  }

  private runMessage(r: { runId: string; job: string; startedAt: number; status: 'success' | 'warning' | 'failure'; error?: string; logTail: string; bytesTotal?: number; snapshotId?: string }): Unsequenced {
    const { startedAt, error, ...rest } = r;
    return {
      kind: 'run',
      operation: 'backup',
      trigger: 'schedule',
      ...rest,
      startedAt: new Date(startedAt).toISOString(),
      finishedAt: new Date(this.now).toISOString(),
      durationMs: Math.max(0, this.now - startedAt),
      exitCode: null,
      ...(error ? { error: error.slice(0, 4096) } : {}),
    };
  }

  /**
   * The guest's log in /var/log/vzdump (vzdump flushes it before each hook call), unless it is
   * an older run's (vzdump rewrites it at each backup of the guest).
   */
  private guestLog(open: OpenGuest): { text: string; guest: GuestBackup | null } | null {
    const types = open.vmtype ? [open.vmtype] : ['qemu', 'lxc'];
    for (const type of types) {
      const read = readFileSlice(join(this.s.logDir, `${type}-${open.vmid}.log`), 'tail', GUEST_LOG_READ_BYTES);
      if (!read || read.mtimeMs < open.backupTimeSec * 1000 - 60_000) continue;
      const vmtype = type === 'qemu' || type === 'lxc' ? type : null;
      const guest = parseTaskLog(read.text, { vmid: open.vmid, vmtype }).guests.filter((g) => g.vmid === open.vmid).pop() ?? null;
      const text = read.text.length > LOG_TAIL_BYTES ? read.text.slice(-LOG_TAIL_BYTES) : read.text;
      return { text, guest };
    }
    return null;
  }

  private readState<T>(name: string): T | null {
    try {
      return JSON.parse(readFileSync(join(this.dir, name), 'utf8')) as T;
    } catch {
      return null; // missing, or cut short by a crash: the history scan covers what it held
    }
  }

  private writeState(name: string, value: unknown): void {
    for (let attempt = 0; ; attempt++) {
      try {
        // No fsync: a state file lost in a crash only leaves the backup to the task-history scan.
        writeFileAtomic(join(this.dir, name), `${JSON.stringify(value)}\n`, { fsync: false });
        return;
      } catch (err) {
        if (!isMissing(err) || attempt > 0) throw err;
        // First use, or the state directory was removed: made like the spool makes its own.
        mkdirSync(this.dir, { recursive: true, mode: 0o700 });
      }
    }
  }

  private removeState(name: string): void {
    unlinkQuiet(join(this.dir, name));
  }
}

const keyOf = (o: OpenGuest): BackupKey => ({ vmid: o.vmid, storage: o.storage, timeSec: o.backupTimeSec, exact: o.exact !== false });

