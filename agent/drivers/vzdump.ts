import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { formatBytes } from '../../shared/size';
import type { RestoreFacts } from '../../shared/restore-facts';
import type { Retention } from '../../shared/retention-policy';
import { markReported } from '../proxmox/reported';
import { claimGuestBackup } from '../proxmox/lifeline-backups';
import { backupTimeOf, parseLocalTime, parseTaskLog } from '../proxmox/task-log';
import { runPipeline, pipelineOutcome } from './dump-files';
import { lastLines, lineSplitter } from './paths-lines';
import { restoreDrill } from './vzdump-drill';
import {
  assetType, failure, listBackups, options, pveOf, seconds,
  type BackupVolume, type VzdumpCtx, type VzdumpOptions,
} from './vzdump-pve';
import { outcomeFromProcess, type Driver, type OperationOutcome } from './types';

// A Proxmox VE guest backed up by Lifeline on its tier's schedule: one guest to one storage per
// job, `vzdump-<vmid>-<storage>` protecting `vm-<vmid>` / `ct-<vmid>` (DESIGN.md's names, the
// names the hook and the task-history scan report that guest's other backups to that storage
// under). The Proxmox tools run through the paths of agent.yaml's `proxmox:` section.
//
// vzdump (pve-manager PVE/VZDump.pm, options in pve-guest-common PVE/VZDump/Common.pm):
//   vzdump VMID --storage S --mode snapshot|suspend|stop --compress zstd|gzip|lzo|0
//          --prune-backups keep-daily=30,… --remove 1
// logs its task on stderr ("INFO: creating vzdump archive '…'", "ERROR: Backup of VM N failed -
// …", REFERENCE-INTEGRATIONS §2), read here with the task-log parser. Retention is vzdump's own:
// `--prune-backups` prunes this guest's backups on the storage (all of them, whoever made them:
// PVE prunes per guest and storage) after a successful backup; `--remove 1` because
// /etc/vzdump.conf may say `remove: 0`. No `--script`: the hook of /etc/vzdump.conf still runs
// (it may do more than report) and leaves this backup to the job (proxmox/lifeline-backups.ts).

/** vzdump's prune-backups names for our GFS retention; zero or absent rules are left out. */
const KEEP: readonly [keyof Retention, string][] = [
  ['last', 'keep-last'], ['hourly', 'keep-hourly'], ['daily', 'keep-daily'],
  ['weekly', 'keep-weekly'], ['monthly', 'keep-monthly'], ['yearly', 'keep-yearly'],
];

/** `--prune-backups keep-…` from the job's retention; a policy with no keep rule prunes nothing (`--remove 0`). */
export function pruneArgs(retention: Retention): string[] {
  const rules = KEEP.filter(([k]) => (retention[k] ?? 0) > 0).map(([k, name]) => `${name}=${retention[k]}`);
  return rules.length ? ['--prune-backups', rules.join(','), '--remove', '1'] : ['--remove', '0'];
}

export function vzdumpArgv(tool: string, o: Pick<VzdumpOptions, 'vmid' | 'storage' | 'mode' | 'compress'>, retention: Retention): string[] {
  return [tool, String(o.vmid), '--storage', o.storage, '--mode', o.mode, '--compress', o.compress === 'none' ? '0' : o.compress, ...pruneArgs(retention)];
}

/** The task log kept for parsing: every line but qemu's progress lines (a big disk prints hundreds). */
const PROGRESS = /^INFO:\s+\d+% \(/;
const MAX_LOG_CHARS = 4 * 2 ** 20;

async function backup(ctx: VzdumpCtx): Promise<OperationOutcome> {
  const { config, stateDir } = pveOf(ctx);
  const { vmid, storage } = ctx.options;
  const claim = claimGuestBackup(stateDir, vmid, storage);
  if (!claim) return failure(ctx, `VM ${vmid} is being backed up to ${storage} by another Lifeline run right now`);
  try {
    // Markers for the task-history scan, so it never reports this backup a second time: at the
    // start (a guest failing before its first line is dated by the task) and at vzdump's own time.
    const mark = (ms: number | null, exact: boolean) => {
      if (ms !== null) markReported(stateDir, { vmid, storage, timeSec: Math.floor(ms / 1000), exact });
    };
    mark(Date.now(), false);
    let log = '';
    let skippedExternal = false;
    const lines = lineSplitter((line) => {
      let m: RegExpExecArray | null;
      if ((m = /^INFO: creating (?:vzdump|Proxmox Backup Server) archive '(.*)'$/.exec(line))) mark(backupTimeOf(m[1]), true);
      else if ((m = /^INFO: Backup started at (.*)$/.exec(line))) mark(parseLocalTime(m[1]), false);
      else if (/^INFO: skip external VMs: /.test(line)) skippedExternal = true;
      if (!PROGRESS.test(line) && log.length < MAX_LOG_CHARS) log += `${line}\n`;
    });
    const argv = vzdumpArgv(config.tools.vzdump, ctx.options, ctx.retention);
    const result = await ctx.exec(argv, { onStderr: lines.push, env: { ...ctx.env, LC_ALL: 'C' } });
    lines.end();
    return backupOutcome(ctx, outcomeFromProcess(result), log, { skippedExternal, node: config.node });
  } finally {
    claim.release();
  }
}

/** The run's result from vzdump's exit and its own words about this guest. */
function backupOutcome(ctx: VzdumpCtx, exit: OperationOutcome, text: string, seen: { skippedExternal: boolean; node: string }): OperationOutcome {
  const { vmid, storage } = ctx.options;
  const task = parseTaskLog(text);
  const g = task.guests.filter((x) => x.vmid === vmid).pop();
  const bytes = g?.archiveBytes ?? g?.transferredBytes ?? null;
  const found = {
    ...(bytes !== null ? { bytesTotal: bytes } : {}),
    ...(g?.outcome === 'success' && g.target ? { snapshotId: volidOf(storage, g.target) } : {}),
  };
  if (exit.status === 'timeout' || (exit.status === 'failure' && exit.permanent)) return { ...exit, ...found };
  if (exit.status !== 'success' || g?.outcome === 'failure') {
    const why = g?.error ?? task.jobError ?? lastErrorLine(text) ?? exit.error ?? 'vzdump failed';
    return { status: 'failure', exitCode: exit.exitCode, signal: exit.signal, error: `vzdump: ${why}`, ...found };
  }
  if (!g || g.outcome !== 'success') {
    const why = seen.skippedExternal
      ? `VM ${vmid} is not on this node (${seen.node}): vzdump skipped it; run the job on the node that holds the guest`
      : `vzdump reported no backup of VM ${vmid}`;
    return failure(ctx, why, { exitCode: exit.exitCode, ...found });
  }
  if (bytes !== null) ctx.tail.line(`[lifeline] ${found.snapshotId ?? g.target}: ${formatBytes(bytes)}${g.transferredBytes !== null && g.archiveBytes !== null ? ` (${formatBytes(g.transferredBytes)} read)` : ''}`);
  const expected = assetType(ctx.job.asset);
  const problems: string[] = [];
  if (g.warnings > 0) {
    const first = g.lines.map((l) => /WARN: (.*)$/.exec(l)?.[1]).find(Boolean);
    problems.push(`${g.warnings} warning(s)${first ? `: ${first}` : ''}`);
  }
  if (expected && g.vmtype && expected !== g.vmtype) {
    problems.push(`VM ${vmid} is a ${g.vmtype === 'qemu' ? 'VM' : 'container'}: name its asset ${g.vmtype === 'qemu' ? 'vm' : 'ct'}-${vmid}`);
  }
  if (problems.length) return { status: 'warning', exitCode: exit.exitCode, error: problems.join('; '), ...found };
  return { status: 'success', exitCode: 0, ...found };
}

/** The volume id of what vzdump wrote: `S:backup/<archive file>` or `S:backup/vm/100/<UTC time>`. */
function volidOf(storage: string, target: string): string {
  const name = /^(?:vm|ct)\/\d+\/\S+Z$/.test(target) ? target : target.slice(target.lastIndexOf('/') + 1);
  return `${storage}:backup/${name}`;
}

/** vzdump's last error line: "ERROR: …", or a line of its own before the task began (a bad option, a missing storage). */
function lastErrorLine(text: string): string | null {
  const lines = text.split('\n').filter((l) => l.startsWith('ERROR: ') || (l.trim() !== '' && !/^(?:INFO|WARN):/.test(l)));
  return lines.length ? lines[lines.length - 1].replace(/^ERROR: /, '') : null;
}

// --- verify --------------------------------------------------------------------------------

/** Where vma lives on PVE (pve-qemu-kvm); the archive is read through it when it is there. */
const VMA = '/usr/bin/vma';
const DECOMPRESS: Record<string, { test: string[]; cat: string[]; tar: string }> = {
  zst: { test: ['zstd', '-t', '-q'], cat: ['zstd', '-q', '-d', '-c'], tar: '--zstd' },
  gz: { test: ['gzip', '-t'], cat: ['gzip', '-d', '-c'], tar: '--gzip' },
  lzo: { test: ['lzop', '-t'], cat: ['lzop', '-d', '-c'], tar: '--lzop' },
};

async function verify(ctx: VzdumpCtx): Promise<OperationOutcome> {
  const { config, tools } = pveOf(ctx);
  const { vmid, storage } = ctx.options;
  const newest = (await listBackups(ctx)).pop();
  if (!newest) return failure(ctx, `no backup of VM ${vmid} on ${storage} to verify`);
  const { v } = newest;
  const conf = await tools.get<{ type?: string; path?: string }>(`/storage/${storage}`);
  const base = { snapshotId: v.volid, ...(typeof v.size === 'number' ? { bytesTotal: v.size } : {}) };
  if (conf.type === 'pbs') return { ...verifyOnPbs(ctx, v), ...base };
  if (!conf.path) return failure(ctx, `storage ${storage} (${conf.type ?? 'unknown type'}) has no path on ${config.node}: its archives cannot be read`, base);
  // File storages keep backups in <path>/dump (pve-storage PVE/Storage/Plugin.pm get_subdir: backup → dump).
  const name = v.volid.slice(v.volid.indexOf(':backup/') + ':backup/'.length);
  return { ...(await verifyArchive(ctx, join(conf.path, 'dump', name))), snapshotId: v.volid };
}

/**
 * PBS verifies its own chunks (a verify job, or verify-new); PVE lists the last result beside
 * each snapshot (`verification: { state: ok|failed, upid }`), readable without PBS credentials.
 */
function verifyOnPbs(ctx: VzdumpCtx, v: BackupVolume): OperationOutcome {
  const state = v.verification?.state;
  const task = v.verification?.upid ? ` (task ${v.verification.upid})` : '';
  if (state === 'ok') {
    ctx.tail.line(`[lifeline] ${v.volid}: verified by the Proxmox Backup Server${task}`);
    return { status: 'success', exitCode: 0 };
  }
  if (state === 'failed') return failure(ctx, `${v.volid}: the Proxmox Backup Server's verification failed${task}: its chunks are damaged or missing`);
  const error = `${v.volid} is not verified yet: schedule a verify job on its datastore (or set verify-new) on the Proxmox Backup Server`;
  ctx.tail.line(`[lifeline] ${error}`);
  return { status: 'warning', exitCode: 0, error };
}

/** Reads the whole archive: vma verify when the tool is there (VMs), tar's listing (containers), else the compression's own test. */
async function verifyArchive(ctx: VzdumpCtx, file: string): Promise<OperationOutcome> {
  if (!existsSync(file)) return failure(ctx, `${file} does not exist (is the storage mounted?)`);
  const size = statSync(file).size;
  const name = file.slice(file.lastIndexOf('/') + 1);
  const m = /\.(vma|tar|tgz)(?:\.(zst|gz|lzo))?$/.exec(name);
  if (!m) return failure(ctx, `${name}: not an archive vzdump writes (.vma or .tar, with .zst, .gz or .lzo)`, { bytesTotal: size });
  const kind = m[1] === 'vma' ? 'vma' : 'tar';
  const comp = m[1] === 'tgz' ? DECOMPRESS.gz : m[2] ? DECOMPRESS[m[2]] : null;
  const started = performance.now();
  let outcome: OperationOutcome;
  let how: string;
  const err = lastLines();
  if (kind === 'vma' && existsSync(VMA)) {
    // As qmrestore reads it: `zstd -q -d -c FILE | vma extract -v -r FIFO - DIR`; vma verify
    // (pve-qemu vma.c) checks every extent's checksum; "-" reads stdin.
    how = 'vma verify';
    outcome = comp
      ? pipelineOutcome(await runPipeline(ctx, [comp.cat, [VMA, 'verify', '-']], file, Date.now() + ctx.job.timeoutMs, ctx.env), `cannot read ${name}`)
      : withStderr(outcomeFromProcess(await ctx.exec([VMA, 'verify', file], { onStderr: err.push })), `cannot read ${name}`, err.lines());
  } else if (kind === 'tar') {
    // Decompresses and walks every header: a truncated or corrupted container backup fails.
    how = 'tar --list';
    outcome = withStderr(outcomeFromProcess(await ctx.exec(['tar', '--list', `--file=${file}`, ...(comp ? [comp.tar] : [])], { onStderr: err.push, tailStdout: false })), `cannot read ${name}`, err.lines());
  } else if (comp) {
    how = `${comp.test[0]} -t (no ${VMA} here: the compression is checked, not the VMA extents)`;
    outcome = withStderr(outcomeFromProcess(await ctx.exec([...comp.test, file], { onStderr: err.push })), `cannot read ${name}`, err.lines());
  } else {
    const error = `${name} is an uncompressed VMA archive and ${VMA} is not installed: nothing here can read it`;
    ctx.tail.line(`[lifeline] ${error}`);
    return { status: 'warning', exitCode: null, error, bytesTotal: size };
  }
  const ms = performance.now() - started;
  if (outcome.status === 'success') ctx.tail.line(`[lifeline] ${name}: read in full with ${how}, ${formatBytes(size)} in ${seconds(ms)} (${formatBytes(size / Math.max(ms / 1000, 0.001))}/s)`);
  return { ...outcome, bytesTotal: size };
}

function withStderr(outcome: OperationOutcome, what: string, stderr: string[]): OperationOutcome {
  if (outcome.status === 'success') return outcome;
  const said = stderr.pop();
  return { ...outcome, error: `${what}: ${said ?? outcome.error ?? outcome.status}` };
}

// --- the driver ------------------------------------------------------------------------------

export const vzdumpDriver: Driver<VzdumpOptions> = {
  name: 'vzdump',
  options,

  restoreFacts(o, job) {
    const vmtype = job ? assetType(job.asset) : null;
    const facts: RestoreFacts<'vzdump'> = { ...(vmtype ? { vmtype } : {}), vmid: String(o.vmid), storage: o.storage };
    return facts;
  },

  checkJob(job, o, config) {
    const problems: { path: PropertyKey[]; message: string }[] = [];
    if (!config.proxmox) problems.push({ path: ['driver'], message: "a vzdump job needs the proxmox: section (the node and the paths of vzdump, qmrestore, qm, pct and pvesh)" });
    const expected = `vzdump-${o.vmid}-${o.storage}`;
    // The hook and the task-history scan report this guest's other backups to this storage under
    // that name, and PVE prunes per guest and storage: one job per guest and storage.
    if (typeof job.name === 'string' && job.name !== expected) {
      problems.push({ path: ['name'], message: `a vzdump job of VM ${o.vmid} to ${o.storage} is named ${expected}, as Lifeline reports that guest's backups there` });
    }
    if (typeof job.target === 'string' && job.target !== o.storage) {
      problems.push({ path: ['target'], message: `a vzdump job's target is its storage, ${o.storage}: declare it under "targets:" ({ name: ${o.storage}, location, media }) and name it here` });
    }
    const type = typeof job.asset === 'string' ? assetType(job.asset) : null;
    if (typeof job.asset === 'string' && (type === null || job.asset !== `${type === 'qemu' ? 'vm' : 'ct'}-${o.vmid}`)) {
      problems.push({ path: ['asset'], message: `a vzdump job protects its guest: asset vm-${o.vmid} (a VM) or ct-${o.vmid} (a container), as the coverage audit and the page name it` });
    }
    const wait = o.restoreDrill?.wait;
    if (type === 'lxc' && wait && 'agent' in wait) {
      problems.push({ path: ['vzdump', 'restoreDrill', 'wait'], message: 'a container has no guest agent: wait for a TCP port ({ port, host })' });
    }
    if (type === 'lxc' && wait && 'port' in wait && !wait.host) {
      problems.push({ path: ['vzdump', 'restoreDrill', 'wait', 'host'], message: "the address of a container's restored copy cannot be asked: give the host it answers on" });
    }
    return problems;
  },

  backup,

  async inventory(ctx) {
    return (await listBackups(ctx)).map(({ v, time }) => ({
      id: v.volid,
      time: new Date(time * 1000).toISOString(),
      ...(typeof v.size === 'number' && v.size >= 0 ? { bytes: Math.floor(v.size) } : {}),
    }));
  },

  verify,

  restoreTest: restoreDrill,
};
