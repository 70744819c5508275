import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, openSync, readdirSync, readSync, rmSync, statSync, writeFileSync, writeSync, closeSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { Lines, forgetPlan } from '../agent/drivers/restic-output';
import { keepFlags } from '../agent/drivers/restic';
import { driverHarness, type Harness } from './helpers/driver-harness';
import { tempDir } from './helpers/processes';

// Real restic (Debian's 0.14) against local repositories in a temp dir, driven through the
// bundled agent CLI and a real collector.

const dir = tempDir('lifeline-restic-');
const PASSWORD = 'correct-horse-battery-staple-7f3a';
const WRONG_PASSWORD = 'not-the-password-Zq81x';
const passFile = join(dir, 'restic.pass');
const wrongPassFile = join(dir, 'wrong.pass');
const repoA = join(dir, 'repo-a');
const repoB = join(dir, 'repo-b');
const srcA = join(dir, 'src-a');
const srcB = join(dir, 'src-b');
const cacheDir = join(dir, 'cache');
const HOST = 'lifeline-test';

// Regular files only: restic counts neither directories nor symlinks in total_files_processed.
const FILES: Record<string, Buffer> = {
  'big.bin': randomBytes(300_000),
  'notes.txt': Buffer.from('restore me\n'),
  'empty': Buffer.alloc(0),
  'nested/deeper/data.bin': randomBytes(20_000),
  // Wildcards in a name must not turn into patterns when the drill restores a sample.
  'we ird[1]*?.txt': Buffer.from('literal name\n'),
};
const TOTAL_BYTES = Object.values(FILES).reduce((n, b) => n + b.length, 0);

function resticCli(repo: string, args: string[]): string {
  return execFileSync('restic', args, {
    env: { ...process.env, RESTIC_REPOSITORY: repo, RESTIC_PASSWORD_FILE: passFile, RESTIC_CACHE_DIR: cacheDir },
    stdio: ['ignore', 'pipe', 'pipe'],
    encoding: 'utf8',
  });
}

const snapshotsIn = (repo: string) => JSON.parse(resticCli(repo, ['snapshots', '--json'])) as { short_id: string; paths: string[]; hostname: string }[];

const job = (name: string, restic: string, extra = '') => `  - name: ${name}
    asset: ${name}-data
    tier: 2
    target: local-disk
    driver: restic
    restic: ${restic}
${extra}`;

const common = `repository: ${repoA}, passwordFile: ${passFile}, host: ${HOST}, cacheDir: ${cacheDir}`;
let h: Harness;

before(async () => {
  writeFileSync(passFile, `${PASSWORD}\n`, { mode: 0o600 });
  writeFileSync(wrongPassFile, `${WRONG_PASSWORD}\n`, { mode: 0o600 });
  for (const [name, content] of Object.entries(FILES)) {
    mkdirSync(join(srcA, name, '..'), { recursive: true });
    writeFileSync(join(srcA, name), content);
  }
  mkdirSync(srcB);
  writeFileSync(join(srcB, 'other.txt'), 'other job\n');
  resticCli(repoA, ['init']);
  resticCli(repoB, ['init']);
  h = await driverHarness(
    'restic-host',
    [
      job('main', `{ ${common}, paths: [${srcA}], tags: [lifeline, daily], checkReadData: "100%" }`, '    retention: { last: 10 }\n'),
      job('sample', `{ ${common}, paths: [${srcA}], tags: [lifeline, daily], restoreSample: 2 }`),
      // /proc/self/mem is readable by the file system but not at offset 0: restic gets EIO even
      // as root (tests run as root, so a mode-000 file would not do) and exits 3.
      job('partial', `{ ${common}, paths: [${srcA}, /proc/self/mem] }`, '    retention: { last: 10 }\n'),
      job('badpass', `{ repository: ${repoA}, passwordFile: ${wrongPassFile}, paths: [${srcA}], cacheDir: ${cacheDir} }`),
      job('norepo', `{ repository: ${join(dir, 'missing-repo')}, passwordFile: ${passFile}, paths: [${srcA}], cacheDir: ${cacheDir} }`),
      job('keep2', `{ repository: ${repoB}, passwordFile: ${passFile}, paths: [${srcA}], cacheDir: ${cacheDir} }`, '    retention: { last: 2 }\n'),
      job('nokeep', `{ repository: ${repoB}, passwordFile: ${passFile}, paths: [${srcA}], cacheDir: ${cacheDir} }`, '    retention: { last: 0 }\n'),
    ].join(''),
  );
});

after(async () => {
  await h?.close();
  rmSync(dir, { recursive: true, force: true });
});

test('a backup reports files, bytes and the snapshot id to the collector', async () => {
  const r = await h.agentCli('run', 'main');
  assert.equal(r.code, 0, r.stderr + r.stdout);
  const [run] = h.runs('main', 'backup');
  assert.equal(run.status, 'success');
  assert.equal(run.exit_code, 0);
  assert.equal(run.files, Object.keys(FILES).length);
  assert.equal(run.bytes_total, TOTAL_BYTES);
  assert.ok(run.bytes_added! >= TOTAL_BYTES, `bytes added ${run.bytes_added}`);
  assert.match(run.snapshot_id!, /^[0-9a-f]{8}$/);
  assert.deepEqual(snapshotsIn(repoA).map((s) => s.short_id), [run.snapshot_id]);
  assert.match(run.log_tail!, /\[lifeline\] snapshot [0-9a-f]{8}: 5 files/);
  assert.doesNotMatch(run.log_tail!, /"message_type":"status"/, 'progress lines stay out of the log');
  assert.equal(h.runs('main', 'prune')[0]?.status, 'success', 'the backup is followed by a prune');
});

test('a wrong password is a failure with restic\'s error in the log tail and no password in it', async () => {
  const r = await h.agentCli('run', 'badpass');
  assert.notEqual(r.code, 0);
  const [run] = h.runs('badpass', 'backup');
  assert.equal(run.status, 'failure');
  assert.equal(run.exit_code, 1);
  assert.match(run.log_tail!, /wrong password or no key found/);
  assert.match(run.error!, /restic backup: Fatal: wrong password or no key found/);
  for (const text of [run.log_tail!, run.error!, r.stdout, r.stderr]) {
    assert.ok(!text.includes(WRONG_PASSWORD) && !text.includes(PASSWORD), 'no password in what is reported');
  }
  assert.equal(h.runs('badpass', 'prune').length, 0, 'no prune after a failed backup');
});

test('a missing repository is a failure naming its location', async () => {
  await h.agentCli('run', 'norepo');
  const [run] = h.runs('norepo', 'backup');
  assert.equal(run.status, 'failure');
  assert.match(run.error!, /unable to open config file/);
  assert.match(run.log_tail!, /missing-repo/);
});

test('an unreadable source file makes the backup a warning that names it', async () => {
  const r = await h.agentCli('run', 'partial');
  assert.equal(r.code, 3, r.stderr + r.stdout);
  const [run] = h.runs('partial', 'backup');
  assert.equal(run.status, 'warning');
  assert.equal(run.exit_code, 3);
  assert.match(run.error!, /could not be read: \/proc\/self\/mem/);
  // restic does not count the file it could not read.
  assert.equal(run.files, Object.keys(FILES).length);
  assert.match(run.snapshot_id!, /^[0-9a-f]{8}$/);
});

test('inventory after three runs lists exactly the job\'s three snapshots', async () => {
  for (let i = 0; i < 2; i++) assert.equal((await h.agentCli('run', 'main')).code, 0);
  const inventory = h.inventory('main');
  // The "partial" job's snapshot also holds src-a (restic's --path matches it) but is not main's.
  assert.equal(inventory.length, 3);
  const ids = new Set(h.runs('main', 'backup').map((r) => r.snapshot_id));
  for (const s of inventory) {
    assert.ok(ids.has(s.id), `${s.id} is one of main's backups`);
    assert.ok(!Number.isNaN(Date.parse(s.time)));
  }
  assert.equal(snapshotsIn(repoA).length, 4);
});

test('prune with retention last: 2 leaves exactly two of the job\'s snapshots and no other job\'s', async () => {
  // Two earlier backups of the job; three of another job whose snapshots hold src-a too
  // (restic's --path filter matches them); three of src-a from another host. last: 2 applies to
  // the job's own snapshots only.
  for (let i = 0; i < 2; i++) resticCli(repoB, ['backup', '--quiet', srcA]);
  for (let i = 0; i < 3; i++) resticCli(repoB, ['backup', '--quiet', srcA, srcB]);
  for (let i = 0; i < 3; i++) resticCli(repoB, ['backup', '--quiet', '--host', 'elsewhere', srcA]);
  assert.equal((await h.agentCli('run', 'keep2')).code, 0);
  const snaps = snapshotsIn(repoB);
  const ours = snaps.filter((s) => s.paths.length === 1 && s.hostname !== 'elsewhere');
  assert.equal(ours.length, 2);
  assert.equal(snaps.filter((s) => s.paths.length === 2).length, 3);
  assert.equal(snaps.filter((s) => s.hostname === 'elsewhere').length, 3);
  const [prune] = h.runs('keep2', 'prune');
  assert.equal(prune.status, 'success');
  assert.match(prune.log_tail!, /--keep-last=2: kept 2 snapshot\(s\), removed 1/);
  assert.deepEqual(h.inventory('keep2').map((s) => s.id).sort(), ours.map((s) => s.short_id).sort());
});

test('prune refuses a retention policy that keeps nothing', async () => {
  await h.agentCli('prune', 'nokeep');
  const [run] = h.runs('nokeep', 'prune');
  assert.equal(run.status, 'failure');
  assert.match(run.error!, /refusing to prune/);
  assert.equal(snapshotsIn(repoB).length, 8);
});

test('a restore drill restores the newest snapshot and reports files, bytes and duration', async () => {
  const r = await h.agentCli('restore-test', 'main');
  assert.equal(r.code, 0, r.stderr + r.stdout);
  const [run] = h.runs('main', 'restore-test');
  assert.equal(run.status, 'success', run.log_tail ?? '');
  assert.equal(run.files, Object.keys(FILES).length);
  assert.equal(run.bytes_total, TOTAL_BYTES);
  assert.ok(run.duration_ms! > 0);
  assert.equal(run.snapshot_id, h.runs('main', 'backup').at(-1)!.snapshot_id);
  assert.match(run.log_tail!, /restore drill passed: 5 file\(s\), \d+ bytes checked; 3 compared by SHA-256/);
});

test('a sampled restore drill restores and compares only the sampled files', async () => {
  const r = await h.agentCli('restore-test', 'sample');
  assert.equal(r.code, 0, r.stderr + r.stdout);
  const [run] = h.runs('sample', 'restore-test');
  assert.equal(run.status, 'success', run.log_tail ?? '');
  assert.equal(run.files, 2);
  assert.match(run.log_tail!, /restoring 2 sampled file\(s\)/);
  assert.match(run.log_tail!, /2 compared by SHA-256/);
});

test('verify passes on an intact repository', async () => {
  const r = await h.agentCli('verify', 'main');
  assert.equal(r.code, 0, r.stderr + r.stdout);
  const [run] = h.runs('main', 'verify');
  assert.equal(run.status, 'success');
  assert.match(run.log_tail!, /no errors were found/);
});

test('verify with checkReadData fails after a pack file is corrupted', async () => {
  const packs = readdirSync(join(repoA, 'data'), { recursive: true })
    .map((f) => join(repoA, 'data', String(f)))
    .filter((f) => statSync(f).isFile())
    .sort((a, b) => statSync(b).size - statSync(a).size);
  const pack = packs[0];
  chmodSync(pack, 0o600);
  const fd = openSync(pack, 'r+');
  const middle = Math.floor(statSync(pack).size / 2);
  const bytes = Buffer.alloc(64);
  readSync(fd, bytes, 0, 64, middle);
  for (let i = 0; i < bytes.length; i++) bytes[i] ^= 0xff;
  writeSync(fd, bytes, 0, 64, middle);
  closeSync(fd);

  await h.agentCli('verify', 'main');
  const run = h.runs('main', 'verify').at(-1)!;
  assert.equal(run.status, 'failure');
  assert.match(run.error!, /restic check: Fatal: repository contains errors/);
  assert.match(run.log_tail!, /read 100\.0% of data packs/);
});

test('stdout lines split across chunks are handed over whole, and an overlong line is dropped', () => {
  const seen: string[] = [];
  const lines = new Lines((l) => seen.push(l), 16);
  for (const chunk of ['{"a":', '1}\n{"b"', ':2}\r\n', 'x'.repeat(40), '\nlast']) lines.push(Buffer.from(chunk));
  lines.end();
  assert.deepEqual(seen, ['{"a":1}', '{"b":2}', 'last']);
});

test('retention rules of zero are not keep rules', () => {
  assert.deepEqual(keepFlags({ last: 0, daily: 7, weekly: 4 }), ['--keep-daily=7', '--keep-weekly=4']);
  assert.deepEqual(keepFlags({}), []);
});

test('the forget decision counts only groups with exactly the job\'s paths', () => {
  const snap = (id: string, paths: string[]) => ({ id, short_id: id.slice(0, 8), time: '2026-01-01T00:00:00Z', paths });
  const doc = [
    { host: 'h', paths: ['/a'], keep: [snap('k1', ['/a'])], remove: [snap('r1', ['/a'])] },
    { host: 'h', paths: ['/a', '/b'], keep: [], remove: [snap('r2', ['/a', '/b'])] },
    { host: 'h', paths: ['/a'], keep: null, remove: null, unknown: true },
  ];
  assert.deepEqual(forgetPlan(doc, ['/a']), { keep: 1, remove: ['r1'] });
  assert.equal(forgetPlan({ not: 'a list' }, ['/a']), undefined);
});
