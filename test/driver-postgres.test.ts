import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { pgpassPasswords } from '../agent/drivers/postgres';
import { startPostgres, type DbServer } from './helpers/db-servers';
import { driverHarness, type Harness } from './helpers/driver-harness';
import { tempDir } from './helpers/processes';

// A real PostgreSQL 15 server on loopback (test/helpers/db-servers.ts), real pg_dump,
// pg_dumpall, pg_restore, createdb/dropdb and psql, driven through the bundled agent CLI.

const WRONG_PASSWORD = 'not-the-pw-3b9d1e';
let pg: DbServer;
let h: Harness;
let work: string;
let dumps: string;

const files = (job: string) => readdirSync(dumps).filter((n) => n.startsWith(`${job}-`)).sort();
const lastRun = (job: string, operation = 'backup') => h.runs(job, operation).at(-1)!;

function assertNoSecret(text: string | null) {
  assert.ok(!(text ?? '').includes(pg.password), 'the password leaked');
  assert.ok(!(text ?? '').includes(WRONG_PASSWORD), 'the wrong password leaked');
}

async function run(command: string, job: string) {
  const r = await h.agentCli(command, job);
  assert.ok(r.code !== null, `agent ${command} ${job} did not exit: ${r.stderr}`);
}

before(async () => {
  pg = await startPostgres();
  work = tempDir('lifeline-pg-driver-');
  dumps = join(work, 'dumps');
  mkdirSync(dumps);
  const pass = join(work, 'pgpass');
  const badPass = join(work, 'pgpass-wrong');
  writeFileSync(pass, `127.0.0.1:${pg.port}:*:lifeline:${pg.password}\n`, { mode: 0o600 });
  writeFileSync(badPass, `127.0.0.1:${pg.port}:*:lifeline:${WRONG_PASSWORD}\n`, { mode: 0o600 });
  const conn = `host: 127.0.0.1, port: ${pg.port}, user: lifeline, dir: ${dumps}`;
  const job = (name: string, retention: string, options: string) => `  - name: ${name}
    asset: shop-db
    tier: 1
    target: local-disk
    driver: postgres
    retention: ${retention}
    postgres: { ${options} }
`;
  h = await driverHarness(
    'pg-host',
    job('pg', '{ last: 10 }', `database: shop, ${conn}, passFile: ${pass}, sanityQuery: "SELECT count(*) FROM orders"`) +
      job('pgk', '{ last: 2 }', `database: shop, ${conn}, passFile: ${pass}`) +
      job('pgnone', '{ last: 0 }', `database: shop, ${conn}, passFile: ${pass}`) +
      job('pgbad', '{ last: 2 }', `database: shop, ${conn}, passFile: ${badPass}`) +
      job('pgnodir', '{ last: 2 }', `database: shop, host: 127.0.0.1, port: ${pg.port}, user: lifeline, passFile: ${pass}, dir: ${join(work, 'missing')}`) +
      // pg_dumpall reads pg_authid, which only a superuser may: over the unix socket as postgres.
      job('pgall', '{ last: 2 }', `all: true, host: ${pg.dir}, port: ${pg.port}, user: postgres, dir: ${dumps}`),
  );
});

after(async () => {
  await h?.close();
  await pg?.destroy();
  if (work) rmSync(work, { recursive: true, force: true });
});

test('a backup writes a custom-format dump under its final name and reports its size', async () => {
  await run('run', 'pg');
  const r = lastRun('pg');
  assert.equal(r.status, 'success', r.log_tail ?? '');
  const [name] = files('pg');
  assert.match(name, /^pg-\d{8}T\d{6}Z\.dump$/);
  assert.equal(r.snapshot_id, name);
  assert.equal(r.bytes_total, statSync(join(dumps, name)).size);
  assert.equal(readFileSync(join(dumps, name)).subarray(0, 5).toString(), 'PGDMP');
});

test('a wrong password fails with pg_dump\'s own error, no password in the report and no file left', async () => {
  await run('run', 'pgbad');
  const r = lastRun('pgbad');
  assert.equal(r.status, 'failure');
  assert.match(r.log_tail ?? '', /password authentication failed for user "lifeline"/);
  assert.match(r.error ?? '', /pg_dump failed \(exit code 1\): .*password authentication failed/);
  assertNoSecret(r.log_tail);
  assertNoSecret(r.error);
  assert.deepEqual(files('pgbad'), []);
});

test('a missing dump directory fails the backup instead of being created', async () => {
  await run('run', 'pgnodir');
  const r = lastRun('pgnodir');
  assert.equal(r.status, 'failure');
  assert.match(r.error ?? '', /the dump directory .*missing does not exist: create it, or mount its disk/);
});

test('the password field of each pgpass line is found for redaction, escapes undone', () => {
  assert.deepEqual(pgpassPasswords('# comment\nhost:5432:*:u:pa\\:ss\\\\w0rd\n*:*:*:*:second:with:colons\r\n\nshort:line\n'), ['pa:ss\\w0rd', 'second:with:colons']);
});

test('inventory lists three dumps with the times in their names and their sizes after three runs', async () => {
  await run('run', 'pg');
  await run('run', 'pg');
  const inv = h.inventory('pg');
  assert.deepEqual(inv.map((s) => s.id).sort(), files('pg'));
  assert.equal(inv.length, 3);
  for (const s of inv) {
    const [, y, mo, d, hh, mi, ss] = /-(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z/.exec(s.id)!;
    assert.equal(new Date(s.time).toISOString(), `${y}-${mo}-${d}T${hh}:${mi}:${ss}.000Z`);
    assert.equal(s.bytes, statSync(join(dumps, s.id)).size);
  }
});

test('prune with retention last: 2 keeps the two newest dumps of its own job only', async () => {
  for (let i = 0; i < 3; i++) await run('run', 'pgk');
  const prunes = h.runs('pgk', 'prune');
  assert.equal(prunes.length, 3);
  assert.ok(prunes.every((p) => p.status === 'success'));
  assert.equal(files('pgk').length, 2);
  assert.deepEqual(h.inventory('pgk').map((s) => s.id).sort(), files('pgk'));
  assert.match(prunes.at(-1)!.log_tail ?? '', /removed pgk-\d{8}T\d{6}Z\.dump/);
  assert.equal(files('pg').length, 3);
});

test('a retention policy that keeps nothing is refused instead of deleting every dump', async () => {
  await run('run', 'pgnone');
  assert.equal(lastRun('pgnone').status, 'success');
  const prune = lastRun('pgnone', 'prune');
  assert.equal(prune.status, 'failure');
  assert.match(prune.error ?? '', /keeps nothing/);
  assert.equal(files('pgnone').length, 1);
});

test('a restore drill restores into a scratch database, reports the sanity query and its duration, and drops it', async () => {
  await run('restore-test', 'pg');
  const r = lastRun('pg', 'restore-test');
  assert.equal(r.status, 'success', r.log_tail ?? '');
  assert.match(r.log_tail ?? '', /sanity query result: 2000\n/);
  assert.match(r.log_tail ?? '', /restore drill of pg-\d{8}T\d{6}Z\.dump passed in \d+\.\ds/);
  assert.ok((r.duration_ms ?? 0) > 0);
  assert.equal(r.snapshot_id, files('pg').at(-1));
  assert.deepEqual(pg.databases().filter((d) => d.startsWith('lifeline_drill_')), []);
});

test('verify reads the whole archive, and fails once the newest dump is cut in half', async () => {
  await run('verify', 'pg');
  assert.equal(lastRun('pg', 'verify').status, 'success');
  const newest = join(dumps, files('pg').at(-1)!);
  const whole = readFileSync(newest);
  writeFileSync(newest, whole.subarray(0, Math.floor(whole.length / 2)));
  // pg_restore --list reads only the table of contents: it still passes the truncated archive.
  assert.equal(spawnSync('pg_restore', ['--list', newest]).status, 0);
  await run('verify', 'pg');
  const r = lastRun('pg', 'verify');
  assert.equal(r.status, 'failure');
  assert.match(r.log_tail ?? '', /pg_restore: error: could not read from input file/);
  assert.equal(r.snapshot_id, files('pg').at(-1));
});

test('pg_dumpall writes the cluster as zstd-compressed SQL that verify reads to its end', async () => {
  await run('run', 'pgall');
  const r = lastRun('pgall');
  assert.equal(r.status, 'success', r.log_tail ?? '');
  const [name] = files('pgall');
  assert.match(name, /^pgall-\d{8}T\d{6}Z\.sql\.zst$/);
  assert.equal(r.bytes_total, statSync(join(dumps, name)).size);
  await run('verify', 'pgall');
  const v = lastRun('pgall', 'verify');
  assert.equal(v.status, 'success', v.log_tail ?? '');
  assert.match(v.log_tail ?? '', /PostgreSQL database cluster dump complete/);
});

test('a stopped server fails the backup with pg_dump\'s connection error and leaves no file', async () => {
  await pg.stop();
  const existing = files('pg');
  await run('run', 'pg');
  const r = lastRun('pg');
  assert.equal(r.status, 'failure');
  assert.match(r.log_tail ?? '', /Connection refused/);
  assert.match(r.error ?? '', /pg_dump failed/);
  assertNoSecret(r.log_tail);
  assert.deepEqual(files('pg'), existing);
});
