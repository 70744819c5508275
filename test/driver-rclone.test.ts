import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, rmSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { z } from 'zod';
import { rcloneDriver } from '../agent/drivers/rclone';
import { driverHarness, type Harness } from './helpers/driver-harness';
import { freePort, tempDir } from './helpers/processes';

// Real rclone (Debian's 1.60) copying to a second remote defined in a generated rclone.conf: a
// local-backend remote ("offsite", type = local) over a temp dir, driven through the bundled
// agent CLI and a real collector. "vault" is an sftp remote with a password and nothing
// listening on its port: the unreachable off-site case.

const dir = tempDir('lifeline-rclone-');
const src = join(dir, 'repo');
const offsite = join(dir, 'offsite');
const conf = join(dir, 'rclone.conf');
const PASSWORD = 'vault-Pa55word-never-shown-4411';
let obscured = '';

const FILES: Record<string, Buffer> = {
  'config': Buffer.from('{"version":2}\n'),
  'data/00/0a1b2c': randomBytes(120_000),
  'data/01/1f2e3d': randomBytes(80_000),
  'keys/with space': Buffer.from('key material\n'),
};
const TOTAL_BYTES = Object.values(FILES).reduce((n, b) => n + b.length, 0);

const job = (name: string, rclone: string) => `  - name: ${name}
    asset: restic-repo
    tier: 2
    target: cloud
    driver: rclone
    rclone: ${rclone}
`;

let h: Harness;

before(async () => {
  for (const [name, content] of Object.entries(FILES)) {
    mkdirSync(join(src, name, '..'), { recursive: true });
    writeFileSync(join(src, name), content);
  }
  mkdirSync(offsite);
  obscured = execFileSync('rclone', ['obscure', PASSWORD], { encoding: 'utf8' }).trim();
  writeFileSync(conf, `[offsite]\ntype = local\n\n[vault]\ntype = sftp\nhost = 127.0.0.1\nport = ${await freePort()}\nuser = backup\npass = ${obscured}\n`, { mode: 0o600 });
  h = await driverHarness(
    'rclone-host',
    [
      job('copy', `{ source: ${src}, destination: "offsite:${offsite}/copy", configFile: ${conf} }`),
      job('sample', `{ source: ${src}, destination: "offsite:${offsite}/copy", configFile: ${conf}, transfers: 1, restoreSample: 1 }`),
      // --error-on-no-transfer makes an up-to-date copy exit 9.
      job('noop', `{ source: ${src}, destination: "offsite:${offsite}/noop", configFile: ${conf}, mode: sync, extraArgs: [--error-on-no-transfer] }`),
      job('noremote', `{ source: ${src}, destination: "nowhere:bucket/repo", configFile: ${conf} }`),
      job('vault', `{ source: ${src}, destination: "vault:backups/repo", configFile: ${conf}, extraArgs: [--retries, 1, --low-level-retries, 1] }`),
    ].join(''),
  );
});

after(async () => {
  await h?.close();
  rmSync(dir, { recursive: true, force: true });
});

test('a copy reports the bytes and files it transferred', async () => {
  const r = await h.agentCli('run', 'copy');
  assert.equal(r.code, 0, r.stderr + r.stdout);
  const [run] = h.runs('copy', 'backup');
  assert.equal(run.status, 'success', run.log_tail!);
  assert.equal(run.exit_code, 0);
  assert.equal(run.bytes_added, TOTAL_BYTES);
  assert.equal(run.files, Object.keys(FILES).length);
  for (const [name, content] of Object.entries(FILES)) assert.equal(statSync(join(offsite, 'copy', name)).size, content.length);
  assert.match(run.log_tail!, /"stats":\{/, 'the final stats line is in the log');
  assert.equal(h.runs('copy', 'prune').length, 0, 'rclone has nothing to prune');
});

test('the inventory is the destination as it is: one entry with its newest file time and total size', () => {
  const newest = Math.max(...Object.keys(FILES).map((f) => Math.floor(statSync(join(src, f)).mtimeMs)));
  assert.deepEqual(h.inventory('copy'), [{ id: 'current', time: new Date(newest).toISOString(), bytes: TOTAL_BYTES }]);
});

test('a sync with nothing to transfer (rclone exit 9) is a success', async () => {
  await h.agentCli('run', 'noop');
  const r = await h.agentCli('run', 'noop');
  assert.equal(r.code, 0, r.stderr + r.stdout);
  const [first, second] = h.runs('noop', 'backup');
  assert.equal(first.status, 'success');
  assert.equal(second.status, 'success', second.log_tail!);
  assert.equal(second.exit_code, 9);
  assert.equal(second.bytes_added, 0);
  assert.equal(second.files, 0);
});

test('a destination remote missing from rclone.conf is a failure with rclone\'s error', async () => {
  const r = await h.agentCli('run', 'noremote');
  assert.notEqual(r.code, 0);
  const [run] = h.runs('noremote', 'backup');
  assert.equal(run.status, 'failure');
  assert.equal(run.exit_code, 1);
  assert.match(run.log_tail!, /Failed to create file system for "nowhere:bucket\/repo": didn't find section in config file/);
  assert.match(run.error!, /^rclone copy: Failed to create file system for "nowhere:bucket\/repo"/);
});

test('an unreachable remote is a failure with rclone\'s error and no password from rclone.conf', async () => {
  const r = await h.agentCli('run', 'vault');
  assert.notEqual(r.code, 0);
  const [run] = h.runs('vault', 'backup');
  assert.equal(run.status, 'failure');
  assert.match(run.log_tail!, /couldn't connect SSH: dial tcp 127\.0\.0\.1:\d+: connect: connection refused/);
  assert.match(run.error!, /connection refused/);
  for (const text of [run.log_tail!, run.error!, r.stdout, r.stderr]) {
    assert.ok(!text.includes(PASSWORD) && !text.includes(obscured), 'no password in what is reported');
  }
});

test('a restore drill downloads the destination into scratch and checks every file', async () => {
  const r = await h.agentCli('restore-test', 'copy');
  assert.equal(r.code, 0, r.stderr + r.stdout);
  const [run] = h.runs('copy', 'restore-test');
  assert.equal(run.status, 'success', run.log_tail!);
  assert.equal(run.files, Object.keys(FILES).length);
  assert.equal(run.bytes_total, TOTAL_BYTES);
  assert.ok(run.duration_ms! > 0);
});

test('a restore drill with a small sample downloads only part of the destination', async () => {
  const r = await h.agentCli('restore-test', 'sample');
  assert.equal(r.code, 0, r.stderr + r.stdout);
  const [run] = h.runs('sample', 'restore-test');
  assert.equal(run.status, 'success', run.log_tail!);
  assert.ok(run.files! >= 1 && run.files! < Object.keys(FILES).length, `files ${run.files}`);
});

test('verify passes while the destination matches, and fails with the count once files differ', async () => {
  assert.equal((await h.agentCli('verify', 'copy')).code, 0);
  const [ok] = h.runs('copy', 'verify');
  assert.equal(ok.status, 'success', ok.log_tail!);
  assert.equal(ok.files, Object.keys(FILES).length);

  unlinkSync(join(offsite, 'copy', 'data/00/0a1b2c'));
  writeFileSync(join(offsite, 'copy', 'config'), '{"version":3}\n'); // same size, other content
  const r = await h.agentCli('verify', 'copy');
  assert.notEqual(r.code, 0);
  const bad = h.runs('copy', 'verify')[1];
  assert.equal(bad.status, 'failure');
  assert.equal(bad.exit_code, 1);
  assert.match(bad.error!, /^2 difference\(s\) between /);
  assert.match(bad.error!, / first: (config differs|data\/00\/0a1b2c is missing in offsite:)/);
  assert.match(bad.log_tail!, /\[lifeline\] check: config differs/);
  assert.match(bad.log_tail!, new RegExp(`\\[lifeline\\] check: data/00/0a1b2c is missing in offsite:${offsite}/copy`));
  assert.match(bad.log_tail!, /"level":"error","msg":"(md5|sha1) differ","object":"config"/, 'rclone\'s own words are in the log');
});

test('options take absolute paths or remote:path, and numeric extra arguments as strings', () => {
  const schema = rcloneDriver.options(z);
  assert.equal(schema.safeParse({ source: 'relative/dir', destination: 'b2:bucket' }).error?.issues[0].message, 'expected an absolute path or remote:path');
  const o = schema.parse({ source: '/srv/restic-repo', destination: 'b2:bucket/restic', extraArgs: ['--retries', 1] });
  assert.deepEqual(o.extraArgs, ['--retries', '1']);
  assert.equal(o.mode, 'copy');
  assert.deepEqual(rcloneDriver.secretFiles!({ ...o, configFile: '/etc/lifeline/rclone.conf' }), [{ key: 'configFile', path: '/etc/lifeline/rclone.conf' }]);
});
