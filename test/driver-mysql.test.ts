import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { optionFilePasswords } from '../agent/drivers/mysql';
import { startMariadb, type DbServer } from './helpers/db-servers';
import { driverHarness, type Harness } from './helpers/driver-harness';
import { tempDir } from './helpers/processes';

// A real MariaDB 10.11 server on loopback (test/helpers/db-servers.ts), real mariadb-dump,
// mariadb client and zstd, driven through the bundled agent CLI.

const WRONG_PASSWORD = 'not-the-pw-51c0aa';
let db: DbServer;
let h: Harness;
let work: string;
let dumps: string;

const files = (job: string) => readdirSync(dumps).filter((n) => n.startsWith(`${job}-`)).sort();
const lastRun = (job: string, operation = 'backup') => h.runs(job, operation).at(-1)!;

function assertNoSecret(text: string | null) {
  assert.ok(!(text ?? '').includes(db.password), 'the password leaked');
  assert.ok(!(text ?? '').includes(WRONG_PASSWORD), 'the wrong password leaked');
}

async function run(command: string, job: string) {
  const r = await h.agentCli(command, job);
  assert.ok(r.code !== null, `agent ${command} ${job} did not exit: ${r.stderr}`);
}

function cutInHalf(path: string) {
  const whole = readFileSync(path);
  writeFileSync(path, whole.subarray(0, Math.floor(whole.length / 2)));
}

before(async () => {
  db = await startMariadb();
  work = tempDir('lifeline-mysql-driver-');
  dumps = join(work, 'dumps');
  mkdirSync(dumps);
  const cnf = join(work, 'client.cnf');
  const badCnf = join(work, 'client-wrong.cnf');
  writeFileSync(cnf, `[client]\nuser=lifeline\npassword=${db.password}\n`, { mode: 0o600 });
  writeFileSync(badCnf, `[client]\nuser=lifeline\npassword="${WRONG_PASSWORD}"\n`, { mode: 0o600 });
  // A stand-in mariadb-dump that exits 0 after writing half a dump, as a dump killed by the
  // OOM killer in a wrapper, or a full disk the tool did not notice, would leave it.
  const bin = join(work, 'bin');
  mkdirSync(bin);
  writeFileSync(join(bin, 'mariadb-dump'), `#!/bin/sh
for a; do case "$a" in --result-file=*) f="\${a#--result-file=}";; esac; done
printf -- '-- MariaDB dump 10.19\\nCREATE TABLE t (id int);\\nINSERT INTO t VALUES (1' > "$f"
exit 0
`);
  chmodSync(join(bin, 'mariadb-dump'), 0o755);
  const conn = `host: 127.0.0.1, port: ${db.port}, dir: ${dumps}`;
  const job = (name: string, retention: string, options: string, extra = '') => `  - name: ${name}
    asset: shop-db
    tier: 1
    target: local-disk
    driver: mysql
    retention: ${retention}
    mysql: { database: shop, ${conn}, ${options} }
${extra}`;
  const sanity = 'sanityQuery: "SELECT COUNT(*) FROM orders"';
  h = await driverHarness(
    'mysql-host',
    job('my', '{ last: 10 }', `optionsFile: ${cnf}, ${sanity}`) +
      job('myz', '{ last: 2 }', `optionsFile: ${cnf}, compress: zstd, ${sanity}`) +
      job('mybad', '{ last: 2 }', `optionsFile: ${badCnf}`) +
      job('mycut', '{ last: 2 }', `optionsFile: ${cnf}`, `    env: { PATH: "${bin}:${process.env.PATH}" }\n`),
  );
});

after(async () => {
  await h?.close();
  await db?.destroy();
  if (work) rmSync(work, { recursive: true, force: true });
});

test('a backup writes a complete SQL dump under its final name and reports its size', async () => {
  await run('run', 'my');
  const r = lastRun('my');
  assert.equal(r.status, 'success', r.log_tail ?? '');
  const [name] = files('my');
  assert.match(name, /^my-\d{8}T\d{6}Z\.sql$/);
  assert.equal(r.snapshot_id, name);
  assert.equal(r.bytes_total, statSync(join(dumps, name)).size);
  const text = readFileSync(join(dumps, name), 'utf8');
  assert.match(text, /TRIGGER audit_note BEFORE INSERT ON audit/);
  assert.match(text, /PROCEDURE `order_count`/);
  assert.match(text.trimEnd().split('\n').at(-1)!, /^-- Dump completed on /);
});

test('a wrong password fails with mariadb-dump\'s error 1045, no password in the report and no file left', async () => {
  await run('run', 'mybad');
  const r = lastRun('mybad');
  assert.equal(r.status, 'failure');
  assert.equal(r.exit_code, 2);
  assert.match(r.log_tail ?? '', /Got error: 1045: "Access denied for user 'lifeline'@'127\.0\.0\.1' \(using password: YES\)"/);
  assert.match(r.error ?? '', /mariadb-dump failed \(exit code 2\): .*Got error: 1045/);
  assertNoSecret(r.log_tail);
  assertNoSecret(r.error);
  assert.deepEqual(files('mybad'), []);
});

test('a dump that exits 0 without its "-- Dump completed" line is a failure and is removed', async () => {
  await run('run', 'mycut');
  const r = lastRun('mycut');
  assert.equal(r.status, 'failure');
  assert.match(r.error ?? '', /does not end with "-- Dump completed"/);
  assert.deepEqual(files('mycut'), []);
});

test('passwords in an option file are found for redaction, quotes removed', () => {
  assert.deepEqual(optionFilePasswords('[client]\nuser=x\npassword = "a b#c"\n[mysqldump]\npassword=plain\n'), ['a b#c', 'plain']);
});

test('inventory lists three dumps with the times in their names and their sizes after three runs', async () => {
  await run('run', 'my');
  await run('run', 'my');
  const inv = h.inventory('my');
  assert.equal(inv.length, 3);
  assert.deepEqual(inv.map((s) => s.id).sort(), files('my'));
  for (const s of inv) {
    const [, y, mo, d, hh, mi, ss] = /-(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z/.exec(s.id)!;
    assert.equal(new Date(s.time).toISOString(), `${y}-${mo}-${d}T${hh}:${mi}:${ss}.000Z`);
    assert.equal(s.bytes, statSync(join(dumps, s.id)).size);
  }
});

test('prune with retention last: 2 keeps the two newest zstd dumps', async () => {
  for (let i = 0; i < 3; i++) await run('run', 'myz');
  assert.ok(h.runs('myz', 'backup').every((r) => r.status === 'success'));
  assert.ok(h.runs('myz', 'prune').every((r) => r.status === 'success'));
  const kept = files('myz');
  assert.equal(kept.length, 2);
  assert.ok(kept.every((n) => /^myz-\d{8}T\d{6}Z\.sql\.zst$/.test(n)));
  assert.deepEqual(h.inventory('myz').map((s) => s.id).sort(), kept);
  assert.equal(files('my').length, 3);
});

test('a restore drill streams the dump into a scratch database, reports the sanity query and its duration, and drops it', async () => {
  for (const job of ['my', 'myz']) {
    await run('restore-test', job);
    const r = lastRun(job, 'restore-test');
    assert.equal(r.status, 'success', r.log_tail ?? '');
    assert.match(r.log_tail ?? '', /sanity query result: 2000\n/);
    assert.match(r.log_tail ?? '', new RegExp(`restore drill of ${job}-\\d{8}T\\d{6}Z\\.sql(\\.zst)? passed in \\d+\\.\\ds`));
    assert.ok((r.duration_ms ?? 0) > 0);
    assert.equal(r.snapshot_id, files(job).at(-1));
  }
  assert.deepEqual(db.databases().filter((d) => d.startsWith('lifeline_drill_')), []);
});

test('verify passes whole dumps, and fails once the newest is cut in half, plain or compressed', async () => {
  for (const job of ['my', 'myz']) {
    await run('verify', job);
    assert.equal(lastRun(job, 'verify').status, 'success', lastRun(job, 'verify').log_tail ?? '');
    cutInHalf(join(dumps, files(job).at(-1)!));
    await run('verify', job);
    assert.equal(lastRun(job, 'verify').status, 'failure');
  }
  assert.match(lastRun('my', 'verify').error ?? '', /does not end with "-- Dump completed"/);
  assert.match(lastRun('myz', 'verify').error ?? '', /does not decompress/);
  assert.match(lastRun('myz', 'verify').log_tail ?? '', /premature end|truncated|unexpected end/i);
});

test('a restore drill of a truncated dump fails and leaves no scratch database', async () => {
  await run('restore-test', 'my');
  assert.equal(lastRun('my', 'restore-test').status, 'failure');
  assert.match(lastRun('my', 'restore-test').error ?? '', /does not end with "-- Dump completed"/);
  await run('restore-test', 'myz');
  const r = lastRun('myz', 'restore-test');
  assert.equal(r.status, 'failure');
  assert.match(r.error ?? '', /loading the dump failed: (zstd|mariadb)/);
  assert.deepEqual(db.databases().filter((d) => d.startsWith('lifeline_drill_')), []);
});

test('a stopped server fails the backup with mariadb-dump\'s error 2002 and leaves no file', async () => {
  await db.stop();
  const existing = files('my');
  await run('run', 'my');
  const r = lastRun('my');
  assert.equal(r.status, 'failure');
  assert.match(r.log_tail ?? '', /Got error: 2002: "Can't connect to server on '127\.0\.0\.1'/);
  assertNoSecret(r.log_tail);
  assert.deepEqual(files('my'), existing);
});
