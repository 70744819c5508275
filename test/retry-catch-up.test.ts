import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import Database from 'better-sqlite3';
import { catchUpSlot, retryDelay, type LastAttempt } from '../agent/retry';
import { runNotes, type HistoryRun } from '../collector/view/asset';
import { AGENT_BIN, Proc, enrollAgent, sleep, startCollector, waitFor, writeAgentConfig } from './helpers/processes';

// Issue 10, "Also": a failed backup is retried (ADR-005) and a run missed while the host or the
// agent was down is caught up once. The decisions are pure tables; the daemon is then run for real.

const MIN = 60_000;
const at = (iso: string) => Date.parse(iso);
const ONCE = { attempts: 1, delayMs: 15 * MIN };

const RETRY: [string, Parameters<typeof retryDelay>, number | null][] = [
  ['a failed scheduled run is retried after the delay', [ONCE, 1, { status: 'failure' }], 15 * MIN],
  ['a timed-out run is retried', [ONCE, 1, { status: 'timeout' }], 15 * MIN],
  ['a success is not retried', [ONCE, 1, { status: 'success' }], null],
  ['a warning is not retried', [ONCE, 1, { status: 'warning' }], null],
  ['a skipped run (a held lock) is not retried', [ONCE, 1, { status: 'skipped' }], null],
  ['a configuration error is not retried', [ONCE, 1, { status: 'failure', permanent: true }], null],
  ['the last allowed attempt failing is not retried', [ONCE, 2, { status: 'failure' }], null],
  ['no retries configured: none', [{ attempts: 0, delayMs: MIN }, 1, { status: 'failure' }], null],
  ['three attempts: the third try is still followed by one more', [{ attempts: 3, delayMs: MIN }, 3, { status: 'failure' }], MIN],
];
for (const [behaviour, args, expected] of RETRY) test(behaviour, () => assert.equal(retryDelay(...args), expected));

const last = (startedAt: string, over: Partial<LastAttempt> = {}): LastAttempt => ({ startedAt, status: 'success', ...over });
const CATCH_UP: [string, LastAttempt | null, string, string | null][] = [
  ['a job this host never ran waits for its schedule', null, '2026-11-29T09:00:00Z', null],
  ['the 02:00 run happened: nothing to catch up', last('2026-11-29T02:00:00Z'), '2026-11-29T09:00:00Z', null],
  ['the host was off at 02:00: the 02:00 run is made up', last('2026-11-28T02:00:00Z'), '2026-11-29T09:00:00Z', '2026-11-29T02:00:00Z'],
  ['off for three days: only the newest missed run, never a backlog', last('2026-11-26T02:00:00Z'), '2026-11-29T09:00:00Z', '2026-11-29T02:00:00Z'],
  ['a slot younger than the minimum age is left to the scheduler', last('2026-11-28T02:00:00Z'), '2026-11-29T02:00:03Z', null],
  ['just past the minimum age it is caught up', last('2026-11-28T02:00:00Z'), '2026-11-29T02:00:05Z', '2026-11-29T02:00:00Z'],
  ['a failed 02:00 run whose planned retry never ran is made up', last('2026-11-29T02:00:00Z', { status: 'failure', retryAt: '2026-11-29T02:15:00Z', scheduledFor: '2026-11-29T02:00:00Z' }), '2026-11-29T09:00:00Z', '2026-11-29T02:00:00Z'],
  ['a failed run with no retry planned is not re-run at every start', last('2026-11-29T02:00:00Z', { status: 'failure' }), '2026-11-29T09:00:00Z', null],
  ['a retry still to come is not caught up', last('2026-11-29T02:00:00Z', { status: 'failure', retryAt: '2026-11-29T09:10:00Z' }), '2026-11-29T09:00:00Z', null],
];
for (const [behaviour, lastAttempt, now, expected] of CATCH_UP) {
  test(behaviour, () => {
    const slot = catchUpSlot('0 2 * * *', lastAttempt, at(now), 5_000, 'UTC');
    assert.equal(slot === null ? null : new Date(slot).toISOString().replace('.000', ''), expected);
  });
}

test('attempts at one scheduled run are told as one story', () => {
  const base = { agent: 'pve1', job: 'etc', operation: 'backup' as const, exitCode: null, snapshotId: null, hasLog: false, durationMs: 1, bytesAdded: null, bytesTotal: null, error: null, scheduledFor: at('2026-11-29T02:00:00Z') };
  const runs: HistoryRun[] = [
    { ...base, runId: 'b', status: 'success', trigger: 'retry', attempt: 2, startedAt: at('2026-11-29T02:15:00Z'), finishedAt: at('2026-11-29T02:16:00Z') },
    { ...base, runId: 'a', status: 'failure', trigger: 'schedule', attempt: 1, retryAt: at('2026-11-29T02:15:00Z'), startedAt: at('2026-11-29T02:00:00Z'), finishedAt: at('2026-11-29T02:01:00Z') },
    { ...base, runId: 'c', status: 'success', trigger: 'catch-up', attempt: 1, scheduledFor: at('2026-11-28T02:00:00Z'), startedAt: at('2026-11-28T09:00:00Z'), finishedAt: at('2026-11-28T09:01:00Z') },
    { ...base, runId: 'd', status: 'success', trigger: 'manual', scheduledFor: null, clockAheadMs: 2 * 3_600_000, startedAt: at('2026-11-27T09:00:00Z'), finishedAt: at('2026-11-27T09:01:00Z') },
  ];
  const notes = runNotes(runs, () => 'UTC', at('2026-11-29T12:00:00Z'));
  assert.deepEqual(Object.fromEntries(notes), {
    a: 'retried at 2026-11-29 02:15 UTC: success',
    b: 'attempt 2 at the 2026-11-29 02:00 UTC run',
    c: 'catch-up for the 2026-11-28 02:00 UTC run, missed while the host or agent was down',
    d: "the agent's clock said 2026-11-27 11:00 UTC (2h ahead)",
  });
});

// --- the real daemon -------------------------------------------------------------------------

const cleanups: (() => unknown)[] = [];
after(async () => {
  for (const c of cleanups) await c();
});

/** A 6-field cron that fires once, `seconds` from now, in this (and the agent's) time zone. */
function onceIn(seconds: number): string {
  const t = new Date(Date.now() + seconds * 1000);
  return `${t.getSeconds()} ${t.getMinutes()} ${t.getHours()} ${t.getDate()} ${t.getMonth() + 1} *`;
}

interface RunRow { job: string; status: string; trigger: string; attempt: number | null; scheduled_for: number | null; retry_at: number | null; error: string | null }

test('a failed scheduled backup is retried after its delay: no incident when the retry succeeds, one when the last attempt fails, and the page tells the attempts as one story', async () => {
  const collector = await startCollector('incidents: { evaluateEvery: 1s, flap: 0s }\n');
  cleanups.push(() => collector.stop());
  const placeholder = `  - { name: flaky, asset: flaky, tier: 1, target: local-disk, driver: command, command: ["true"] }\n`;
  const agent = writeAgentConfig({ name: 'retrier', jobs: placeholder });
  const flag = join(agent.dir, 'second-time');
  enrollAgent(agent, collector);
  // The slot is set once enrolling (a few seconds of CLI calls) is done, far enough ahead for the
  // daemon to start on a loaded machine (a slot passed before it starts would be a catch-up run).
  const slot = onceIn(6);
  const retried = (name: string, script: string) =>
    `  - { name: ${name}, asset: ${name}, tier: 1, target: local-disk, schedule: "${slot}", retry: { attempts: 1, delay: 2s }, driver: command, command: [sh, -c, ${JSON.stringify(script)}] }\n`;
  writeFileSync(
    agent.config,
    readFileSync(agent.config, 'utf8').replace(placeholder, '') +
      retried('flaky', `if [ -e ${flag} ]; then echo ok; else touch ${flag}; echo 'connection reset' >&2; exit 1; fi`) +
      retried('broken', "echo 'disk gone' >&2; exit 2"),
  );
  const daemon = new Proc(AGENT_BIN, ['daemon', '--config', agent.config]);
  cleanups.push(() => daemon.stop());
  const db = () => new Database(collector.db, { readonly: true, fileMustExist: true });
  const runs = (job: string) => {
    const d = db();
    try {
      return d.prepare('SELECT r.job, r.status, r.trigger, r.attempt, r.scheduled_for, r.retry_at, r.error FROM runs r WHERE job = ? ORDER BY started_at').all(job) as RunRow[];
    } finally {
      d.close();
    }
  };
  // The first attempts fail; while their retries are pending no incident opens.
  await waitFor('the first attempts', () => runs('flaky').length >= 1 && runs('broken').length >= 1 && runs('flaky')[0].status !== 'running', 30_000).catch((err) => {
    throw new Error(`${(err as Error).message}\n${daemon.output}`);
  });
  await sleep(1200); // a few evaluation passes
  const early = (await collector.status()).incidents.map((i) => (i as { rule: string; job: string }).rule + ':' + (i as { job: string }).job);
  assert.ok(!early.includes('failed-run:flaky') && !early.includes('failed-run:broken'), `no failed-run while a retry is pending: ${early}`);

  // Both retries finished (each retry is reported 'running' first).
  const finished = (job: string) => runs(job).length === 2 && runs(job)[1].status !== 'running';
  await waitFor('both retries', () => finished('flaky') && finished('broken'), 20_000);
  const [f1, f2] = runs('flaky');
  assert.deepEqual([f1.status, f1.trigger, f1.attempt, f2.status, f2.trigger, f2.attempt], ['failure', 'schedule', 1, 'success', 'retry', 2]);
  assert.equal(f1.scheduled_for, f2.scheduled_for, 'both attempts serve the same slot');
  assert.ok(f1.retry_at !== null && f2.retry_at === null);
  const incident = await waitFor('the failed-run incident of broken', async () => (await collector.status()).incidents.find((i) => (i as { rule: string }).rule === 'failed-run' && (i as { job: string }).job === 'broken') as { detail: string } | undefined);
  assert.match(incident.detail, /\(attempt 2: the earlier attempts failed too\)/);
  const all = (await (await fetch(`${collector.url}/api/v1/incidents?state=all`)).json()) as { incidents: { rule: string; job: string | null }[] };
  assert.ok(!all.incidents.some((i) => i.rule === 'failed-run' && i.job === 'flaky'), 'flaky never raised an incident: its retry succeeded');

  const page = (await (await fetch(`${collector.url}/api/v1/assets/flaky`)).json()) as { runs: { status: string; note: string | null }[] };
  assert.match(page.runs.find((r) => r.status === 'failure')!.note ?? '', /^retried at .*: success$/);
  assert.match(page.runs.find((r) => r.status === 'success')!.note ?? '', /^attempt 2 at the .* run$/);
  assert.match(daemon.output, /job flaky backup \(schedule\): failure .*; attempt 1, retrying at /);
});

test('a run missed while the agent was stopped is caught up once when it comes back, and says so', async () => {
  const collector = await startCollector();
  cleanups.push(() => collector.stop());
  const agent = writeAgentConfig({
    name: 'sleeper', heartbeat: '1s',
    jobs: `  - { name: tick, asset: tick, tier: 3, target: local-disk, schedule: "*/5 * * * * *", driver: command, command: ["true"] }\n`,
  });
  enrollAgent(agent, collector);
  const runs = () => {
    const d = new Database(collector.db, { readonly: true, fileMustExist: true });
    try {
      return d.prepare(`SELECT trigger, scheduled_for, log_tail FROM runs WHERE job = 'tick' AND status <> 'running' ORDER BY started_at`).all() as { trigger: string; scheduled_for: number; log_tail: string }[];
    } finally {
      d.close();
    }
  };
  const first = new Proc(AGENT_BIN, ['daemon', '--config', agent.config]);
  await waitFor('a scheduled run', () => runs().some((r) => r.trigger === 'schedule'), 20_000);
  await first.stop();
  const stoppedAt = Date.now();
  await sleep(13_000); // two slots missed
  const before = runs().length;
  const second = new Proc(AGENT_BIN, ['daemon', '--config', agent.config]);
  cleanups.push(() => second.stop());
  await waitFor('the catch-up run', () => runs().some((r) => r.trigger === 'catch-up'), 15_000);
  await sleep(1500);
  await second.stop();
  const catchUps = runs().filter((r) => r.trigger === 'catch-up');
  assert.equal(catchUps.length, 1, 'one catch-up, never a backlog');
  assert.ok(catchUps[0].scheduled_for > stoppedAt, 'for the newest slot missed while stopped');
  assert.match(catchUps[0].log_tail, /^\[lifeline\] catch-up for the .* run, missed while the host or agent was down/);
  assert.match(second.output, /job tick: catch-up for the .* run, missed while the host or agent was down: running it now/);
  assert.ok(runs().length > before);
});
