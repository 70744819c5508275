// `npm run package`: builds the Debian packages into dist/ (or --outdir DIR):
//   lifeline-agent_<version>_all.deb       the agent's bundles (no native code)
//   lifeline-collector_<version>_<arch>.deb the collector's bundles + better-sqlite3 built for <arch>
// with dpkg-deb --root-owner-group, from the files in packaging/. `--version V` packages (and
// builds the bundles as) another version, e.g. for an upgrade test.
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { gzipSync } from 'node:zlib';
import { ensureNodeModules, root } from './setup.mjs';

const arg = (name) => {
  const i = process.argv.indexOf(name);
  return i > 0 ? process.argv[i + 1] : undefined;
};
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
const version = arg('--version') ?? pkg.version;
const outdir = arg('--outdir') ?? join(root, 'dist');
if (!/^[0-9][A-Za-z0-9.+~-]*$/.test(version)) throw new Error(`not a Debian version: ${version}`);
const agentFlags = JSON.parse(readFileSync(join(root, 'packaging/agent-node-flags.json'), 'utf8'));
const P = (...p) => join(root, 'packaging', ...p);
const MAINTAINER = 'Lifeline contributors <lifeline-backup@users.noreply.github.com>';
const HOMEPAGE = 'https://github.com/lifeline-backup/lifeline';

const sh = (cmd, args, opts = {}) => execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], ...opts });

ensureNodeModules();
const work = mkdtempSync(join(tmpdir(), 'lifeline-package-'));
try {
  // The bundles, built for this version (the version is compiled in).
  const bundles = join(work, 'bundles');
  sh(process.execPath, [join(root, 'scripts/build.mjs'), '--outdir', bundles], { cwd: root, env: { ...process.env, LIFELINE_VERSION: version }, stdio: ['ignore', 'ignore', 'inherit'] });
  const arch = sh('dpkg', ['--print-architecture']).trim();
  mkdirSync(outdir, { recursive: true });
  const agentDeb = join(outdir, `lifeline-agent_${version}_all.deb`);
  const collectorDeb = join(outdir, `lifeline-collector_${version}_${arch}.deb`);
  buildPackage(agentPackage(bundles), agentDeb);
  buildPackage(collectorPackage(bundles, arch), collectorDeb);
  console.log(`${relative(process.cwd(), agentDeb)}\n${relative(process.cwd(), collectorDeb)}`);
} finally {
  rmSync(work, { recursive: true, force: true });
}

/** A file to install: its content (or a file to copy) and mode. */
function file(dest, { from, text, mode }) {
  return { dest, from, text, mode };
}

/** A bundle: executable when it starts with a shebang (lintian: script-not-executable). */
function bundle(bundles, name, destDir) {
  const from = join(bundles, name);
  const shebang = readFileSync(from, 'utf8').startsWith('#!');
  return file(`${destDir}/${name}`, { from, mode: shebang ? 0o755 : 0o644 });
}

function template(path, extra = {}) {
  let text = readFileSync(path, 'utf8').replaceAll('@VERSION@', version).replaceAll('@AGENT_NODE_FLAGS@', agentFlags.join(' '));
  for (const [k, v] of Object.entries(extra)) text = text.replaceAll(k, v);
  return text;
}

/** Files every package has: copyright, changelog, man page, lintian overrides. */
function docs(name, command) {
  return [
    file(`usr/share/doc/${name}/copyright`, { text: copyright(), mode: 0o644 }),
    file(`usr/share/doc/${name}/changelog.gz`, { text: gz(changelog()), mode: 0o644 }),
    file(`usr/share/man/man1/${command}.1.gz`, { text: gz(template(P('man', `${command}.1`))), mode: 0o644 }),
    file(`usr/share/lintian/overrides/${name}`, { from: P('lintian', name), mode: 0o644 }),
  ];
}

function agentPackage(bundles) {
  const lib = 'usr/lib/lifeline-agent';
  return {
    name: 'lifeline-agent',
    arch: 'all',
    depends: 'nodejs (>= 20)',
    suggests: 'restic, borgbackup, rclone',
    description: [
      "Lifeline backup agent: runs and reports this host's backups",
      'Runs the backup jobs of /etc/lifeline/agent.yaml on their schedules (restic,',
      'borg, borgmatic, rclone, database dumps, Proxmox vzdump and Backup Server,',
      'any command), prunes, verifies and test-restores them, and reports every run,',
      'signed, to a Lifeline collector. On a Proxmox VE node it also records vzdump',
      "jobs through its hook (lifeline-agent proxmox install-hook) and reads the",
      "guests' coverage.",
    ],
    conffiles: ['/etc/lifeline/agent.yaml'],
    scripts: ['postinst', 'prerm', 'postrm'].map((s) => ({ name: s, from: P('debian/agent', s) })),
    files: [
      bundle(bundles, 'lifeline-agent.js', lib),
      bundle(bundles, 'lifeline-vzdump-hook.cjs', lib),
      file(`${lib}/vzdump-hook`, { text: hookWrapper(), mode: 0o755 }),
      file('usr/bin/lifeline-agent', { text: template(P('bin/lifeline-agent')), mode: 0o755 }),
      file('lib/systemd/system/lifeline-agent.service', { text: template(P('systemd/lifeline-agent.service')), mode: 0o644 }),
      // The agent's config may hold job environment values: root's alone.
      file('etc/lifeline/agent.yaml', { from: P('config/agent.yaml'), mode: 0o600 }),
      file('usr/share/doc/lifeline-agent/examples/agent.yaml', { from: P('config/agent.yaml'), mode: 0o644 }),
      ...docs('lifeline-agent', 'lifeline-agent'),
    ],
  };
}

function collectorPackage(bundles, arch) {
  const lib = 'usr/lib/lifeline-collector';
  const nm = join(root, 'node_modules');
  const sqliteVersion = JSON.parse(readFileSync(join(nm, 'better-sqlite3/package.json'), 'utf8')).version;
  // better-sqlite3 as the bundle finds it (external: require('better-sqlite3') from beside it):
  // its JS, the addon stripped of debug symbols, and bindings (which locates the addon).
  const modules = [];
  for (const m of ['better-sqlite3', 'bindings', 'file-uri-to-path']) {
    for (const f of listFiles(join(nm, m))) {
      const r = relative(join(nm, m), f);
      const keep = r === 'package.json' || /^LICENSE/i.test(r) || (m === 'better-sqlite3' ? r.startsWith('lib/') : /^[^/]+\.js$/.test(r));
      if (keep) modules.push(file(`${lib}/node_modules/${m}/${r}`, { from: f, mode: 0o644 }));
    }
  }
  const addon = join(work, 'better_sqlite3.node');
  sh('strip', ['--strip-unneeded', '--remove-section=.comment', '--remove-section=.note', '-o', addon, join(nm, 'better-sqlite3/build/Release/better_sqlite3.node')]);
  modules.push(file(`${lib}/node_modules/better-sqlite3/build/Release/better_sqlite3.node`, { from: addon, mode: 0o644 }));
  return {
    name: 'lifeline-collector',
    arch,
    depends: `nodejs (>= 20), adduser, openssl, ${shlibsDepends(addon)}`,
    description: [
      'Lifeline collector: stores backup reports, finds what is wrong, notifies',
      'Receives the signed reports of Lifeline agents, keeps them in SQLite,',
      "evaluates them against each asset's tier (missed and failed runs, stale",
      'copies, capacity, 3-2-1), sends notifications (ntfy, Apprise, webhooks) and',
      'serves a status page, a JSON API and Prometheus metrics. Runs as the system',
      'user lifeline.',
    ],
    conffiles: ['/etc/lifeline/collector.yaml'],
    scripts: ['postinst', 'prerm', 'postrm'].map((s) => ({ name: s, from: P('debian/collector', s) })),
    files: [
      bundle(bundles, 'lifeline-collector.js', lib),
      bundle(bundles, 'lifeline-collector-worker.js', lib),
      ...modules,
      file('usr/bin/lifeline-collector', { text: template(P('bin/lifeline-collector')), mode: 0o755 }),
      file('lib/systemd/system/lifeline-collector.service', { text: template(P('systemd/lifeline-collector.service')), mode: 0o644 }),
      // root:lifeline 0640 is set by postinst (the group does not exist before it runs).
      file('etc/lifeline/collector.yaml', { from: P('config/collector.yaml'), mode: 0o640 }),
      file('usr/share/doc/lifeline-collector/examples/collector.yaml', { from: P('config/collector.yaml'), mode: 0o644 }),
      file('usr/share/doc/lifeline-collector/grafana/lifeline.json', { from: P('grafana/lifeline.json'), mode: 0o644 }),
      ...docs('lifeline-collector', 'lifeline-collector'),
    ],
    sqliteVersion,
  };
}

function buildPackage(p, deb) {
  const dir = join(work, p.name);
  for (const f of p.files) {
    const dest = join(dir, f.dest);
    mkdirSync(dirname(dest), { recursive: true });
    if (f.from) copyFileSync(f.from, dest);
    else writeFileSync(dest, f.text);
    chmodSync(dest, f.mode);
  }
  // Directories 0755 whatever the umask.
  for (const d of listDirs(dir)) chmodSync(d, 0o755);
  const control = join(dir, 'DEBIAN');
  mkdirSync(control, { mode: 0o755 });
  for (const s of p.scripts) {
    copyFileSync(s.from, join(control, s.name));
    chmodSync(join(control, s.name), 0o755);
  }
  writeFileSync(join(control, 'conffiles'), `${p.conffiles.join('\n')}\n`);
  const payload = listFiles(dir).filter((f) => !f.startsWith(`${control}/`));
  writeFileSync(join(control, 'md5sums'), payload.map((f) => `${createHash('md5').update(readFileSync(f)).digest('hex')}  ${relative(dir, f)}\n`).join(''));
  const installedKiB = Math.ceil(payload.reduce((n, f) => n + statSync(f).size, 0) / 1024);
  const [synopsis, ...long] = p.description;
  writeFileSync(
    join(control, 'control'),
    [
      `Package: ${p.name}`,
      `Version: ${version}`,
      `Architecture: ${p.arch}`,
      `Maintainer: ${MAINTAINER}`,
      `Installed-Size: ${installedKiB}`,
      `Depends: ${p.depends}`,
      ...(p.suggests ? [`Suggests: ${p.suggests}`] : []),
      'Section: admin',
      'Priority: optional',
      `Homepage: ${HOMEPAGE}`,
      `Description: ${synopsis}`,
      ...long.map((l) => ` ${l}`),
      '',
    ].join('\n'),
  );
  for (const f of ['conffiles', 'md5sums', 'control']) chmodSync(join(control, f), 0o644);
  const r = spawnSync('dpkg-deb', ['--root-owner-group', '-Zxz', '--build', dir, deb], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`dpkg-deb --build ${p.name} failed: ${r.stderr}`);
}

/** The vzdump hook wrapper, exactly as `lifeline-agent proxmox install-hook` would write it for the packaged paths. */
function hookWrapper() {
  const code = `import('./agent/proxmox/install-hook.ts').then((m) => process.stdout.write(m.wrapperScript({
    nodeBin: '/usr/bin/node', hookBundle: '/usr/lib/lifeline-agent/lifeline-vzdump-hook.cjs',
    configFile: '/etc/lifeline/agent.yaml', cacheFile: '/var/lib/lifeline-agent/vzdump/hook-settings.json' }, true)))`;
  return sh(process.execPath, ['--import', 'tsx', '--input-type=module', '--eval', code], { cwd: root });
}

/** What the addon's ELF dependencies need (dpkg-shlibdeps wants a debian/control beside it). */
function shlibsDepends(addon) {
  const d = join(work, 'shlibdeps');
  mkdirSync(join(d, 'debian'), { recursive: true });
  writeFileSync(join(d, 'debian/control'), 'Source: lifeline\n\nPackage: lifeline-collector\nArchitecture: any\n');
  // Its warnings about V8/node symbols are expected: node (the executable) provides them.
  const out = sh('dpkg-shlibdeps', ['-O', addon], { cwd: d, stdio: ['ignore', 'pipe', 'ignore'] });
  const m = /^shlibs:Depends=(.*)$/m.exec(out);
  if (!m) throw new Error(`dpkg-shlibdeps printed no shlibs:Depends: ${out}`);
  return m[1].trim();
}

function copyright() {
  const lock = JSON.parse(readFileSync(join(root, 'package-lock.json'), 'utf8'));
  const bundled = Object.entries(lock.packages)
    .filter(([path, p]) => path.startsWith('node_modules/') && !p.dev)
    .map(([path, p]) => ` ${path.replace(/^.*node_modules\//, '')} ${p.version} (${p.license ?? 'see its package'})`)
    .sort();
  const sqlite = JSON.parse(readFileSync(join(root, 'node_modules/better-sqlite3/package.json'), 'utf8')).version;
  return template(P('debian/copyright.in'), { '@BUNDLED@': [...new Set(bundled)].join('\n'), '@SQLITE_VERSION@': sqlite });
}

/** packaging/debian/changelog, with an entry for this version on top when it has none. */
function changelog() {
  const text = readFileSync(P('debian/changelog'), 'utf8');
  const top = /^lifeline \(([^)]+)\)/.exec(text)?.[1];
  if (top === version) return text;
  const when = new Date(Number(process.env.SOURCE_DATE_EPOCH ?? Math.floor(Date.now() / 1000)) * 1000).toUTCString().replace('GMT', '+0000');
  return `lifeline (${version}) unstable; urgency=medium\n\n  * Release ${version}.\n\n -- ${MAINTAINER}  ${when}\n\n${text}`;
}

/** gzip -9n: maximum compression, no name or time stamp in the header (policy 12.3, lintian). */
function gz(text) {
  return gzipSync(Buffer.from(text), { level: 9 });
}

function listFiles(dir) {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => join(e.parentPath ?? e.path, e.name))
    .sort();
}

function listDirs(dir) {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isDirectory())
    .map((e) => join(e.parentPath ?? e.path, e.name));
}
