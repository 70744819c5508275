import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import type { AgentConfig } from '../config';
import { writeFileAtomic } from '../durable-file';
import { AGENT_NODE_FLAGS } from '../node-flags';
import { vzdumpStateDir } from './reported';

// `lifeline-agent proxmox install-hook`: makes vzdump call the Lifeline hook for every backup
// job that uses /etc/vzdump.conf's defaults (all jobs made in the UI, unless a job sets its own
// `script`). It writes a small wrapper, because vzdump runs the hook with an empty environment
// (no PATH: `#!/usr/bin/env node` would find no node), and sets `script:` in /etc/vzdump.conf,
// keeping every other line and comment. Running it again changes nothing.

export const DEFAULT_WRAPPER = '/usr/lib/lifeline-agent/vzdump-hook';
/** The first comment line of the wrapper the lifeline-agent package installs at DEFAULT_WRAPPER (dpkg owns it: used, never rewritten). */
export const PACKAGED_MARK = '# Installed by the lifeline-agent package';
export const DEFAULT_VZDUMP_CONF = '/etc/vzdump.conf';
export const DEFAULT_JOBS_CFG = '/etc/pve/jobs.cfg';

export interface InstallHookOptions {
  /** The agent config the hook reads (absolute). */
  configFile: string;
  /** Where the hook keeps the settings it read from the config (in the agent's state directory). */
  cacheFile: string;
  wrapper: string;
  vzdumpConf: string;
  jobsCfg: string;
  /** Absolute path of node (the one running the agent). */
  nodeBin: string;
  /** dist/lifeline-vzdump-hook.cjs, beside the agent's bundle. */
  hookBundle: string;
  /** V8 flags for node (default: the agent's, agent/node-flags.ts). */
  nodeFlags?: readonly string[];
}

export class InstallHookError extends Error {}

const shellQuote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

export function wrapperScript(o: Pick<InstallHookOptions, 'nodeBin' | 'hookBundle' | 'configFile' | 'cacheFile' | 'nodeFlags'>, packaged = false): string {
  const flags = (o.nodeFlags ?? AGENT_NODE_FLAGS).map((f) => `${shellQuote(f)} `).join('');
  return [
    '#!/bin/sh',
    packaged ? `${PACKAGED_MARK}: lifeline-agent proxmox install-hook points vzdump here.` : '# vzdump hook script for Lifeline, written by `lifeline-agent proxmox install-hook`.',
    '# vzdump runs it with an empty environment (no PATH), so every path here is absolute.',
    `exec ${shellQuote(o.nodeBin)} ${flags}${shellQuote(o.hookBundle)} --config ${shellQuote(o.configFile)} --cache ${shellQuote(o.cacheFile)} "$@"`,
    '',
  ].join('\n');
}

const SCRIPT_LINE = /^script:\s*(.*?)\s*$/;

/**
 * /etc/vzdump.conf with `script: WRAPPER`: an existing `script:` line is replaced (the old line
 * kept as a comment above it), otherwise the line is appended. Pure: the new text, the scripts
 * it replaced, and whether anything changed.
 */
export function withHookScript(conf: string, wrapper: string, today: string): { text: string; previous: string[]; changed: boolean } {
  const lines = conf === '' ? [] : conf.replace(/\n$/, '').split('\n');
  const previous: string[] = [];
  let placed = false;
  let had = false;
  const out: string[] = [];
  for (const line of lines) {
    const m = SCRIPT_LINE.exec(line);
    if (!m) {
      out.push(line);
      continue;
    }
    if (m[1] === wrapper && !placed) {
      placed = had = true;
      out.push(line);
      continue;
    }
    previous.push(m[1]);
    out.push(`# ${line}   (replaced by lifeline-agent proxmox install-hook, ${today})`);
    if (!placed) {
      out.push(`script: ${wrapper}`);
      placed = true;
    }
  }
  if (!placed) out.push(`script: ${wrapper}`);
  return { text: `${out.join('\n')}\n`, previous, changed: !had || previous.length > 0 };
}

/** Backup jobs in /etc/pve/jobs.cfg that name their own hook script (those ignore vzdump.conf's). */
export function jobsWithOwnScript(jobsCfg: string): { id: string; script: string }[] {
  const out: { id: string; script: string }[] = [];
  let id: string | null = null;
  for (const line of jobsCfg.split('\n')) {
    const header = /^(\S+):\s*(\S+)\s*$/.exec(line);
    if (header) {
      id = header[1] === 'vzdump' ? header[2] : null;
      continue;
    }
    const m = /^\s+script\s+(.+?)\s*$/.exec(line);
    if (id && m) out.push({ id, script: m[1] });
  }
  return out;
}

/** Installs the hook; returns the lines that say exactly what changed. */
export function installHook(o: InstallHookOptions): string[] {
  for (const [what, path] of [['node', o.nodeBin], ['the hook bundle', o.hookBundle], ['the agent config', o.configFile]] as const) {
    if (!path.startsWith('/')) throw new InstallHookError(`${what} must be an absolute path: ${path}`);
    if (!existsSync(path)) throw new InstallHookError(`${what} not found at ${path}${what === 'the hook bundle' ? ' (it is built beside lifeline-agent.js: npm run build)' : ''}`);
  }
  const out: string[] = [];

  const script = wrapperScript(o);
  let current: string | null = null;
  try {
    current = readFileSync(o.wrapper, 'utf8');
  } catch {
    current = null;
  }
  const executable = current !== null && (statSync(o.wrapper).mode & 0o111) === 0o111;
  if (current?.split('\n')[1]?.startsWith(PACKAGED_MARK)) {
    // The package's wrapper runs the package's config: used as it is, since dpkg would put it back.
    if (!current.includes(` --config ${shellQuote(o.configFile)} `)) {
      const runs = /--config '([^']*)'/.exec(current)?.[1] ?? 'another config';
      throw new InstallHookError(`${o.wrapper} (from the lifeline-agent package) runs the config ${runs}, not ${o.configFile}; write a wrapper of your own with --wrapper /usr/local/lib/lifeline-agent/vzdump-hook`);
    }
    out.push(`${o.wrapper}: the lifeline-agent package's wrapper, used as it is (config ${o.configFile})`);
  } else if (current === script && executable) {
    out.push(`${o.wrapper}: unchanged (runs ${o.hookBundle} with ${o.nodeBin}, config ${o.configFile})`);
  } else {
    mkdirSync(dirname(o.wrapper), { recursive: true, mode: 0o755 });
    writeFileAtomic(o.wrapper, script, { mode: 0o755 });
    out.push(`${o.wrapper}: ${current === null ? 'written' : 'rewritten'} (runs ${o.hookBundle} with ${o.nodeBin}, config ${o.configFile})`);
  }
  // The wrapper must work the way vzdump calls it: an empty environment, a phase it ignores.
  const trial = spawnSync(o.wrapper, ['job-init'], { env: {}, encoding: 'utf8', timeout: 30_000 });
  if (trial.status !== 0) {
    throw new InstallHookError(`${o.wrapper} failed when run as vzdump runs it (exit ${trial.status ?? trial.signal}): ${(trial.stderr || trial.stdout || trial.error?.message || '').trim()}`);
  }

  let conf = '';
  let mode = 0o644;
  try {
    conf = readFileSync(o.vzdumpConf, 'utf8');
    mode = statSync(o.vzdumpConf).mode & 0o7777;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  const existed = existsSync(o.vzdumpConf);
  const edit = withHookScript(conf, o.wrapper, new Date().toISOString().slice(0, 10));
  if (!edit.changed && existed) {
    out.push(`${o.vzdumpConf}: unchanged (already has "script: ${o.wrapper}")`);
  } else {
    writeFileAtomic(o.vzdumpConf, edit.text, { mode });
    if (edit.previous.length > 0) {
      for (const p of edit.previous) {
        out.push(`${o.vzdumpConf}: replaced "script: ${p}" with "script: ${o.wrapper}" (the old line is kept there as a comment)`);
        out.push(`  vzdump calls one hook script: ${p} is no longer called; if you still need it, call it from a script of your own`);
      }
    } else {
      out.push(`${o.vzdumpConf}: ${existed ? 'added' : 'created with'} "script: ${o.wrapper}"`);
    }
  }

  let jobs: { id: string; script: string }[] = [];
  try {
    jobs = jobsWithOwnScript(readFileSync(o.jobsCfg, 'utf8'));
  } catch {
    jobs = [];
  }
  for (const j of jobs.filter((x) => x.script !== o.wrapper)) {
    out.push(
      `note: backup job ${j.id} in ${o.jobsCfg} sets its own hook script (${j.script}), so vzdump does not run this one for it; ` +
        `its backups are found in the task history by the daemon instead, or run: pvesh set /cluster/backup/${j.id} --script ${o.wrapper} (not changed here)`,
    );
  }
  out.push(`vzdump now reports every backup job that uses ${o.vzdumpConf}; the reports are spooled and sent by the daemon (systemctl status lifeline-agent)`);
  return out;
}

/** `lifeline-agent proxmox install-hook [--wrapper PATH] [--vzdump-conf PATH] [--jobs-cfg PATH]`; the config was checked. */
export function installHookCommand(config: AgentConfig, flags: { wrapper?: string; vzdumpConf?: string; jobsCfg?: string }): number {
  try {
    const lines = installHook({
      configFile: resolve(config.file),
      cacheFile: join(vzdumpStateDir(config.stateDir), 'hook-settings.json'),
      wrapper: resolve(flags.wrapper ?? DEFAULT_WRAPPER),
      vzdumpConf: resolve(flags.vzdumpConf ?? DEFAULT_VZDUMP_CONF),
      jobsCfg: resolve(flags.jobsCfg ?? DEFAULT_JOBS_CFG),
      nodeBin: process.execPath,
      // Built beside the agent's own bundle (dist/lifeline-agent.js → dist/lifeline-vzdump-hook.cjs).
      hookBundle: join(dirname(resolve(process.argv[1])), 'lifeline-vzdump-hook.cjs'),
    });
    process.stdout.write(`${lines.join('\n')}\n`);
    return 0;
  } catch (err) {
    if (!(err instanceof InstallHookError)) throw err;
    process.stderr.write(`lifeline-agent: hook not installed: ${err.message}\n`);
    return 1;
  }
}
