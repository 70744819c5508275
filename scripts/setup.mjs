// Shared by the quick-start scripts: make a fresh clone runnable with nothing but Node 20.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export const root = fileURLToPath(new URL('..', import.meta.url));

export function run(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { stdio: 'inherit', cwd: root, ...opts });
  if (r.status !== 0) {
    console.error(`\n${cmd} ${args.join(' ')} failed (exit ${r.status ?? r.signal})`);
    process.exit(r.status || 1);
  }
}

/** npm ci when node_modules is missing or older than the lock file. */
export function ensureNodeModules() {
  const marker = `${root}node_modules/.package-lock.json`;
  const sqlite = `${root}node_modules/better-sqlite3/build/Release/better_sqlite3.node`;
  if (existsSync(marker) && existsSync(sqlite)) return;
  console.log('installing npm dependencies (better-sqlite3 compiles from source: about a minute)…');
  run('npm', ['ci', '--no-audit', '--no-fund']);
}

export function build() {
  run(process.execPath, ['scripts/build.mjs']);
}

/** Debian packages the tests drive for real; installed when root on Debian, else listed. */
export function ensureSystemPackages() {
  const wanted = readFileSync(`${root}scripts/system-packages.txt`, 'utf8')
    .split('\n')
    .map((l) => l.replace(/#.*/, '').trim())
    .filter(Boolean);
  const missing = wanted.filter((p) => spawnSync('dpkg-query', ['-W', '-f=${Status}', p], { encoding: 'utf8' }).stdout?.includes('install ok installed') !== true);
  if (missing.length === 0) return;
  const isRoot = process.getuid?.() === 0;
  const isDebian = existsSync('/etc/debian_version');
  if (!isRoot || !isDebian) {
    console.error(`The tests need these Debian packages: ${missing.join(' ')}\nInstall them (as root: apt-get install -y ${missing.join(' ')}) and run the tests again.`);
    process.exit(2);
  }
  console.log(`installing Debian packages: ${missing.join(' ')}`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  // --no-upgrade: a package already installed stays as it is (only the missing ones are named anyway).
  for (const args of [['update', '-qq'], ['install', '-y', '-qq', '--no-install-recommends', '--no-upgrade', ...missing]]) {
    const status = runApt(args, { env });
    if (status !== 0) process.exit(status || 1);
  }
}

const APT_LOCKED = /Could not get lock|Unable to lock|Unable to acquire the dpkg frontend lock|is held by process/;
const sleepSync = (ms) => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);

/**
 * apt-get with its arguments; returns its exit status. A fresh machine often has
 * unattended-upgrades holding the apt/dpkg locks for minutes: apt waits a minute itself
 * (DPkg::Lock::Timeout), then this retries with a message until `waitMs` has passed.
 */
export function runApt(args, { env = process.env, bin = 'apt-get', waitMs = 15 * 60_000, retryMs = 5_000, now = Date.now } = {}) {
  const deadline = now() + waitMs;
  let said = false;
  for (;;) {
    const r = spawnSync(bin, ['-o', 'DPkg::Lock::Timeout=60', ...args], { stdio: ['ignore', 'inherit', 'pipe'], encoding: 'utf8', env, cwd: root });
    const stderr = r.stderr ?? '';
    const locked = r.status !== 0 && APT_LOCKED.test(stderr);
    if (!locked || now() >= deadline) {
      process.stderr.write(stderr);
      if (r.status !== 0) console.error(`\napt-get ${args.join(' ')} failed (exit ${r.status ?? r.signal})${locked ? `: another process still holds the apt lock after ${Math.round(waitMs / 60_000)} min` : ''}`);
      return r.status ?? 1;
    }
    if (!said) console.log(`another process holds the apt lock (unattended-upgrades on a fresh machine?): waiting up to ${Math.round(waitMs / 60_000)} min…`);
    said = true;
    sleepSync(retryMs);
  }
}
