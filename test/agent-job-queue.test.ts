import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import type { JobConfig } from '../agent/config';
import { JobQueue } from '../agent/job-queue';
import { Scheduler } from '../agent/scheduler';
import { AGENT_BIN, Proc, enrollAgent, sleep, startCollector, waitFor, writeAgentConfig } from './helpers/processes';

// A verify or restore drill that falls due while its job's backup runs (their schedules meet:
// a weekly verify at the daily backup's minute) waits for it instead of being skipped behind
// the job lock every time. The same task again is still refused, so a backup slower than its
// schedule shows as skipped runs rather than a growing queue.

/** A task that records when it starts and ends, and finishes when told. */
function gate(log: string[], name: string) {
  let open!: () => void;
  const done = new Promise<void>((r) => (open = r));
  return {
    open: () => open(),
    run: async () => {
      log.push(`${name} start`);
      await done;
      log.push(`${name} end`);
    },
  };
}

test('operations of one job run one after another in the order they fell due; other jobs do not wait', async () => {
  const q = new JobQueue();
  const log: string[] = [];
  const [backup, verify, drill, other] = ['backup', 'verify', 'drill', 'other'].map((n) => gate(log, n));
  const runs = [q.turn('docs', 'backup', backup.run), q.turn('docs', 'verify', verify.run), q.turn('docs', 'restore-test', drill.run), q.turn('mail', 'backup', other.run)];
  await sleep(10);
  assert.deepEqual(log, ['backup start', 'other start']);
  verify.open(); // finishing early changes nothing: it has not started
  drill.open();
  other.open();
  backup.open();
  await Promise.all(runs);
  assert.deepEqual(log, ['backup start', 'other start', 'other end', 'backup end', 'verify start', 'verify end', 'drill start', 'drill end']);
});

test('the same task falling due again while it runs or waits goes straight on (its lock refuses it), never queued behind itself', async () => {
  const q = new JobQueue();
  const log: string[] = [];
  const first = gate(log, 'backup 1');
  const verify = gate(log, 'verify 1');
  const runs = [q.turn('docs', 'backup', first.run), q.turn('docs', 'verify', verify.run)];
  await sleep(10);
  await q.turn('docs', 'backup', async () => void log.push('backup 2 (refused by the lock)'));
  await q.turn('docs', 'verify', async () => void log.push('verify 2 (refused by the lock)'));
  assert.deepEqual(log, ['backup 1 start', 'backup 2 (refused by the lock)', 'verify 2 (refused by the lock)']);
  first.open();
  verify.open();
  await Promise.all(runs);
});

test('a failed operation does not stop the next one, and the job is forgotten once its line is empty', async () => {
  const q = new JobQueue();
  const failed = q.turn('docs', 'backup', async () => {
    throw new Error('tar failed');
  });
  let verified = false;
  const verify = q.turn('docs', 'verify', async () => void (verified = true));
  await assert.rejects(failed, /tar failed/);
  await verify;
  assert.ok(verified);
  assert.equal((q as unknown as { jobs: Map<string, unknown> }).jobs.size, 0);
});

// --- the real daemon -------------------------------------------------------------------------

const cleanups: (() => unknown)[] = [];
after(async () => {
  for (const c of cleanups) await c();
});

test('the daemon runs a verify and a restore drill scheduled at the backup\'s second after the backup, none skipped', async () => {
  const collector = await startCollector();
  cleanups.push(() => collector.stop());
  const placeholder = `  - { name: docs, asset: docs, tier: 3, target: local-disk, driver: command, command: ["true"] }\n`;
  const agent = writeAgentConfig({ name: 'meeting', jobs: placeholder });
  enrollAgent(agent, collector);
  const data = join(agent.dir, 'data');
  mkdirSync(data);
  mkdirSync(join(agent.dir, 'backups'));
  writeFileSync(join(data, 'a.txt'), 'hello\n');
  // All three fall due at the same second, once: set after enrolling, far enough ahead for the
  // daemon to start on a loaded machine.
  const t = new Date(Date.now() + 6_000);
  const every = `${t.getSeconds()} ${t.getMinutes()} ${t.getHours()} ${t.getDate()} ${t.getMonth() + 1} *`;
  writeFileSync(
    agent.config,
    readFileSync(agent.config, 'utf8').replace(
      placeholder,
      `  - name: docs
    asset: docs
    tier: 3
    target: local-disk
    schedule: "${every}"
    retention: { last: 3 }
    retry: { attempts: 0 }
    driver: paths
    paths: { paths: [${data}], dir: ${join(agent.dir, 'backups')} }
    verify: { schedule: "${every}" }
    restoreTest: { schedule: "${every}" }
`,
    ),
  );
  const daemon = new Proc(AGENT_BIN, ['daemon', '--config', agent.config]);
  cleanups.push(() => daemon.stop());
  const ran = (op: string) => new RegExp(`job docs ${op} \\(schedule\\): success`).test(daemon.output);
  await waitFor('a scheduled backup, verify and restore drill', () => ran('backup') && ran('verify') && ran('restore-test'), 30_000).catch((err) => {
    throw new Error(`${(err as Error).message}\n${daemon.output}`);
  });
  await daemon.stop();
  assert.ok(daemon.output.indexOf('docs backup (schedule): success') < daemon.output.indexOf('docs verify (schedule): success'), 'the backup first, as it fell due first');
  assert.doesNotMatch(daemon.output, /skipped/, 'nothing was skipped behind the backup');
});

test('tasks of a job due at the same second start backup first, and a config reload in between drops none', async () => {
  const fired: string[] = [];
  const s = new Scheduler((job, task) => fired.push(`${job.name}:${task}`));
  const every = '* * * * * *';
  const job = { name: 'docs', schedule: every, verify: { schedule: every }, restoreTest: { schedule: every } } as JobConfig;
  try {
    s.start([job]);
    const due = (s as unknown as { due: Map<string, { tasks: Set<string> }> }).due;
    await waitFor('the three tasks of the next second gathered', () => due.get('docs')?.tasks.size === 3, 3000, 2);
    // On a loaded machine a timer can fire after its second's gathering was handed over, which
    // then held fewer tasks: only those of the gathering seen here are checked.
    const before = fired.length;
    s.start([job]); // a reload while they wait
    assert.equal(due.get('docs')?.tasks.size, 3, 'still waiting their turn after the reload');
    await waitFor('the gathered tasks handed over', () => fired.length >= before + 3, 2000, 10);
    assert.deepEqual(fired.slice(before, before + 3), ['docs:backup', 'docs:verify', 'docs:restore-test']);
  } finally {
    s.stop();
  }
});
