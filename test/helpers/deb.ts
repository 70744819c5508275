import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { waitFor } from './processes';

// The Debian packages for real: built by scripts/package.mjs, installed with dpkg into the real
// system paths, their units' ExecStart started the way systemd would (CI has no systemd as PID
// 1), and purged again. Shared by test/package-deb.test.ts and bench/time-to-trust.ts.

export const PACKAGES = ['lifeline-agent', 'lifeline-collector'] as const;
export const UNIT_DIR = '/lib/systemd/system';

export interface Built {
  agent: string;
  collector: string;
}

export function run(cmd: string, args: string[], opts: { env?: NodeJS.ProcessEnv; input?: string } = {}): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(cmd, args, { encoding: 'utf8', env: opts.env ?? process.env, input: opts.input ?? '', timeout: 300_000 });
  return { code: r.status, stdout: r.stdout ?? '', stderr: `${r.stderr ?? ''}${r.error ? r.error.message : ''}` };
}

/** Like run(), without blocking this process's event loop (a server in this process may be what it talks to). */
export function runAsync(cmd: string, args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((res) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (d) => (stdout += d));
    child.stderr!.on('data', (d) => (stderr += d));
    child.on('error', (err) => res({ code: null, stdout, stderr: `${stderr}${err.message}` }));
    child.on('close', (code) => res({ code, stdout, stderr }));
  });
}

export function mustRun(cmd: string, args: string[], opts: { env?: NodeJS.ProcessEnv } = {}): string {
  const r = run(cmd, args, opts);
  if (r.code !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${r.code}: ${r.stderr}${r.stdout}`);
  return r.stdout;
}

/** `npm run package` into outdir, optionally as another version. */
export function buildPackages(outdir: string, version?: string): Built {
  const out = mustRun(process.execPath, ['scripts/package.mjs', '--outdir', outdir, ...(version ? ['--version', version] : [])]);
  const debs = out.trim().split('\n').map((l) => join(process.cwd(), l.trim()));
  const agent = debs.find((d) => d.includes('/lifeline-agent_'));
  const collector = debs.find((d) => d.includes('/lifeline-collector_'));
  if (!agent || !collector) throw new Error(`package.mjs printed no .deb paths: ${out}`);
  return { agent, collector };
}

/** dpkg's state of a package ('' when unknown). */
export function dpkgStatus(name: string): string {
  return run('dpkg-query', ['-W', '-f=${Status} ${Version}', name]).stdout.trim();
}

/** What a host without Lifeline has none of: the test refuses to touch a host that has any. */
export function lifelineTraces(): string[] {
  const found: string[] = [];
  for (const p of PACKAGES) if (dpkgStatus(p) !== '') found.push(`package ${p} (${dpkgStatus(p)})`);
  for (const path of ['/etc/lifeline', '/var/lib/lifeline-agent', '/var/lib/lifeline-collector', '/usr/lib/lifeline-agent', '/usr/lib/lifeline-collector', '/usr/bin/lifeline-agent', '/usr/bin/lifeline-collector', `${UNIT_DIR}/lifeline-agent.service`, `${UNIT_DIR}/lifeline-collector.service`]) {
    if (existsSync(path)) found.push(path);
  }
  for (const dir of ['/etc/systemd/system/multi-user.target.wants', '/var/lib/systemd/deb-systemd-helper-enabled', '/var/lib/systemd/deb-systemd-helper-enabled/multi-user.target.wants', '/var/lib/systemd/deb-systemd-helper-masked']) {
    for (const f of safeList(dir)) if (f.startsWith('lifeline-')) found.push(join(dir, f));
  }
  if (run('getent', ['passwd', 'lifeline']).code === 0) found.push('user lifeline');
  if (run('getent', ['group', 'lifeline']).code === 0) found.push('group lifeline');
  return found;
}

function safeList(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

/** Purges both packages (whatever state they are in). */
export function purgeAll(): string {
  return run('dpkg', ['--purge', ...PACKAGES]).stderr;
}

export interface Unit {
  execStart: string[];
  user: string;
  group: string;
  environment: Record<string, string>;
  raw: string;
}

/** The [Service] keys a test needs from an installed unit (no quoting in ours: split on spaces). */
export function readUnit(name: string): Unit {
  const raw = readFileSync(`${UNIT_DIR}/${name}`, 'utf8');
  const value = (key: string) => raw.split('\n').filter((l) => l.startsWith(`${key}=`)).map((l) => l.slice(key.length + 1).trim());
  const environment: Record<string, string> = {};
  for (const e of value('Environment')) for (const kv of e.split(/\s+/)) environment[kv.slice(0, kv.indexOf('='))] = kv.slice(kv.indexOf('=') + 1);
  const user = value('User')[0] ?? 'root';
  return { execStart: value('ExecStart')[0].split(/\s+/), user, group: value('Group')[0] ?? user, environment, raw };
}

export interface Service {
  child: ChildProcess;
  output(): string;
  stop(): Promise<number | null>;
}

/**
 * Starts a unit's ExecStart as its User/Group with its Environment and what systemd sets for a
 * system service (PATH, HOME, USER, LOGNAME, SHELL), through setpriv when not root.
 */
export function startUnit(name: string): Service {
  const unit = readUnit(name);
  const home = unit.user === 'root' ? '/root' : mustRun('getent', ['passwd', unit.user]).split(':')[5];
  const env = {
    PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
    HOME: home,
    USER: unit.user,
    LOGNAME: unit.user,
    SHELL: '/usr/sbin/nologin',
    ...unit.environment,
  };
  const argv = unit.user === 'root' ? unit.execStart : ['/usr/bin/setpriv', `--reuid=${unit.user}`, `--regid=${unit.group}`, '--init-groups', '--', ...unit.execStart];
  const child = spawn(argv[0], argv.slice(1), { env, cwd: '/', stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  const exited = new Promise<number | null>((res) => child.on('exit', (code) => res(code)));
  return {
    child,
    output: () => out,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
      const code = await exited;
      clearTimeout(timer);
      return code;
    },
  };
}

/** Waits for the collector's /healthz on port. */
export async function waitHealthy(port: number, service?: Service): Promise<void> {
  await waitFor(
    `the collector's /healthz on ${port}`,
    async () => {
      if (service && service.child.exitCode !== null) throw new Error(`the collector exited ${service.child.exitCode}: ${service.output()}`);
      const r = await fetch(`http://127.0.0.1:${port}/healthz`);
      return r.ok;
    },
    60_000,
    200,
  );
}

export interface StatusAgent {
  name: string;
  lastSeen: string | null;
  version: string | null;
}

export async function collectorStatus(port: number): Promise<{ agents: StatusAgent[]; jobs: { agent: string; name: string; lastRun: { status: string } | null }[] }> {
  const r = await fetch(`http://127.0.0.1:${port}/api/v1/status`);
  if (!r.ok) throw new Error(`/api/v1/status answered ${r.status}`);
  return (await r.json()) as never;
}
