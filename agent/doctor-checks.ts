import { join } from 'node:path';
import type { AgentConfig, JobConfig } from './config';
import { ZFS_TOOLS } from './drivers/zfs-options';

// `lifeline-agent doctor`: the decisions, pure (tested as tables). agent/doctor.ts gathers the
// facts (files, the collector's answer, tool versions, statfs) and prints these verdicts.

export type Verdict = 'ok' | 'problem' | 'skipped';

export interface CheckLine {
  /** Short name of the check: config, key, collector, key accepted, clock, tool restic, … */
  name: string;
  verdict: Verdict;
  /** What was found and, for a problem, what to do. */
  detail: string;
}

const LABEL: Record<Verdict, string> = { ok: 'ok', problem: 'PROBLEM', skipped: 'skipped' };

/** One line per check, aligned: "ok       collector     https://…: answered in 12 ms". */
export function formatLines(lines: readonly CheckLine[]): string {
  const width = Math.max(...lines.map((l) => l.name.length));
  return lines.map((l) => `${LABEL[l.verdict].padEnd(8)} ${l.name.padEnd(width)}  ${l.detail.replace(/\n/g, `\n${' '.repeat(width + 11)}`)}\n`).join('');
}

/** Exit code: 0 when nothing is a problem. */
export const doctorExit = (lines: readonly CheckLine[]): number => (lines.some((l) => l.verdict === 'problem') ? 1 : 0);

// --- the tools each driver runs ------------------------------------------------------------

export interface ToolSpec {
  /** A name looked up in PATH, or an absolute path. */
  bin: string;
  /** Arguments that print the version and change nothing. */
  versionArgs: readonly string[];
  /** The Debian package that provides it (what to install when it is missing). */
  pkg: string;
  /** Alternatives: any one of these names will do (mariadb-dump or mysqldump). */
  anyOf?: readonly string[];
}

const restic: ToolSpec = { bin: 'restic', versionArgs: ['version'], pkg: 'restic' };
const borg: ToolSpec = { bin: 'borg', versionArgs: ['--version'], pkg: 'borgbackup' };
const zstd: ToolSpec = { bin: 'zstd', versionArgs: ['--version'], pkg: 'zstd' };
const gzip: ToolSpec = { bin: 'gzip', versionArgs: ['--version'], pkg: 'gzip' };
const compressor = (how: unknown): ToolSpec[] => (how === 'zstd' ? [zstd] : how === 'gzip' ? [gzip] : []);

type Options = Record<string, unknown>;
const str = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined);

/**
 * The programs a job runs, per driver, as its options name them (pgBin, dumpBin, tools paths).
 * A driver not listed runs nothing of its own.
 */
export function jobTools(job: Pick<JobConfig, 'driver' | 'options'>, config: Pick<AgentConfig, 'proxmox'>): ToolSpec[] {
  const o = (job.options ?? {}) as Options;
  switch (job.driver) {
    case 'restic':
      return [restic];
    case 'borg':
      return [borg];
    case 'borgmatic':
      return [{ bin: 'borgmatic', versionArgs: ['--version'], pkg: 'borgmatic' }, borg];
    case 'postgres': {
      const dir = str(o.pgBin);
      const at = (name: string) => (dir ? join(dir, name) : name);
      const dump: ToolSpec = { bin: at(o.all ? 'pg_dumpall' : 'pg_dump'), versionArgs: ['--version'], pkg: 'postgresql-client' };
      return [dump, { bin: at('pg_restore'), versionArgs: ['--version'], pkg: 'postgresql-client' }, ...compressor(o.all ? (o.compress ?? 'zstd') : 'none')];
    }
    case 'mysql': {
      const dump = str(o.dumpBin);
      const spec: ToolSpec = dump
        ? { bin: dump, versionArgs: ['--version'], pkg: dump === 'mysqldump' ? 'default-mysql-client' : 'mariadb-client' }
        : { bin: 'mariadb-dump', versionArgs: ['--version'], pkg: 'mariadb-client', anyOf: ['mariadb-dump', 'mysqldump'] };
      return [spec, ...compressor(o.compress)];
    }
    case 'mongodb':
      return [{ bin: 'mongodump', versionArgs: ['--version'], pkg: 'mongodb-database-tools' }];
    case 'rclone':
      return [{ bin: 'rclone', versionArgs: ['version'], pkg: 'rclone' }];
    case 'paths':
      return [{ bin: 'tar', versionArgs: ['--version'], pkg: 'tar' }, ...compressor(o.compress ?? 'zstd')];
    case 'pbs': {
      const tools = (o.tools ?? {}) as Options;
      return [{ bin: str(tools.client) ?? '/usr/bin/proxmox-backup-client', versionArgs: ['version'], pkg: 'proxmox-backup-client' }];
    }
    case 'vzdump':
      return [{ bin: config.proxmox?.tools.vzdump ?? '/usr/bin/vzdump', versionArgs: ['help'], pkg: 'pve-manager (Proxmox VE)' }];
    case 'zfs': {
      // Replication to another host runs syncoid or ssh here; zfs on the receiving side is checked there.
      const tools = { ...ZFS_TOOLS, ...((o.tools ?? {}) as Partial<typeof ZFS_TOOLS>) };
      const replicate = (o.replicate ?? {}) as Options;
      const zfs: ToolSpec = { bin: tools.zfs, versionArgs: ['version'], pkg: 'zfsutils-linux' };
      if (replicate.via === 'syncoid') return [zfs, { bin: tools.syncoid, versionArgs: ['--version'], pkg: 'sanoid' }];
      if (replicate.via === 'send' && replicate.host) return [zfs, { bin: tools.ssh, versionArgs: ['-V'], pkg: 'openssh-client' }];
      return [zfs];
    }
    case 'command': {
      const argv = Array.isArray(o.argv) ? (o.argv as unknown[]) : [];
      const program = str(argv[0]);
      // Its version cannot be asked without running it: only that it is there.
      return program ? [{ bin: program, versionArgs: [], pkg: `the package that provides ${program}` }] : [];
    }
    default:
      return [];
  }
}

/** The host tools of the proxmox: and pbs: sections (only that they are there: their paths are configurable). */
export function hostTools(config: Pick<AgentConfig, 'proxmox' | 'pbs'>): { section: 'proxmox:' | 'pbs:'; spec: ToolSpec }[] {
  const out: { section: 'proxmox:' | 'pbs:'; spec: ToolSpec }[] = [];
  const p = config.proxmox?.tools;
  if (p) {
    for (const spec of [
      { bin: p.pvesh, versionArgs: [], pkg: 'pve-manager (Proxmox VE)' },
      { bin: p.qm, versionArgs: [], pkg: 'qemu-server (Proxmox VE)' },
      { bin: p.pct, versionArgs: [], pkg: 'pve-container (Proxmox VE)' },
    ]) out.push({ section: 'proxmox:', spec });
  }
  // The API source reads PBS over HTTPS: no tool of its own.
  if (config.pbs?.source === 'cli') {
    out.push({ section: 'pbs:', spec: { bin: config.pbs.tools.manager, versionArgs: [], pkg: 'proxmox-backup-server' } });
    out.push({ section: 'pbs:', spec: { bin: config.pbs.tools.client, versionArgs: ['version'], pkg: 'proxmox-backup-client' } });
  }
  return out;
}

/** A tool's version from what `--version` printed: its first non-empty line, bounded. */
export function versionLine(output: string): string {
  const line = output.split('\n').map((l) => l.trim()).find((l) => l !== '') ?? '';
  return line.length > 80 ? `${line.slice(0, 80)}…` : line;
}

// --- thresholds ----------------------------------------------------------------------------

/** Beyond this the agent's timestamps mislead (runs in the wrong slot, RPOs off); the collector alerts at rules.clockSkew (5 min). */
export const CLOCK_LIMIT_MS = 60_000;

export function clockVerdict(offsetMs: number | null): CheckLine {
  if (offsetMs === null) return { name: 'clock', verdict: 'skipped', detail: 'no answer from the collector to compare with' };
  const secs = (Math.abs(offsetMs) / 1000).toFixed(1);
  const dir = offsetMs > 0 ? 'behind' : 'ahead of';
  if (Math.abs(offsetMs) <= CLOCK_LIMIT_MS) return { name: 'clock', verdict: 'ok', detail: `${secs} s ${dir} the collector` };
  return { name: 'clock', verdict: 'problem', detail: `this host's clock is ${secs} s ${dir} the collector's; keep both in sync with NTP (timedatectl set-ntp true; apt install systemd-timesyncd or chrony)` };
}

/** Messages waiting longer than this mean they are not getting through. */
export const BACKLOG_AGE_MS = 5 * 60_000;

export function backlogVerdict(s: { pending: number; rejected: number; lost: number; dropped: number; error: string | null }, oldestSentAt: number | null, now: number, dir: string): CheckLine {
  const name = 'spool';
  if (s.error) return { name, verdict: 'problem', detail: `${s.error}` };
  const problems: string[] = [];
  if (s.pending > 0 && oldestSentAt !== null && now - oldestSentAt > BACKLOG_AGE_MS) {
    problems.push(`${s.pending} message(s) waiting, the oldest since ${new Date(oldestSentAt).toISOString()}: the collector is not taking them (see the collector lines above; the daemon's log says why: journalctl -u lifeline-agent)`);
  }
  if (s.rejected > 0) problems.push(`${s.rejected} message(s) set aside in ${dir}/rejected (the .reason file beside each says why)`);
  if (s.lost > 0) problems.push(`${s.lost} message(s) could not be written (a full disk) and are lost`);
  if (problems.length > 0) return { name, verdict: 'problem', detail: problems.join('; ') };
  const extra = s.dropped > 0 ? ` (${s.dropped} dropped earlier to stay within agent.spool.maxBytes)` : '';
  return { name, verdict: 'ok', detail: `${s.pending} message(s) pending${extra}` };
}

/** Free space below either bound is a problem: the spool and the run state need room. */
export function spaceVerdict(dir: string, freeBytes: number, totalBytes: number, spoolMaxBytes: number): CheckLine {
  const mib = (b: number) => `${(b / 2 ** 20).toFixed(b < 10 * 2 ** 20 ? 1 : 0)} MiB`;
  const pct = totalBytes > 0 ? (100 * freeBytes) / totalBytes : 0;
  const detail = `${mib(freeBytes)} free of ${mib(totalBytes)} (${pct.toFixed(0)} %) in ${dir}`;
  if (freeBytes < spoolMaxBytes || pct < 5) {
    return { name: 'disk', verdict: 'problem', detail: `${detail}: nearly full; the spool may need up to agent.spool.maxBytes (${mib(spoolMaxBytes)}): free some space or move agent.stateDir` };
  }
  return { name: 'disk', verdict: 'ok', detail };
}
