import assert from 'node:assert/strict';
import { gunzipSync } from 'node:zlib';
import { mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { after, before, test } from 'node:test';
import { mongoConfig } from '../agent/drivers/mongodb';
import { driverHarness, type Harness } from './helpers/driver-harness';
import { tempDir } from './helpers/processes';

// mongodump, mongorestore and mongosh cannot be installed here (no Debian package, no download):
// these tests put stand-ins first in PATH (test/fixtures/mongodump/), written from MongoDB's
// documentation and printing the real tools' messages. Their "server" is a directory with one
// subdirectory per database; what they were called with is logged, to check argv for secrets.

const PASSWORD = 'm0ngo-Pw-e81f4c';
const WRONG_PASSWORD = 'not-the-pw-0d7b2a';
const FIXTURES = resolve('test/fixtures/mongodump');
let h: Harness;
let work: string;
let dumps: string;
let server: string;
let argvLog: string;

const files = (job: string) => readdirSync(dumps).filter((n) => n.startsWith(`${job}-`)).sort();
const lastRun = (job: string, operation = 'backup') => h.runs(job, operation).at(-1)!;
const databases = () => readdirSync(server).sort();
const partials = () => readdirSync(dumps).filter((n) => n.includes('.partial'));

function assertNoSecret(text: string | null) {
  assert.ok(!(text ?? '').includes(PASSWORD), 'the password leaked');
  assert.ok(!(text ?? '').includes(WRONG_PASSWORD), 'the wrong password leaked');
}

async function run(command: string, job: string) {
  const r = await h.agentCli(command, job);
  assert.ok(r.code !== null, `agent ${command} ${job} did not exit: ${r.stderr}`);
}

before(async () => {
  work = tempDir('lifeline-mongo-driver-');
  dumps = join(work, 'dumps');
  server = join(work, 'server');
  argvLog = join(work, 'argv.jsonl');
  mkdirSync(dumps);
  mkdirSync(join(server, 'shop'), { recursive: true });
  writeFileSync(join(server, 'shop', 'customers.json'), JSON.stringify([{ _id: 1, name: 'Ada' }, { _id: 2, name: 'Grace' }, { _id: 3, name: 'Linus' }]));
  writeFileSync(join(server, 'shop', 'orders.json'), JSON.stringify([1, 2, 3, 4, 5].map((i) => ({ _id: i, customer: 1 + (i % 3), total: i * 10 }))));
  const cfg = join(work, 'mongo.yaml');
  const badCfg = join(work, 'mongo-wrong.yaml');
  writeFileSync(cfg, `password: "${PASSWORD}"\n`, { mode: 0o600 });
  writeFileSync(badCfg, `password: ${WRONG_PASSWORD}\n`, { mode: 0o600 });
  const job = (name: string, retention: string, configFile: string, extraEnv = '') => `  - name: ${name}
    asset: shop-mongo
    tier: 1
    target: local-disk
    driver: mongodb
    retention: ${retention}
    timeout: 3s
    env: { PATH: "${FIXTURES}:${process.env.PATH}", FAKE_MONGO_STATE: ${server}, FAKE_MONGO_ACCEPTS: "${PASSWORD}", FAKE_MONGO_LOG: ${argvLog}${extraEnv} }
    mongodb: { uri: "mongodb://lifeline@127.0.0.1:27017/?authSource=admin", configFile: ${configFile}, database: shop, dir: ${dumps} }
`;
  h = await driverHarness(
    'mongo-host',
    job('mongo', '{ last: 10 }', cfg) +
      job('mongok', '{ last: 2 }', cfg) +
      job('mongobad', '{ last: 2 }', badCfg) +
      job('mongodown', '{ last: 2 }', cfg, ', FAKE_MONGO_FAIL: connect') +
      job('mongohang', '{ last: 2 }', cfg, ', FAKE_MONGO_FAIL: hang') +
      job('mongonosh', '{ last: 2 }', cfg, ', FAKE_MONGO_FAIL: shell'),
  );
});

after(async () => {
  await h?.close();
  if (work) rmSync(work, { recursive: true, force: true });
});

test('a backup writes a gzip archive under its final name and reports its size', async () => {
  await run('run', 'mongo');
  const r = lastRun('mongo');
  assert.equal(r.status, 'success', r.log_tail ?? '');
  const [name] = files('mongo');
  assert.match(name, /^mongo-\d{8}T\d{6}Z\.archive\.gz$/);
  assert.equal(r.snapshot_id, name);
  assert.equal(r.bytes_total, statSync(join(dumps, name)).size);
  assert.match(r.log_tail ?? '', /done dumping shop\.orders \(5 documents\)/);
  assert.match(r.log_tail ?? '', /8 documents in 2 collections/);
  assert.deepEqual([...gunzipSync(readFileSync(join(dumps, name))).subarray(0, 4)], [0x6d, 0xe2, 0x99, 0x81]);
});

test('a wrong password fails with mongodump\'s authentication error, no password in the report and no file left', async () => {
  await run('run', 'mongobad');
  const r = lastRun('mongobad');
  assert.equal(r.status, 'failure');
  assert.match(r.log_tail ?? '', /Failed: can't create session: .*\(AuthenticationFailed\) Authentication failed\./);
  assert.match(r.error ?? '', /mongodump failed \(exit code 1\): .*Authentication failed/);
  assertNoSecret(r.log_tail);
  assertNoSecret(r.error);
  assert.deepEqual(files('mongobad'), []);
});

test('an unreachable server fails the backup with mongodump\'s connection error and leaves no file', async () => {
  await run('run', 'mongodown');
  const r = lastRun('mongodown');
  assert.equal(r.status, 'failure');
  assert.match(r.log_tail ?? '', /Failed: can't create session: could not connect to server/);
  assertNoSecret(r.log_tail);
  assert.deepEqual(files('mongodown'), []);
});

test('the password and URI of a mongodump --config file are read, quotes removed', () => {
  assert.deepEqual(mongoConfig(`password: 'p w:1'\nuri: mongodb://u@h:27017/\nsslPEMKeyPassword: x\n`), { password: 'p w:1', uri: 'mongodb://u@h:27017/' });
});

test('inventory lists three archives with the times in their names and their sizes after three runs', async () => {
  await run('run', 'mongo');
  await run('run', 'mongo');
  const inv = h.inventory('mongo');
  assert.equal(inv.length, 3);
  assert.deepEqual(inv.map((s) => s.id).sort(), files('mongo'));
  for (const s of inv) {
    const [, y, mo, d, hh, mi, ss] = /-(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z/.exec(s.id)!;
    assert.equal(new Date(s.time).toISOString(), `${y}-${mo}-${d}T${hh}:${mi}:${ss}.000Z`);
    assert.equal(s.bytes, statSync(join(dumps, s.id)).size);
  }
});

test('prune with retention last: 2 keeps the two newest archives', async () => {
  for (let i = 0; i < 3; i++) await run('run', 'mongok');
  assert.ok(h.runs('mongok', 'prune').every((r) => r.status === 'success'));
  assert.equal(files('mongok').length, 2);
  assert.deepEqual(h.inventory('mongok').map((s) => s.id).sort(), files('mongok'));
});

test('a restore drill renames every namespace into a scratch database, reports its duration, and drops it', async () => {
  await run('restore-test', 'mongo');
  const r = lastRun('mongo', 'restore-test');
  assert.equal(r.status, 'success', r.log_tail ?? '');
  assert.match(r.log_tail ?? '', /restoring lifeline_drill_[0-9a-f]{8}\.orders from archive/);
  assert.match(r.log_tail ?? '', /8 document\(s\) restored successfully/);
  assert.match(r.log_tail ?? '', /dropped lifeline_drill_[0-9a-f]{8}\n/);
  assert.match(r.log_tail ?? '', /restore drill of mongo-\d{8}T\d{6}Z\.archive\.gz passed in \d+\.\ds/);
  assert.ok((r.duration_ms ?? 0) > 0);
  assertNoSecret(r.log_tail);
  assert.deepEqual(databases(), ['shop']);
});

test('verify passes a whole archive, and fails once the newest is cut in half', async () => {
  await run('verify', 'mongo');
  assert.equal(lastRun('mongo', 'verify').status, 'success', lastRun('mongo', 'verify').log_tail ?? '');
  const newest = join(dumps, files('mongo').at(-1)!);
  const whole = readFileSync(newest);
  writeFileSync(newest, whole.subarray(0, Math.floor(whole.length / 2)));
  await run('verify', 'mongo');
  const r = lastRun('mongo', 'verify');
  assert.equal(r.status, 'failure');
  assert.match(r.log_tail ?? '', /unexpected end of file/);
  assert.match(r.error ?? '', /is not a whole gzip stream/);
});

test('a dump killed at its timeout is reported as timeout and leaves neither a dump nor a partial file', async () => {
  await run('run', 'mongohang');
  const r = lastRun('mongohang');
  assert.equal(r.status, 'timeout');
  assert.match(r.log_tail ?? '', /timeout after 3s/);
  assert.deepEqual(files('mongohang'), []);
  assert.deepEqual(partials(), []);
});

test('a restore drill whose scratch database cannot be dropped is a warning that says so', async () => {
  await run('run', 'mongonosh');
  await run('restore-test', 'mongonosh');
  const r = lastRun('mongonosh', 'restore-test');
  assert.equal(r.status, 'warning');
  assert.match(r.error ?? '', /mongosh could not drop the scratch databases/);
  assert.match(r.log_tail ?? '', /scratch databases named lifeline_drill_[0-9a-f]{8}\* may be left behind/);
  const left = databases().filter((d) => d.startsWith('lifeline_drill_'));
  assert.equal(left.length, 1);
  for (const d of left) rmSync(join(server, d), { recursive: true });
});

test('the password reaches the tools only through --config or the environment, never argv', () => {
  const calls = readFileSync(argvLog, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as string[]);
  assert.ok(calls.some((c) => c[0] === 'mongosh'));
  for (const call of calls) {
    assert.ok(!JSON.stringify(call).includes(PASSWORD), call.join(' '));
    if (call[0] !== 'mongosh') assert.ok(call.some((a) => /^--config=.*mongo(-wrong)?\.yaml$/.test(a)), call.join(' '));
  }
});
