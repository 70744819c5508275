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
  run('apt-get', ['update', '-qq'], { env });
  run('apt-get', ['install', '-y', '-qq', '--no-install-recommends', ...missing], { env });
}
