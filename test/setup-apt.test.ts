import assert from 'node:assert/strict';
import { chmodSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
// @ts-expect-error: a plain .mjs script of the quick start, without type declarations
import { runApt } from '../scripts/setup.mjs';
import { tempDir } from './helpers/processes';

// `npm test` as root installs missing Debian packages. On a fresh machine unattended-upgrades
// holds the apt lock: the install waits for it (bounded) instead of failing at once. A stand-in
// apt-get prints apt's real lock message (apt-pkg's "Could not get lock … It is held by process")
// for its first calls; no real apt runs here.
function fakeApt(lockedCalls: number, exitOther = 0): { bin: string; calls: () => string[] } {
  const dir = tempDir('lifeline-apt-');
  const log = join(dir, 'calls');
  writeFileSync(log, '');
  const bin = join(dir, 'apt-get');
  writeFileSync(
    bin,
    `#!/bin/sh
echo "$*" >> ${log}
n=$(wc -l < ${log})
if [ "$n" -le ${lockedCalls} ]; then
  echo "E: Could not get lock /var/lib/dpkg/lock-frontend. It is held by process 4242 (unattended-upgr)" >&2
  exit 100
fi
exit ${exitOther}
`,
  );
  chmodSync(bin, 0o755);
  return { bin, calls: () => readFileSync(log, 'utf8').trim().split('\n') };
}

test('apt held by another process: waits and retries until the lock is free, with apt waiting itself too', () => {
  const apt = fakeApt(2);
  assert.equal(runApt(['install', '-y', 'restic'], { bin: apt.bin, retryMs: 10 }), 0);
  assert.equal(apt.calls().length, 3);
  for (const c of apt.calls()) assert.equal(c, '-o DPkg::Lock::Timeout=60 install -y restic');
});

test('apt still held after the bound: gives up with a non-zero status', () => {
  const apt = fakeApt(1_000);
  // A clock that moves 20 ms per reading, whatever the machine's load: the 50 ms bound passes on the third try.
  let t = 0;
  const now = () => (t += 20);
  assert.notEqual(runApt(['update'], { bin: apt.bin, waitMs: 50, retryMs: 1, now }), 0);
  assert.equal(apt.calls().length, 3, 'tried again until the bound, then gave up');
});

test('any other apt failure is not waited for', () => {
  const apt = fakeApt(0, 100);
  assert.equal(runApt(['install', '-y', 'no-such-package'], { bin: apt.bin, retryMs: 10 }), 100);
  assert.equal(apt.calls().length, 1);
});
