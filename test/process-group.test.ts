import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import type { DriverContext } from '../agent/drivers/types';
import { runPipeline } from '../agent/drivers/dump-files';
import { LogTail } from '../agent/log-tail';
import { runProcess } from '../agent/process-runner';
import { tempDir } from './collector-helpers';

// runProcess and the dump-files pipeline each had their own process groups, timeout and kill
// escalation; the pipeline never said when it escalated to SIGKILL and worded its lines apart.
// Both now use agent/process-group.ts: the same lines, the same escalation.

const marker = () => String(900_000 + Math.floor(Math.random() * 99_999));
const alive = (pattern: string) => {
  try {
    return execFileSync('pgrep', ['-f', pattern], { encoding: 'utf8' }).trim() !== '';
  } catch {
    return false;
  }
};
const lifelineLines = (tail: LogTail) => tail.toString().split('\n').filter((l) => l.startsWith('[lifeline]'));
const pipelineCtx = (tail: LogTail, signal?: AbortSignal) => ({ tail, killGraceMs: 300, signal }) as unknown as DriverContext<unknown>;

test('a pipeline stage that ignores SIGTERM is killed after the grace, with the same lines as runProcess', async () => {
  const m = marker();
  const input = join(tempDir(), 'in');
  writeFileSync(input, 'x\n');
  const tail = new LogTail();
  const r = await runPipeline(pipelineCtx(tail), [['cat'], ['sh', '-c', `trap '' TERM; cat >/dev/null; sleep ${m}`]], input, Date.now() + 1000, process.env);
  assert.equal(r.timedOut, true);
  assert.deepEqual(lifelineLines(tail), ['[lifeline] timeout after 1s: sending SIGTERM to the pipeline', '[lifeline] still running after the grace period: sending SIGKILL']);
  await new Promise((res) => setTimeout(res, 200));
  assert.equal(alive(`sleep ${m}`), false, 'no process of the pipeline survives');

  const single = new LogTail();
  await runProcess({ argv: ['sh', '-c', `trap '' TERM; sleep ${m}`], env: process.env, timeoutMs: 1000, killGraceMs: 300, tail: single });
  assert.deepEqual(lifelineLines(single), ['[lifeline] timeout after 1s: sending SIGTERM to the process group', '[lifeline] still running after the grace period: sending SIGKILL']);
});

test('the agent stopping ends a pipeline and a process alike', async () => {
  const input = join(tempDir(), 'in');
  writeFileSync(input, 'x\n');
  const stopping = () => {
    const a = new AbortController();
    setTimeout(() => a.abort(), 200);
    return a.signal;
  };
  const piped = new LogTail();
  const p = await runPipeline(pipelineCtx(piped, stopping()), [['cat'], ['sh', '-c', 'cat >/dev/null; sleep 30']], input, Date.now() + 30_000, process.env);
  const single = new LogTail();
  const s = await runProcess({ argv: ['sleep', '30'], env: process.env, timeoutMs: 30_000, killGraceMs: 300, tail: single, signal: stopping() });
  assert.equal(p.timedOut, false);
  assert.equal(s.timedOut, false);
  assert.deepEqual(lifelineLines(piped), ['[lifeline] the agent is stopping: sending SIGTERM to the pipeline']);
  assert.deepEqual(lifelineLines(single), ['[lifeline] the agent is stopping: sending SIGTERM to the process group']);
});
