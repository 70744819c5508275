import assert from 'node:assert/strict';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { copyFileSync, mkdirSync, readdirSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { after, before, test } from 'node:test';
import { z } from 'zod';
import { pathsDriver } from '../agent/drivers/paths';
import { parseListedFile, unescapeName } from '../agent/drivers/paths-tar';
import { driverHarness, type Harness } from './helpers/driver-harness';
import { sleep, tempDir } from './helpers/processes';

// Real GNU tar and zstd on generated trees in a temp dir, driven through the bundled agent CLI
// and a real collector.

const dir = tempDir('lifeline-paths-');
const src = join(dir, 'src');
const archives = join(dir, 'archives');
const rotating = join(dir, 'rotating');
const volumes = join(dir, 'docker-volumes');
const growing = join(dir, 'growing');
// No Docker engine runs here: test/fixtures/docker stands in for the docker CLI, answering
// `volume inspect` as the real one does. The jobs that use volumes put it first in PATH.
const FIXTURES = resolve('test/fixtures');
const dockerEnv = `    env: { PATH: "${FIXTURES}:${process.env.PATH}", DOCKER_STANDIN_VOLUMES: ${volumes} }\n`;

// Regular files the `etc` job archives (debug.log and the cache dir are excluded).
const FILES: Record<string, Buffer> = {
  'etc/hosts': Buffer.from('127.0.0.1 localhost\n'),
  'etc/nested/app.conf': Buffer.from('key = value\n'),
  'etc/with space.txt': Buffer.from('spaces survive\n'),
  'etc/line\nbreak.txt': Buffer.from('tar escapes this name\n'),
  'etc/big.bin': randomBytes(200_000),
  'app/config/settings.yml': Buffer.from('debug: false\n'),
};
const EXCLUDED = ['etc/debug.log', 'app/config/cache/blob'];
const TOTAL_BYTES = Object.values(FILES).reduce((n, b) => n + b.length, 0);

const job = (name: string, paths: string, extra = '') => `  - name: ${name}
    asset: ${name}-files
    tier: 2
    target: local-disk
    driver: paths
    paths: ${paths}
${extra}`;

const jobArchives = (where: string, name: string) => readdirSync(where).filter((f) => new RegExp(`^${name}-\\d{8}T\\d{6}Z\\.tar\\.zst`).test(f)).sort();
const members = (archive: string) => execFileSync('tar', ['--list', '--zstd', `--file=${archive}`], { encoding: 'utf8' }).split('\n').filter(Boolean);

let h: Harness;

before(async () => {
  for (const [name, content] of Object.entries({ ...FILES, ...Object.fromEntries(EXCLUDED.map((e) => [e, Buffer.from('skip me\n')])) })) {
    mkdirSync(join(src, name, '..'), { recursive: true });
    writeFileSync(join(src, name), content);
  }
  mkdirSync(join(volumes, 'appdata', '_data'), { recursive: true });
  writeFileSync(join(volumes, 'appdata', '_data', 'db.sqlite'), randomBytes(10_000));
  mkdirSync(growing);
  // Big enough that tar spends milliseconds reading it while the appender writes every 1 ms.
  writeFileSync(join(growing, 'grow.bin'), randomBytes(8_000_000));
  for (const d of [archives, rotating]) mkdirSync(d);
  h = await driverHarness(
    'paths-host',
    [
      job('etc', `{ paths: [${src}/etc, ${src}/app/config], excludes: ["*.log", ${src}/app/config/cache], dir: ${archives} }`, '    retention: { last: 10 }\n'),
      job('missing', `{ paths: [${dir}/does-not-exist], dir: ${archives} }`),
      job('changing', `{ paths: [${growing}], dir: ${archives} }`, '    retention: { last: 10 }\n'),
      job('vols', `{ volumes: [appdata], dir: ${archives} }`, `    retention: { last: 10 }\n${dockerEnv}`),
      job('novol', `{ volumes: [appdata, ghost], dir: ${archives} }`, dockerEnv),
      job('rot', `{ paths: [${src}/etc], dir: ${rotating} }`, '    retention: { last: 2 }\n'),
      job('nokeep', `{ paths: [${src}/etc], dir: ${rotating} }`, '    retention: { last: 0 }\n'),
    ].join(''),
  );
});

after(async () => {
  await h?.close();
  rmSync(dir, { recursive: true, force: true });
});

test('a backup writes a zstd tar archive and reports its size, file count and name', async () => {
  writeFileSync(join(archives, 'etc-20200101T000000Z.tar.partial'), 'left by a killed run');
  const r = await h.agentCli('run', 'etc');
  assert.equal(r.code, 0, r.stderr + r.stdout);
  const [run] = h.runs('etc', 'backup');
  assert.equal(run.status, 'success', run.log_tail!);
  assert.equal(run.exit_code, 0);
  assert.match(run.snapshot_id!, /^etc-\d{8}T\d{6}Z\.tar\.zst$/);
  assert.deepEqual(jobArchives(archives, 'etc'), [run.snapshot_id]);
  const archive = join(archives, run.snapshot_id!);
  assert.equal(run.bytes_total, statSync(archive).size);
  assert.equal(run.bytes_added, run.bytes_total);
  assert.equal(run.files, Object.keys(FILES).length);
  const listed = members(archive);
  const rel = src.slice(1);
  assert.ok(listed.includes(`${rel}/etc/hosts`), 'stored relative to /');
  for (const e of EXCLUDED) assert.ok(!listed.some((m) => m.startsWith(`${rel}/${e}`)), `${e} is excluded`);
  assert.ok(!readdirSync(archives).some((f) => f.endsWith('.partial')));
  assert.equal(statSync(archive).mode & 0o777, 0o600, '/etc holds secrets: the archive is private');
});

test('a source path that does not exist is a failure with tar\'s message, and no archive is left', async () => {
  const r = await h.agentCli('run', 'missing');
  assert.notEqual(r.code, 0);
  const [run] = h.runs('missing', 'backup');
  assert.equal(run.status, 'failure');
  assert.equal(run.exit_code, 2);
  assert.match(run.log_tail!, /does-not-exist: Cannot stat: No such file or directory/);
  assert.match(run.error!, /^tar: .*does-not-exist: Cannot stat/);
  assert.deepEqual(readdirSync(archives).filter((f) => f.startsWith('missing-')), []);
});

test('a file that grows while tar reads it makes the backup a warning that names it', async () => {
  // GNU tar exits 1 ("file changed as we read it") and still writes a complete archive.
  const appender: ChildProcess = spawn(process.execPath, ['-e', `const fs=require('fs');setInterval(()=>fs.appendFileSync(${JSON.stringify(join(growing, 'grow.bin'))},'x'),1)`], { stdio: 'ignore' });
  try {
    await sleep(200);
    await h.agentCli('run', 'changing');
  } finally {
    appender.kill();
  }
  const [run] = h.runs('changing', 'backup');
  assert.equal(run.status, 'warning', run.log_tail!);
  assert.equal(run.exit_code, 1);
  assert.match(run.error!, /grow\.bin: file changed as we read it/);
  assert.deepEqual(jobArchives(archives, 'changing'), [run.snapshot_id], 'the archive is kept');
  assert.equal(h.runs('changing', 'prune')[0]?.status, 'success', 'a warning is followed by a prune');
});

test('a Docker volume is archived from the mountpoint docker volume inspect reports', async () => {
  await h.agentCli('run', 'vols');
  const [run] = h.runs('vols', 'backup');
  assert.equal(run.status, 'success', run.log_tail!);
  assert.equal(run.files, 1);
  assert.match(run.log_tail!, new RegExp(`volume appdata is ${volumes}/appdata/_data`));
  assert.ok(members(join(archives, run.snapshot_id!)).includes(`${volumes.slice(1)}/appdata/_data/db.sqlite`));
});

test('an unknown Docker volume is a failure naming it', async () => {
  const r = await h.agentCli('run', 'novol');
  assert.notEqual(r.code, 0);
  const [run] = h.runs('novol', 'backup');
  assert.equal(run.status, 'failure');
  assert.equal(run.error, 'cannot resolve Docker volume ghost: Error: No such volume: ghost');
  assert.match(run.log_tail!, /Error: No such volume: ghost/);
  assert.deepEqual(readdirSync(archives).filter((f) => f.startsWith('novol-')), []);
});

test('the inventory lists this job\'s archives with their time and size after three runs', async () => {
  for (let i = 0; i < 2; i++) assert.equal((await h.agentCli('run', 'etc')).code, 0);
  const files = jobArchives(archives, 'etc');
  assert.equal(files.length, 3, 'runs within one second wait for the next');
  const inv = h.inventory('etc');
  assert.deepEqual(inv.map((s) => s.id).sort(), files);
  for (const s of inv) {
    const m = /^etc-(\d{4})(\d\d)(\d\d)T(\d\d)(\d\d)(\d\d)Z/.exec(s.id)!;
    assert.equal(s.time, `${m[1]}-${m[2]}-${m[3]}T${m[4]}:${m[5]}:${m[6]}.000Z`);
    assert.equal(s.bytes, statSync(join(archives, s.id)).size);
  }
});

test('prune with { last: 2 } keeps the two newest archives and leaves other jobs\' files alone', async () => {
  const [one] = jobArchives(archives, 'etc');
  const seeded = ['rot-20240101T020000Z.tar.zst', 'rot-20240201T020000Z.tar.zst', 'rot-20240301T020000Z.tar.zst', 'rot-20240401T020000Z.tar.zst'];
  const others = ['rot-extra-20200101T000000Z.tar.zst', 'notes.txt'];
  for (const f of [...seeded, ...others]) copyFileSync(join(archives, one), join(rotating, f));
  const r = await h.agentCli('prune', 'rot');
  assert.equal(r.code, 0, r.stderr + r.stdout);
  const [run] = h.runs('rot', 'prune');
  assert.equal(run.status, 'success', run.log_tail!);
  assert.deepEqual(readdirSync(rotating).sort(), [...others, ...seeded.slice(2)].sort());
  assert.match(run.log_tail!, /removed rot-20240101T020000Z\.tar\.zst/);
  assert.deepEqual(h.inventory('rot').map((s) => s.id), seeded.slice(2).reverse());
});

test('a retention policy that keeps nothing is refused, and nothing is deleted', async () => {
  copyFileSync(join(rotating, 'rot-20240401T020000Z.tar.zst'), join(rotating, 'nokeep-20240401T020000Z.tar.zst'));
  const before = readdirSync(rotating).sort();
  const r = await h.agentCli('prune', 'nokeep');
  assert.notEqual(r.code, 0);
  const [run] = h.runs('nokeep', 'prune');
  assert.equal(run.status, 'failure');
  assert.match(run.error!, /no keep rule above zero: refusing to delete every archive/);
  assert.deepEqual(readdirSync(rotating).sort(), before);
});

test('a restore drill extracts the newest archive and checks every file\'s size', async () => {
  const r = await h.agentCli('restore-test', 'etc');
  assert.equal(r.code, 0, r.stderr + r.stdout);
  const [run] = h.runs('etc', 'restore-test');
  assert.equal(run.status, 'success', run.log_tail!);
  assert.equal(run.files, Object.keys(FILES).length);
  assert.equal(run.bytes_total, TOTAL_BYTES);
  assert.equal(run.snapshot_id, jobArchives(archives, 'etc').pop());
  assert.equal(typeof run.duration_ms, 'number');
  assert.ok(run.duration_ms! > 0);
});

test('verify reads the newest archive in full, and fails once it is truncated', async () => {
  assert.equal((await h.agentCli('verify', 'etc')).code, 0);
  const newest = jobArchives(archives, 'etc').pop()!;
  const [ok] = h.runs('etc', 'verify');
  assert.equal(ok.status, 'success', ok.log_tail!);
  assert.equal(ok.snapshot_id, newest);
  assert.equal(ok.files, Object.keys(FILES).length);

  truncateSync(join(archives, newest), Math.floor(statSync(join(archives, newest)).size / 2));
  const r = await h.agentCli('verify', 'etc');
  assert.notEqual(r.code, 0);
  const bad = h.runs('etc', 'verify')[1];
  assert.equal(bad.status, 'failure');
  assert.match(bad.error!, new RegExp(`^cannot read ${newest.replace(/\./g, '\\.')}: .*premature end`));
  assert.match(bad.log_tail!, /Read error \(39\) : premature end/);
});

test('tar listing lines are read back to the exact name bytes and size', () => {
  assert.deepEqual(parseListedFile('-rw-r--r-- 0/0         22 2024-01-31 02:00 srv/a b\\nc\\\\d\\303\\251.txt'), {
    size: 22,
    name: Buffer.concat([Buffer.from('srv/a b\nc\\d'), Buffer.from([0xc3, 0xa9]), Buffer.from('.txt')]),
  });
  assert.equal(parseListedFile('drwxr-xr-x 0/0          0 2024-01-31 02:00 srv/'), null);
  assert.equal(parseListedFile('hrw-r--r-- 0/0          0 2024-01-31 02:00 srv/b link to srv/a'), null);
  assert.deepEqual(unescapeName('caf\u00e9'), Buffer.from('café'));
});

test('options need at least one path or volume, and absolute paths', () => {
  const schema = pathsDriver.options(z);
  const messages = (v: unknown) => schema.safeParse(v).error?.issues.map((i) => `${i.path.join('.')}: ${i.message}`) ?? [];
  assert.deepEqual(messages({ dir: '/mnt/usb' }), ['paths: expected at least one entry in paths or volumes']);
  assert.deepEqual(messages({ paths: ['etc'], dir: 'archives' }), ['paths.0: expected an absolute path', 'dir: expected an absolute path']);
  assert.deepEqual(messages({ volumes: ['appdata'], dir: '/mnt/usb', compress: 'xz' }).map((m) => m.split(':')[0]), ['compress']);
  assert.deepEqual(schema.parse({ volumes: ['appdata'], dir: '/mnt/usb' }), { paths: [], volumes: ['appdata'], excludes: [], dir: '/mnt/usb', compress: 'zstd', dockerBin: 'docker' });
});
