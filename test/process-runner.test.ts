import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { test } from 'node:test';
import { LogTail } from '../agent/log-tail';
import { runProcess } from '../agent/process-runner';

const marker = () => String(900_000 + Math.floor(Math.random() * 99_999));
const alive = (pattern: string) => {
  try {
    return execFileSync('pgrep', ['-f', pattern], { encoding: 'utf8' }).trim() !== '';
  } catch {
    return false;
  }
};

test('records exit code, duration and output of a program run in argv form', async () => {
  const tail = new LogTail();
  const r = await runProcess({ argv: ['sh', '-c', 'echo out; echo err >&2; exit 7'], env: process.env, timeoutMs: 10_000, killGraceMs: 1000, tail });
  assert.equal(r.exitCode, 7);
  assert.equal(r.timedOut, false);
  assert.ok(r.durationMs >= 0);
  assert.match(tail.toString(), /out\n/);
  assert.match(tail.toString(), /err\n/);
});

test('does not pass arguments through a shell', async () => {
  const tail = new LogTail();
  const r = await runProcess({ argv: ['echo', '$(id)', ';', 'rm', '-rf', '/nonexistent'], env: process.env, timeoutMs: 10_000, killGraceMs: 1000, tail });
  assert.equal(r.exitCode, 0);
  assert.equal(tail.toString(), '$(id) ; rm -rf /nonexistent\n');
});

test('kills a hung program and its children at the timeout, escalating to SIGKILL', async () => {
  const m = marker();
  const tail = new LogTail();
  // The child ignores SIGTERM, so only the SIGKILL after the grace ends it; its background
  // grandchild must die with the group too.
  const script = `trap '' TERM; sleep ${m} & sleep ${m}.5; wait`;
  const r = await runProcess({ argv: ['sh', '-c', script], env: process.env, timeoutMs: 500, killGraceMs: 500, tail });
  assert.equal(r.timedOut, true);
  assert.equal(r.signal, 'SIGKILL');
  assert.match(tail.toString(), /timeout after/);
  await new Promise((res) => setTimeout(res, 200));
  assert.equal(alive(`sleep ${m}`), false, 'no process of the group survives');
});

test('reports a program that cannot be started', async () => {
  const tail = new LogTail();
  const r = await runProcess({ argv: ['/nonexistent/tool'], env: process.env, timeoutMs: 1000, killGraceMs: 100, tail });
  assert.ok(r.spawnError);
  assert.match(tail.toString(), /cannot start/);
});
