import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { chownSync, existsSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import Database from 'better-sqlite3';
import { MIGRATIONS, SCHEMA_VERSION } from '../collector/migrations';
import { wrapperScript } from '../agent/proxmox/install-hook';
import { AGENT_NODE_FLAGS } from '../agent/node-flags';
import { buildPackages, collectorStatus, dpkgStatus, lifelineTraces, mustRun, purgeAll, readUnit, run, startUnit, UNIT_DIR, waitHealthy, type Built, type Service } from './helpers/deb';
import { freePort, tempDir, waitFor } from './helpers/processes';

// The Debian packages end to end, on this machine for real: built by `npm run package`, checked
// by lintian, installed with dpkg into the system paths (/etc/lifeline, /var/lib/lifeline-*,
// the user lifeline), their units' ExecStart started as the unit's user (CI has no systemd as
// PID 1), upgraded, removed and purged. It needs root, refuses a host that already has any
// trace of Lifeline, and purges both packages at the end even when a step failed. Run alone:
//   node --import tsx --test test/package-deb.test.ts
// No other test may use /etc/lifeline, /var/lib/lifeline-* or the user lifeline meanwhile.

const pkgVersion = (JSON.parse(readFileSync('package.json', 'utf8')) as { version: string }).version;
const NEXT = `${pkgVersion}+upgrade1`;
const work = tempDir('lifeline-deb-');
let v1: Built;
let v2: Built;
let port = 0;
const running: Service[] = [];
const sha = (f: string) => createHash('sha256').update(readFileSync(f)).digest('hex');
const modeOf = (f: string) => (statSync(f).mode & 0o7777).toString(8).padStart(4, '0');
const ownerOf = (f: string) => {
  const st = statSync(f);
  const name = (id: number, db: 'passwd' | 'group') => mustRun('getent', [db, String(id)]).split(':')[0];
  return `${name(st.uid, 'passwd')}:${name(st.gid, 'group')}`;
};
const dpkgInstall = (...debs: string[]) => {
  // No terminal: a conffile question would fail dpkg, so success also says there was none.
  const r = run('dpkg', ['-i', ...debs]);
  assert.equal(r.code, 0, `dpkg -i failed: ${r.stderr}${r.stdout}`);
  return r;
};
const start = (unit: string) => {
  const s = startUnit(unit);
  running.push(s);
  return s;
};

before(() => {
  assert.equal(process.getuid?.(), 0, 'this test installs Debian packages: run it as root');
  assert.deepEqual(lifelineTraces(), [], 'this host already has Lifeline on it: the test would change or remove it');
  v1 = buildPackages(join(work, 'v1'));
  v2 = buildPackages(join(work, 'v2'), NEXT);
});

after(async () => {
  for (const s of running) await s.stop();
  purgeAll();
  rmSync(work, { recursive: true, force: true });
  const left = lifelineTraces();
  assert.deepEqual(left, [], `left behind after purge: ${left.join(', ')}`);
});

test('the packages: names, control fields, files, modes and conffiles', () => {
  const arch = mustRun('dpkg', ['--print-architecture']).trim();
  assert.match(v1.agent, new RegExp(`/lifeline-agent_${pkgVersion.replace(/\./g, '\\.')}_all\\.deb$`));
  assert.match(v1.collector, new RegExp(`/lifeline-collector_${pkgVersion.replace(/\./g, '\\.')}_${arch}\\.deb$`));
  const field = (deb: string, f: string) => mustRun('dpkg-deb', ['-f', deb, f]).trim();
  for (const deb of [v1.agent, v1.collector]) assert.match(field(deb, 'Depends'), /^nodejs \(>= 20\)/);
  assert.equal(field(v1.collector, 'Architecture'), arch);
  assert.match(field(v1.collector, 'Depends'), /libc6 \(>= /, 'the addon\'s libraries, from dpkg-shlibdeps');
  const listing = (deb: string) =>
    new Map(
      mustRun('dpkg-deb', ['-c', deb])
        .trim()
        .split('\n')
        .map((l) => l.split(/\s+/))
        .map((f) => [f[5].replace(/^\.\//, '/'), `${f[0]} ${f[1]}`] as const),
    );
  const agent = listing(v1.agent);
  const collector = listing(v1.collector);
  const expect: [Map<string, string>, string, string][] = [
    [agent, '/usr/bin/lifeline-agent', '-rwxr-xr-x root/root'],
    [agent, '/usr/lib/lifeline-agent/lifeline-agent.js', '-rwxr-xr-x root/root'],
    [agent, '/usr/lib/lifeline-agent/lifeline-vzdump-hook.cjs', '-rw-r--r-- root/root'],
    [agent, '/usr/lib/lifeline-agent/vzdump-hook', '-rwxr-xr-x root/root'],
    [agent, `${UNIT_DIR}/lifeline-agent.service`, '-rw-r--r-- root/root'],
    [agent, '/etc/lifeline/agent.yaml', '-rw------- root/root'],
    [agent, '/usr/share/doc/lifeline-agent/copyright', '-rw-r--r-- root/root'],
    [agent, '/usr/share/doc/lifeline-agent/changelog.gz', '-rw-r--r-- root/root'],
    [agent, '/usr/share/doc/lifeline-agent/examples/agent.yaml', '-rw-r--r-- root/root'],
    [agent, '/usr/share/man/man1/lifeline-agent.1.gz', '-rw-r--r-- root/root'],
    [collector, '/usr/bin/lifeline-collector', '-rwxr-xr-x root/root'],
    [collector, '/usr/lib/lifeline-collector/lifeline-collector.js', '-rwxr-xr-x root/root'],
    [collector, '/usr/lib/lifeline-collector/lifeline-collector-worker.js', '-rwxr-xr-x root/root'],
    [collector, '/usr/lib/lifeline-collector/node_modules/better-sqlite3/build/Release/better_sqlite3.node', '-rw-r--r-- root/root'],
    [collector, `${UNIT_DIR}/lifeline-collector.service`, '-rw-r--r-- root/root'],
    [collector, '/etc/lifeline/collector.yaml', '-rw-r----- root/root'],
    [collector, '/usr/share/doc/lifeline-collector/copyright', '-rw-r--r-- root/root'],
    [collector, '/usr/share/doc/lifeline-collector/changelog.gz', '-rw-r--r-- root/root'],
    [collector, '/usr/share/doc/lifeline-collector/examples/collector.yaml', '-rw-r--r-- root/root'],
    [collector, '/usr/share/doc/lifeline-collector/grafana/lifeline.json', '-rw-r--r-- root/root'],
    [collector, '/usr/share/man/man1/lifeline-collector.1.gz', '-rw-r--r-- root/root'],
  ];
  for (const [list, path, want] of expect) assert.equal(list.get(path), want, path);
  for (const list of [agent, collector]) {
    assert.ok(![...list.keys()].some((p) => p.startsWith('/var/')), 'state directories are made by postinst, never shipped');
  }
  assert.equal(mustRun('dpkg-deb', ['--ctrl-tarfile', v1.agent]).length > 0, true);
  const conffiles = (deb: string) => {
    const dir = join(work, `ctrl-${deb.includes('agent') ? 'a' : 'c'}`);
    mustRun('dpkg-deb', ['-e', deb, dir]);
    return readFileSync(join(dir, 'conffiles'), 'utf8').trim();
  };
  assert.equal(conffiles(v1.agent), '/etc/lifeline/agent.yaml');
  assert.equal(conffiles(v1.collector), '/etc/lifeline/collector.yaml');
});

test('lintian: no errors, and every warning overridden with a reason', () => {
  // --pedantic -E -I: every level; only E and W lines fail (REFERENCE-INTEGRATIONS §10).
  const r = run('lintian', ['--pedantic', '-E', '-I', '--tag-display-limit', '0', v1.agent, v1.collector]);
  const bad = r.stdout.split('\n').filter((l) => /^[EW]: /.test(l));
  assert.deepEqual(bad, [], r.stdout);
  for (const name of ['lifeline-agent', 'lifeline-collector']) {
    const lines = readFileSync(`packaging/lintian/${name}`, 'utf8').split('\n');
    lines.forEach((l, i) => {
      if (l.startsWith(`${name}:`)) assert.match(lines[i - 1] ?? '', /^# /, `packaging/lintian/${name}:${i + 1}: an override without a reason above it`);
    });
  }
});

test('dpkg -i installs both: the user, directories, modes and owners as documented; units enabled', () => {
  dpkgInstall(v1.collector, v1.agent);
  for (const p of ['lifeline-agent', 'lifeline-collector']) assert.equal(dpkgStatus(p), `install ok installed ${pkgVersion}`);
  const user = mustRun('getent', ['passwd', 'lifeline']).trim().split(':');
  assert.ok(Number(user[2]) < 1000, `a system user: uid ${user[2]}`);
  assert.equal(user[5], '/var/lib/lifeline-collector');
  assert.match(user[6], /nologin|false/);
  assert.equal(mustRun('getent', ['group', 'lifeline']).split(':')[2], user[3], 'its own group');
  const expect: [string, string, string][] = [
    ['/var/lib/lifeline-collector', 'lifeline:lifeline', '0750'],
    ['/etc/lifeline/collector.yaml', 'root:lifeline', '0640'],
    ['/var/lib/lifeline-agent', 'root:root', '0700'],
    ['/etc/lifeline/agent.yaml', 'root:root', '0600'],
    ['/usr/lib/lifeline-agent/vzdump-hook', 'root:root', '0755'],
  ];
  for (const [path, owner, mode] of expect) assert.deepEqual([path, ownerOf(path), modeOf(path)], [path, owner, mode]);
  // deb-systemd-helper enables without a running systemd: the unit starts at the next boot.
  for (const u of ['lifeline-agent.service', 'lifeline-collector.service']) assert.ok(existsSync(`/etc/systemd/system/multi-user.target.wants/${u}`), `${u} enabled`);
  assert.equal(mustRun('lifeline-agent', ['--version']).trim(), pkgVersion);
  assert.equal(mustRun('lifeline-collector', ['--version']).trim(), pkgVersion);
});

test('systemd-analyze verify passes for both installed units; ExecStart, shebang and hook wrapper share the agent flags', () => {
  // --man=no: a slim image drops /usr/share/man (dpkg path-exclude); the pages are checked in the .deb above.
  const r = run('systemd-analyze', ['verify', '--man=no', `${UNIT_DIR}/lifeline-agent.service`, `${UNIT_DIR}/lifeline-collector.service`]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stderr.trim(), '', 'no warnings either');
  const agent = readUnit('lifeline-agent.service');
  const collector = readUnit('lifeline-collector.service');
  assert.deepEqual(agent.execStart.slice(0, 1 + AGENT_NODE_FLAGS.length), ['/usr/bin/node', ...AGENT_NODE_FLAGS]);
  assert.equal(agent.user, 'root');
  assert.deepEqual([collector.user, collector.group], ['lifeline', 'lifeline']);
  for (const opt of ['ProtectSystem=strict', 'PrivateTmp=yes', 'NoNewPrivileges=yes', 'ReadWritePaths=/var/lib/lifeline-collector', 'RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6', 'SystemCallFilter=@system-service', 'ProtectHome=yes']) {
    assert.ok(collector.raw.split('\n').includes(opt), `collector unit: ${opt}`);
  }
  for (const raw of [agent.raw, collector.raw]) assert.ok(!/^MemoryDenyWriteExecute=yes/m.test(raw), 'never MemoryDenyWriteExecute (V8)');
  // --lite-mode turns WebAssembly off, and with it node's global fetch (undici parses HTTP with
  // WebAssembly): the agent talks HTTP through node:http/https only.
  for (const f of ['/usr/lib/lifeline-agent/lifeline-agent.js', '/usr/lib/lifeline-agent/lifeline-vzdump-hook.cjs']) {
    assert.doesNotMatch(readFileSync(f, 'utf8'), /\bWebAssembly\b|\bfetch\(/, `${f} must not need WebAssembly under the agent's flags`);
  }
  const shebang = readFileSync('/usr/lib/lifeline-agent/lifeline-agent.js', 'utf8').split('\n')[0];
  assert.equal(shebang, `#!/usr/bin/env -S node ${AGENT_NODE_FLAGS.join(' ')}`);
  assert.match(readFileSync('/usr/bin/lifeline-agent', 'utf8'), new RegExp(`exec /usr/bin/node ${AGENT_NODE_FLAGS.join(' ')} /usr/lib/lifeline-agent/lifeline-agent.js "\\$@"`));
  // What `proxmox install-hook` would write for the packaged paths: it then uses it as it is.
  const packaged = { nodeBin: '/usr/bin/node', hookBundle: '/usr/lib/lifeline-agent/lifeline-vzdump-hook.cjs', configFile: '/etc/lifeline/agent.yaml', cacheFile: '/var/lib/lifeline-agent/vzdump/hook-settings.json' };
  assert.equal(readFileSync('/usr/lib/lifeline-agent/vzdump-hook', 'utf8'), wrapperScript(packaged, true));
  // Run as vzdump runs it: an empty environment, a phase it ignores; always exit 0.
  const hook = run('/usr/lib/lifeline-agent/vzdump-hook', ['job-init'], { env: {} });
  assert.equal(hook.code, 0, hook.stderr);
  // `proxmox install-hook` wires vzdump to the packaged wrapper and leaves the wrapper to dpkg
  // (vzdump.conf and jobs.cfg in a temp dir: this host is no Proxmox node).
  const conf = join(work, 'vzdump.conf');
  writeFileSync(conf, 'bwlimit: 100000\n');
  const before = sha('/usr/lib/lifeline-agent/vzdump-hook');
  const install = run('lifeline-agent', ['proxmox', 'install-hook', '--vzdump-conf', conf, '--jobs-cfg', join(work, 'no-jobs.cfg')]);
  assert.equal(install.code, 0, install.stderr);
  assert.match(install.stdout, /\/usr\/lib\/lifeline-agent\/vzdump-hook: the lifeline-agent package's wrapper, used as it is/);
  assert.equal(readFileSync(conf, 'utf8'), 'bwlimit: 100000\nscript: /usr/lib/lifeline-agent/vzdump-hook\n');
  assert.equal(sha('/usr/lib/lifeline-agent/vzdump-hook'), before);
  assert.equal(run('dpkg', ['--verify', 'lifeline-agent']).stdout, '', 'dpkg --verify: no packaged file changed');
});

test('the units run: the collector answers /healthz as lifeline, the agent enrolls and reports', async () => {
  port = await freePort();
  // The admin's edits: the collector on a free loopback port, the agent's name and a job.
  writeFileSync('/etc/lifeline/collector.yaml', `${readFileSync('/etc/lifeline/collector.yaml', 'utf8')}\nlisten: 127.0.0.1:${port}\n`);
  writeFileSync(
    '/etc/lifeline/agent.yaml',
    readFileSync('/etc/lifeline/agent.yaml', 'utf8')
      .replace('  # name: pve1  ', '  name: deb-test')
      .replace('jobs: []', `jobs:\n  - { name: etc-test, asset: deb-test-etc, tier: 2, target: usb-ssd, driver: command, command: [/bin/true] }`),
  );
  const collector = start('lifeline-collector.service');
  await waitHealthy(port, collector);
  const pid = collector.child.pid!;
  assert.equal(readFileSync(`/proc/${pid}/status`, 'utf8').match(/^Uid:\s+(\d+)/m)![1], mustRun('id', ['-u', 'lifeline']).trim(), 'the collector runs as lifeline');
  assert.equal(ownerOf('/var/lib/lifeline-collector/lifeline.db'), 'lifeline:lifeline');

  // The commands a user types, as root: token create runs as lifeline (the database's owner).
  const token = run('lifeline-collector', ['token', 'create', 'deb-test']);
  assert.equal(token.code, 0, token.stderr);
  assert.match(`${token.stderr}${token.stdout}`, /lifeline-agent enroll http:\/\/127\.0\.0\.1:\d+ /, "token create prints the command to run on the host");
  const enroll = run('lifeline-agent', ['enroll', `http://127.0.0.1:${port}`, token.stdout.trim()]);
  assert.equal(enroll.code, 0, enroll.stderr);
  assert.match(enroll.stdout, /enrolled "deb-test"/);
  assert.match(enroll.stdout, /systemd is not running here/, 'no systemd as PID 1 here: enroll says how to start it');
  assert.deepEqual([ownerOf('/var/lib/lifeline-agent/agent.key'), modeOf('/var/lib/lifeline-agent/agent.key')], ['root:root', '0600']);
  for (const f of readdirSync('/var/lib/lifeline-collector')) assert.equal(ownerOf(join('/var/lib/lifeline-collector', f)), 'lifeline:lifeline', f);

  const agent = start('lifeline-agent.service');
  const seen = await waitFor('the agent at the collector', async () => (await collectorStatus(port)).agents.find((a) => a.name === 'deb-test' && a.lastSeen !== null && a.version === pkgVersion), 30_000, 200);
  assert.equal(seen.version, pkgVersion);
  await waitFor('the agent\'s job catalog', async () => (await collectorStatus(port)).jobs.some((j) => j.agent === 'deb-test' && j.name === 'etc-test'), 30_000, 200);
  assert.equal(await agent.stop(), 0, agent.output());
});

test('an upgrade keeps config, key, database and spool; the new collector migrates the database it finds', async () => {
  // A run while the collector is down: it waits in the agent's spool across the upgrade.
  const collector = running.find((s) => s.child.exitCode === null)!;
  assert.equal(await collector.stop(), 0, collector.output());
  const runNow = run('lifeline-agent', ['run', 'etc-test']);
  assert.equal(runNow.code, 0, runNow.stderr);
  const spoolDir = '/var/lib/lifeline-agent/spool';
  const spooled = readdirSync(spoolDir).filter((f) => f.endsWith('.json')).sort();
  assert.ok(spooled.length > 0, 'the run is spooled');
  const kept = ['/etc/lifeline/collector.yaml', '/etc/lifeline/agent.yaml', '/var/lib/lifeline-agent/agent.key', '/var/lib/lifeline-agent/enrollment.json', '/var/lib/lifeline-collector/lifeline.db', ...spooled.map((f) => join(spoolDir, f))];
  const before = kept.map((f) => [f, sha(f)]);

  dpkgInstall(v2.collector, v2.agent);
  for (const p of ['lifeline-agent', 'lifeline-collector']) assert.equal(dpkgStatus(p), `install ok installed ${NEXT}`);
  assert.deepEqual(kept.map((f) => [f, existsSync(f) ? sha(f) : 'missing']), before);
  assert.deepEqual([ownerOf('/etc/lifeline/collector.yaml'), modeOf('/etc/lifeline/collector.yaml')], ['root:lifeline', '0640']);
  assert.equal(mustRun('lifeline-agent', ['--version']).trim(), NEXT);

  // Both packages here are built from one tree, so they share one schema: the database an
  // earlier release left is stood in by one made with every migration but the last (as
  // test/collector-pbs.test.ts does), holding the enrolled agent as the real one stored it.
  const file = '/var/lib/lifeline-collector/lifeline.db';
  const current = new Database(file, { readonly: true });
  const agents = current.prepare('SELECT * FROM agents').all() as Record<string, unknown>[];
  current.close();
  rmSync(file);
  const old = new Database(file);
  for (const m of MIGRATIONS.slice(0, SCHEMA_VERSION - 1)) typeof m === 'string' ? old.exec(m) : m(old);
  old.pragma(`user_version = ${SCHEMA_VERSION - 1}`);
  const columns = (old.prepare('PRAGMA table_info(agents)').all() as { name: string }[]).map((c) => c.name).filter((c) => c in agents[0]);
  const insert = old.prepare(`INSERT INTO agents (${columns.join(', ')}) VALUES (${columns.map((c) => `@${c}`).join(', ')})`);
  for (const a of agents) insert.run(Object.fromEntries(columns.map((c) => [c, a[c]])));
  old.close();
  const lifeline = mustRun('id', ['-u', 'lifeline']).trim();
  chownSync(file, Number(lifeline), Number(mustRun('id', ['-g', 'lifeline']).trim()));

  const upgraded = start('lifeline-collector.service');
  await waitHealthy(port, upgraded);
  const migrated = new Database(file, { readonly: true });
  assert.equal(migrated.pragma('user_version', { simple: true }), SCHEMA_VERSION);
  migrated.close();
  const copy = `${file}.before-migration-${SCHEMA_VERSION}`;
  assert.ok(existsSync(copy), `the copy before the migration at ${copy}`);
  assert.equal(ownerOf(copy), 'lifeline:lifeline');
  await waitFor('the collector saying where the copy is', () => upgraded.output().includes(`its copy from before is ${copy}`), 10_000);

  // The agent keeps its key and enrollment: the spooled run arrives, reported by the new version.
  const agent = start('lifeline-agent.service');
  await waitFor('the spooled run at the collector', async () => (await collectorStatus(port)).jobs.find((j) => j.agent === 'deb-test' && j.name === 'etc-test' && j.lastRun?.status === 'success'), 30_000, 200);
  await waitFor('the upgraded agent\'s version', async () => (await collectorStatus(port)).agents.find((a) => a.name === 'deb-test' && a.version === NEXT), 30_000, 200);
  assert.equal(await agent.stop(), 0, agent.output());
  assert.equal(await upgraded.stop(), 0, upgraded.output());
});

test('remove keeps config, keys, database and the user; purge leaves nothing', () => {
  const r = run('dpkg', ['--remove', 'lifeline-agent', 'lifeline-collector']);
  assert.equal(r.code, 0, r.stderr);
  for (const f of ['/etc/lifeline/collector.yaml', '/etc/lifeline/agent.yaml', '/var/lib/lifeline-agent/agent.key', '/var/lib/lifeline-collector/lifeline.db']) assert.ok(existsSync(f), `${f} kept by remove`);
  assert.equal(run('getent', ['passwd', 'lifeline']).code, 0, 'the user is kept by remove');
  for (const f of ['/usr/bin/lifeline-agent', '/usr/bin/lifeline-collector', '/usr/lib/lifeline-collector']) assert.ok(!existsSync(f), `${f} removed`);
  const p = run('dpkg', ['--purge', 'lifeline-agent', 'lifeline-collector']);
  assert.equal(p.code, 0, p.stderr);
  assert.deepEqual(lifelineTraces(), []);
});
