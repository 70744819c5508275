import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { AGENT_BIN, Proc, startCollector, waitFor, writeAgentConfig } from './helpers/processes';

// A second Ctrl-C (or a tty's SIGINT followed by a supervisor's SIGTERM) must not cut a
// shutdown short. Real processes, real signals.

test('collector: a second signal during shutdown does not interrupt it; the database is closed and its WAL merged', async () => {
  const c = await startCollector();
  const done = c.proc.exited;
  // Back to back, as a terminal's SIGINT and a supervisor's SIGTERM arrive: both during the
  // shutdown (two of the same signal could merge into one before the process sees them).
  c.proc.child.kill('SIGINT');
  c.proc.child.kill('SIGTERM');
  assert.equal(await done, 0, c.proc.output);
  assert.equal(c.proc.child.signalCode, null, 'not killed by the signal');
  assert.match(c.proc.output, /again: still closing the database/);
  assert.equal(existsSync(`${c.db}-wal`), false, 'a closed WAL database leaves no -wal file');
});

test('agent run: Ctrl-C stops the job (its own process group) and still reports the run; a second one does not cut that short', async () => {
  const a = writeAgentConfig({
    name: 'sig',
    collector: 'http://127.0.0.1:9',
    jobs: `  - { name: slow, asset: a, tier: 1, target: local-disk, schedule: "@daily", driver: command, command: [sh, -c, "echo started; exec sleep 37.25"] }\n`,
  });
  assert.equal((await new Proc(AGENT_BIN, ['keygen', '--config', a.config]).exited), 0);
  const job = new Proc(AGENT_BIN, ['run', 'slow', '--config', a.config]);
  await waitFor('the job running', () => pgrep('sleep 37.25').length > 0, 10_000);
  const done = job.exited;
  job.child.kill('SIGINT');
  job.child.kill('SIGTERM');
  await done;
  assert.equal(job.child.signalCode, null, `not killed by a signal: ${job.output}`);
  assert.match(job.output, /SIG(INT|TERM): stopping slow/);
  assert.match(job.output, /again: still stopping slow/);
  assert.deepEqual(pgrep('sleep 37.25'), [], 'the backup does not run on, orphaned');
  const spool = join(a.stateDir, 'spool');
  const runs = readdirSync(spool, { recursive: true })
    .map(String)
    .filter((f) => f.endsWith('.json'))
    .map((f) => readFileSync(join(spool, f), 'utf8'))
    .filter((m) => m.includes('"kind":"run"') && m.includes('"job":"slow"'));
  assert.equal(runs.length, 1, 'the interrupted run is reported');
  assert.doesNotMatch(runs[0], /"status":"success"/);
});

/** PIDs of processes whose command line is exactly `cmd` (this test's own sleeps). */
function pgrep(cmd: string): number[] {
  return readdirSync('/proc')
    .filter((p) => /^\d+$/.test(p))
    .filter((p) => {
      try {
        return readFileSync(`/proc/${p}/cmdline`, 'utf8').split('\0').join(' ').trim() === cmd;
      } catch {
        return false;
      }
    })
    .map(Number);
}
