import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { mkdirSync, openSync, readdirSync, readSync, rmSync, statSync, symlinkSync, writeFileSync, writeSync, closeSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { LogTail } from '../agent/log-tail';
import { RestoreCheck } from '../agent/drivers/borg-common';
import { driverHarness, type Harness } from './helpers/driver-harness';
import { tempDir } from './helpers/processes';

// Real borg 1.2 repositories (repokey, passphrase in a file) in a temp dir, driven through the
// bundled agent CLI; the collector's stored runs and inventory are what is asserted.
const PASSPHRASE = 'correct-horse-battery-staple-41';
const WRONG_PASSPHRASE = 'Wr0ng-passphrase-for-the-test';

let dir: string;
let h: Harness;
let TOTAL = 0; // bytes of the four regular files backed up
const repoMain = () => join(dir, 'repo-main');
const repoRot = () => join(dir, 'repo-rot');

function borg(args: string[], repo: string): string {
  return execFileSync('borg', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, LANG: 'C.UTF-8', BORG_REPO: repo, BORG_PASSCOMMAND: `cat ${join(dir, 'pass')}` } });
}

const archives = (repo: string) => (JSON.parse(borg(['list', '--json'], repo)).archives as { name: string }[]).map((a) => a.name);

function noSecrets(row: { log_tail: string | null; error: string | null }) {
  for (const secret of [PASSPHRASE, WRONG_PASSPHRASE]) {
    assert.ok(!(row.log_tail ?? '').includes(secret), 'passphrase in the log tail');
    assert.ok(!(row.error ?? '').includes(secret), 'passphrase in the error');
  }
}

before(async () => {
  dir = tempDir('lifeline-borg-');
  writeFileSync(join(dir, 'pass'), `${PASSPHRASE}\n`, { mode: 0o600 });
  writeFileSync(join(dir, 'wrong-pass'), `${WRONG_PASSPHRASE}\n`, { mode: 0o600 });
  const src = join(dir, 'src');
  mkdirSync(join(src, 'sub'), { recursive: true });
  const files: [string, Buffer | string][] = [
    ['random.bin', randomBytes(256 * 1024)],
    ['notes.txt', 'restore me\n'],
    ['sub/nested.txt', 'nested\n'],
    ['sub/odd name (1)+[x].txt', 'x'.repeat(5000)],
  ];
  for (const [name, data] of files) writeFileSync(join(src, name), data);
  TOTAL = files.reduce((n, [, data]) => n + Buffer.byteLength(data), 0);
  writeFileSync(join(src, 'cache.tmp'), 'excluded');
  symlinkSync('notes.txt', join(src, 'link'));
  for (const repo of [repoMain(), repoRot()]) borg(['init', '--encryption=repokey'], repo);

  const job = (name: string, opts: string, extra = '') => `  - name: ${name}
    asset: ${name}-files
    tier: 2
    target: local-disk
${extra}    driver: borg
    borg:
${opts}`;
  h = await driverHarness(
    'borg-host',
    [
      job('main', `      repository: ${repoMain()}
      passphraseFile: ${join(dir, 'pass')}
      paths: [${src}]
      excludes: ["*.tmp"]
      compression: lz4
      checkVerifyData: true
`, '    retention: { last: 10 }\n'),
      job('wrong', `      repository: ${repoMain()}
      passphraseFile: ${join(dir, 'wrong-pass')}
      paths: [${src}]
`),
      job('warn', `      repository: ${repoRot()}
      passphraseFile: ${join(dir, 'pass')}
      paths: [${src}, ${join(dir, 'does-not-exist')}]
`, '    retention: { last: 10 }\n'),
      job('rot', `      repository: ${repoRot()}
      passphraseFile: ${join(dir, 'pass')}
      paths: [${join(src, 'sub')}]
`, '    retention: { last: 2 }\n'),
      job('nokeep', `      repository: ${repoMain()}
      passphraseFile: ${join(dir, 'pass')}
      paths: [${src}]
`, '    retention: {}\n'),
    ].join(''),
  );
});

after(async () => {
  await h?.close();
  rmSync(dir, { recursive: true, force: true });
});

test('a backup reports the archive name, sizes and file count from borg create --json', async () => {
  const r = await h.agentCli('run', 'main');
  assert.equal(r.code, 0, r.stdout + r.stderr);
  const [run] = h.runs('main', 'backup');
  assert.equal(run.status, 'success');
  assert.equal(run.exit_code, 0);
  assert.match(run.snapshot_id ?? '', /^.+-main-\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
  assert.equal(run.files, 4, 'four regular files, the *.tmp one excluded');
  // borg's original_size also counts the archive's metadata stream.
  assert.ok(run.bytes_total! >= TOTAL && run.bytes_total! < TOTAL + 64 * 1024, `bytes_total ${run.bytes_total}`);
  assert.ok((run.bytes_added ?? 0) > 256 * 1024 * 0.9, `bytes_added ${run.bytes_added}`);
  assert.deepEqual(archives(repoMain()), [run.snapshot_id]);
  noSecrets(run);
});

test('a wrong passphrase is a failure carrying borg\'s message, with no passphrase in the log', async () => {
  const r = await h.agentCli('run', 'wrong');
  assert.notEqual(r.code, 0);
  const [run] = h.runs('wrong', 'backup');
  assert.equal(run.status, 'failure');
  assert.equal(run.exit_code, 2);
  assert.match(run.log_tail ?? '', /passphrase supplied in BORG_PASSPHRASE, by BORG_PASSCOMMAND or via BORG_PASSPHRASE_FD is incorrect/);
  assert.match(run.error ?? '', /PassphraseWrong/);
  assert.equal(h.runs('wrong', 'prune').length, 0, 'no prune after a failed backup');
  noSecrets(run);
});

test('a source path that does not exist is a warning (borg create exit 1) and the archive is kept', async () => {
  await h.agentCli('run', 'warn');
  const [run] = h.runs('warn', 'backup');
  assert.equal(run.status, 'warning');
  assert.equal(run.exit_code, 1);
  assert.match(run.log_tail ?? '', /does-not-exist: \[Errno 2\] No such file or directory/);
  assert.match(run.error ?? '', /warnings.*No such file or directory/);
  assert.ok(run.snapshot_id && archives(repoRot()).includes(run.snapshot_id));
  assert.equal(h.runs('warn', 'prune')[0]?.status, 'success', 'a warning still prunes');
});

test('the inventory lists every archive of the job after several runs, with zoned times', async () => {
  const started = Date.now();
  for (let i = 0; i < 2; i++) await h.agentCli('run', 'main');
  const ids = h.runs('main', 'backup').map((r) => r.snapshot_id);
  assert.equal(ids.length, 3);
  const inv = h.inventory('main');
  assert.deepEqual(inv.map((s) => s.id).sort(), [...ids].sort());
  for (const s of inv) {
    assert.match(s.time, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d([+-]\d\d:\d\d|Z)$/);
    const t = Date.parse(s.time);
    assert.ok(t > started - 120_000 && t <= Date.now(), `time ${s.time} is when the archive was made`);
  }
});

test('prune with retention last: 2 leaves exactly the two newest archives of the job', async () => {
  for (let i = 0; i < 3; i++) await h.agentCli('run', 'rot');
  const ids = h.runs('rot', 'backup').map((r) => r.snapshot_id);
  assert.equal(ids.length, 3);
  assert.ok(h.runs('rot', 'prune').every((r) => r.status === 'success'));
  const left = archives(repoRot()).filter((n) => n.includes('-rot-'));
  assert.deepEqual(left.sort(), ids.slice(1).sort());
  assert.deepEqual(h.inventory('rot').map((s) => s.id).sort(), ids.slice(1).sort());
  assert.ok(archives(repoRot()).some((n) => n.includes('-warn-')), "another job's archives are left alone");
});

test('a retention policy with no keep rule refuses to prune', async () => {
  const before = archives(repoMain());
  await h.agentCli('prune', 'nokeep');
  const [run] = h.runs('nokeep', 'prune');
  assert.equal(run.status, 'failure');
  assert.match(run.error ?? '', /no keep rule/);
  assert.deepEqual(archives(repoMain()), before);
});

test('a restore drill extracts the newest archive and checks every file against the listing', async () => {
  const r = await h.agentCli('restore-test', 'main');
  assert.equal(r.code, 0, r.stdout + r.stderr);
  const [run] = h.runs('main', 'restore-test');
  assert.equal(run.status, 'success', run.log_tail ?? '');
  assert.equal(run.snapshot_id, h.runs('main', 'backup').at(-1)!.snapshot_id);
  assert.equal(run.files, 4);
  assert.equal(run.bytes_total, TOTAL);
  assert.ok((run.duration_ms ?? 0) > 0);
  assert.match(run.log_tail ?? '', /4 sampled files match borg's sha256/);
  noSecrets(run);
});

test('verify passes on a sound repository and fails once a segment file is corrupted', async () => {
  await h.agentCli('verify', 'main');
  assert.equal(h.runs('main', 'verify')[0].status, 'success');

  // Flip bytes in the middle of the largest segment: the repository check's CRC catches it.
  const segments = readdirSync(join(repoMain(), 'data'), { recursive: true })
    .map((f) => join(repoMain(), 'data', String(f)))
    .filter((f) => statSync(f).isFile())
    .sort((a, b) => statSync(b).size - statSync(a).size);
  const fd = openSync(segments[0], 'r+');
  const at = Math.floor(statSync(segments[0]).size / 2);
  const buf = Buffer.alloc(64);
  readSync(fd, buf, 0, 64, at);
  writeSync(fd, buf.map((b) => b ^ 0xff), 0, 64, at);
  closeSync(fd);

  const r = await h.agentCli('verify', 'main');
  assert.notEqual(r.code, 0);
  const [, run] = h.runs('main', 'verify');
  assert.equal(run.status, 'failure');
  assert.equal(run.exit_code, 1, 'borg check exits 1 when it finds damage');
  assert.match(run.log_tail ?? '', /checksum mismatch/i);
  assert.match(run.error ?? '', /borg check failed/);
});

test('the restore check fails on a missing file, a wrong size and content that differs from borg\'s sha256', async () => {
  const root = tempDir('lifeline-borg-restore-');
  try {
    writeFileSync(join(root, 'same.txt'), 'same');
    writeFileSync(join(root, 'short.txt'), 'abc');
    const check = new RestoreCheck(root);
    check.add({ path: 'same.txt', type: '-', mode: '-rw-r--r--', size: 4 });
    check.add({ path: 'short.txt', type: '-', mode: '-rw-r--r--', size: 10 });
    check.add({ path: 'gone.txt', type: '-', mode: '-rw-r--r--', size: 1 });
    assert.equal(check.samplePattern(), 're:^(?:same\\.txt)$');
    await check.compareHashes(new Map([['same.txt', '0'.repeat(64)]]));
    const tail = new LogTail();
    const outcome = check.outcome('arch-1', tail);
    assert.equal(outcome.status, 'failure');
    assert.match(outcome.error ?? '', /3 problem\(s\), first: size differs: short\.txt/);
    assert.match(tail.toString(), /missing after restore: gone\.txt/);
    assert.match(tail.toString(), /content differs \(sha256\): same\.txt/);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
