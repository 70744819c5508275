import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { closeSync, mkdirSync, openSync, readdirSync, readSync, rmSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { driverHarness, type Harness } from './helpers/driver-harness';
import { tempDir } from './helpers/processes';

// Real borgmatic 1.7 (sectioned config, generated here) over real borg 1.2 repositories in a
// temp dir, driven through the bundled agent CLI. There is no /dev/log here: the driver must
// keep borgmatic away from syslog.
const PASSPHRASE = 'borgmatic-test-passphrase-77';
const WRONG_PASSPHRASE = 'Wr0ng-borgmatic-passphrase';

let dir: string;
let h: Harness;
let TOTAL = 0;
const repo = (name: string) => join(dir, `repo-${name}`);

function borg(args: string[], repository: string): string {
  return execFileSync('borg', args, {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, LANG: 'C.UTF-8', BORG_REPO: repository, BORG_PASSCOMMAND: `cat ${join(dir, 'pass')}` },
  });
}

const archives = (repository: string) => (JSON.parse(borg(['list', '--json'], repository)).archives as { name: string }[]).map((a) => a.name);

function borgmaticConfig(name: string, sources: string[], repository: string, storage: string): string {
  const file = join(dir, `${name}.yaml`);
  writeFileSync(
    file,
    `location:
    source_directories:
${sources.map((s) => `        - ${s}\n`).join('')}    repositories:
        - ${repository}
    # borgmatic adds this directory (its own state) to the sources: keep it out of the host's ~/.borgmatic.
    borgmatic_source_directory: ${join(dir, 'borgmatic-state')}
storage:
    ${storage}
retention:
    keep_secondly: 2
consistency:
    checks:
        - name: repository
        - name: archives
`,
    { mode: 0o600 },
  );
  return file;
}

function noSecrets(row: { log_tail: string | null; error: string | null }) {
  for (const secret of [PASSPHRASE, WRONG_PASSPHRASE]) {
    assert.ok(!(row.log_tail ?? '').includes(secret), 'passphrase in the log tail');
    assert.ok(!(row.error ?? '').includes(secret), 'passphrase in the error');
  }
}

before(async () => {
  dir = tempDir('lifeline-borgmatic-');
  writeFileSync(join(dir, 'pass'), `${PASSPHRASE}\n`, { mode: 0o600 });
  const src = join(dir, 'src');
  mkdirSync(join(src, 'sub'), { recursive: true });
  const files: [string, Buffer | string][] = [
    ['data.bin', randomBytes(128 * 1024)],
    ['sub/readme (copy).txt', 'borgmatic restore drill\n'],
  ];
  for (const [name, data] of files) writeFileSync(join(src, name), data);
  TOTAL = files.reduce((n, [, data]) => n + Buffer.byteLength(data), 0);
  for (const name of ['main', 'warn']) borg(['init', '--encryption=repokey'], repo(name));

  const passcommand = `encryption_passcommand: cat ${join(dir, 'pass')}`;
  const job = (name: string, config: string, extra = '') => `  - name: ${name}
    asset: ${name}-files
    tier: 2
    target: cloud
    retention: { last: 10 }
    driver: borgmatic
    borgmatic:
      config: ${config}
${extra}`;
  h = await driverHarness(
    'borgmatic-host',
    [
      job('main', borgmaticConfig('main', [src], repo('main'), passcommand), `      repository: ${repo('main')}\n`),
      job('wrong', borgmaticConfig('wrong', [src], repo('main'), `encryption_passphrase: "${WRONG_PASSPHRASE}"`)),
      job('warn', borgmaticConfig('warn', [src, join(dir, 'missing')], repo('warn'), passcommand), '      verbosity: 1\n'),
    ].join(''),
  );
});

after(async () => {
  await h?.close();
  rmSync(dir, { recursive: true, force: true });
});

test('a backup reports the numbers of the borg create --json that borgmatic prints', async () => {
  const r = await h.agentCli('run', 'main');
  assert.equal(r.code, 0, r.stdout + r.stderr);
  const [run] = h.runs('main', 'backup');
  assert.equal(run.status, 'success', run.log_tail ?? '');
  assert.equal(run.files, 2);
  assert.ok(run.bytes_total! >= TOTAL && run.bytes_total! < TOTAL + 64 * 1024, `bytes_total ${run.bytes_total}`);
  assert.ok(run.bytes_added! > 0);
  assert.deepEqual(archives(repo('main')), [run.snapshot_id]);
  assert.doesNotMatch(run.log_tail ?? '', /Logging error|Traceback/, 'no syslog trouble');
  noSecrets(run);
});

test('a wrong passphrase in the borgmatic config is a failure with borg\'s message and no passphrase in the log', async () => {
  await h.agentCli('run', 'wrong');
  const [run] = h.runs('wrong', 'backup');
  assert.equal(run.status, 'failure');
  assert.equal(run.exit_code, 1);
  assert.match(run.log_tail ?? '', /passphrase supplied in BORG_PASSPHRASE, by BORG_PASSCOMMAND or via BORG_PASSPHRASE_FD is incorrect/);
  assert.match(run.error ?? '', /borgmatic create failed.*passphrase .* is incorrect/);
  noSecrets(run);
});

test('a missing source directory is a warning: borg create warned and the archive exists', async () => {
  await h.agentCli('run', 'warn');
  const [run] = h.runs('warn', 'backup');
  assert.equal(run.status, 'warning', run.log_tail ?? '');
  assert.equal(run.exit_code, 1);
  assert.match(run.log_tail ?? '', /missing: \[Errno 2\] No such file or directory/);
  assert.match(run.error ?? '', /warnings: .*missing/);
  assert.deepEqual(archives(repo('warn')), [run.snapshot_id]);
  assert.equal(run.files, 2, 'numbers recovered from the JSON borgmatic quotes in its error');
});

test("prune applies the borgmatic config's own retention and the inventory lists what is left", async () => {
  for (let i = 0; i < 2; i++) await h.agentCli('run', 'main');
  const ids = h.runs('main', 'backup').map((r) => r.snapshot_id);
  assert.equal(ids.length, 3);
  const prunes = h.runs('main', 'prune');
  assert.ok(prunes.every((p) => p.status === 'success'));
  assert.match(prunes[0].log_tail ?? '', /retention .* only audited/);
  // keep_secondly: 2 in the borgmatic config wins over lifeline's `last: 10`.
  assert.deepEqual(archives(repo('main')).sort(), ids.slice(1).sort());
  const inv = h.inventory('main');
  assert.deepEqual(inv.map((s) => s.id).sort(), ids.slice(1).sort());
  for (const s of inv) assert.match(s.time, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d([+-]\d\d:\d\d|Z)$/);
});

test('a restore drill extracts the newest archive with borgmatic and checks it against the listing', async () => {
  const r = await h.agentCli('restore-test', 'main');
  assert.equal(r.code, 0, r.stdout + r.stderr);
  const [run] = h.runs('main', 'restore-test');
  assert.equal(run.status, 'success', run.log_tail ?? '');
  assert.equal(run.snapshot_id, h.runs('main', 'backup').at(-1)!.snapshot_id);
  assert.equal(run.files, 2);
  assert.equal(run.bytes_total, TOTAL);
  assert.ok((run.duration_ms ?? 0) > 0);
  assert.match(run.log_tail ?? '', /2 sampled files match borg's sha256/);
});

test('verify passes with borgmatic check and fails once a segment file is corrupted', async () => {
  await h.agentCli('verify', 'main');
  assert.equal(h.runs('main', 'verify')[0].status, 'success');

  const segments = readdirSync(join(repo('main'), 'data'), { recursive: true })
    .map((f) => join(repo('main'), 'data', String(f)))
    .filter((f) => statSync(f).isFile())
    .sort((a, b) => statSync(b).size - statSync(a).size);
  const fd = openSync(segments[0], 'r+');
  const at = Math.floor(statSync(segments[0]).size / 2);
  const buf = Buffer.alloc(64);
  readSync(fd, buf, 0, 64, at);
  writeSync(fd, buf.map((b) => b ^ 0xff), 0, 64, at);
  closeSync(fd);

  await h.agentCli('verify', 'main');
  const [, run] = h.runs('main', 'verify');
  assert.equal(run.status, 'failure');
  assert.match(run.log_tail ?? '', /checksum mismatch/i);
  assert.match(run.error ?? '', /borgmatic check failed/);
});
