import assert from 'node:assert/strict';
import { test } from 'node:test';
import { failedRun } from '../collector/rules/failed-run';
import { restoreDrill } from '../collector/rules/restore-drill';
import { runningTooLong } from '../collector/rules/running-too-long';
import { verification } from '../collector/rules/verification';
import type { RunView } from '../collector/rules/types';
import { HOUR, MIN, at, input, job, jobWithRun, run } from './helpers/rules-fixtures';

const T0 = at('2026-01-10T01:00:00Z');
const NOW = at('2026-01-10T06:00:00Z');

const STATUS: [RunView['status'], string[]][] = [
  ['success', []],
  ['warning', ['backup-warning']],
  ['failure', ['failed-run']],
  ['timeout', ['failed-run']],
  ['skipped', []],
];
for (const [status, rules] of STATUS) {
  test(`a newest backup with status ${status} raises [${rules.join(', ')}]`, () => {
    const j = jobWithRun(run({ startedAt: T0, status, error: status === 'failure' ? 'repository is locked' : null }));
    assert.deepEqual(failedRun(input({ jobs: [j] }), NOW).map((f) => f.rule), rules);
  });
}

// A failed attempt whose agent planned a retry (retryAt) waits for it: T0 fails at 01:10, the
// retry is due 01:25, the grace is 1 h; the last success was the day before (RPO 24 h).
const RETRY_AT = T0 + 25 * MIN;
const GRACE = HOUR;
const RETRY: [string, { now: number; lastSuccess: number | null; retryAt?: number; attempt?: number }, string[]][] = [
  ['a failure with no retry planned is raised at once', { now: T0 + 11 * MIN, lastSuccess: T0 - 23 * HOUR }, ['failed-run']],
  ['a failure waiting for its retry raises nothing', { now: T0 + 11 * MIN, lastSuccess: T0 - 23 * HOUR, retryAt: RETRY_AT }, []],
  ['still nothing at the last moment of the retry\'s grace', { now: RETRY_AT + GRACE, lastSuccess: T0 - 23 * HOUR, retryAt: RETRY_AT }, []],
  ['a retry that never reported is raised 1 ms after its grace', { now: RETRY_AT + GRACE + 1, lastSuccess: T0 - 23 * HOUR, retryAt: RETRY_AT }, ['failed-run']],
  ['waiting that would break the RPO raises at once', { now: T0 + 11 * MIN, lastSuccess: RETRY_AT - 24 * HOUR, retryAt: RETRY_AT }, ['failed-run']],
  ['the last attempt failing (no further retry) is raised', { now: T0 + 11 * MIN, lastSuccess: T0 - 23 * HOUR, attempt: 2 }, ['failed-run']],
];
for (const [behaviour, c, rules] of RETRY) {
  test(behaviour, () => {
    const bad = run({ startedAt: T0, status: 'failure', error: 'connection reset', retryAt: c.retryAt ?? null, attempt: c.attempt ?? 1 });
    const j = job({ lastBackup: bad, lastOutcome: bad, lastSuccess: c.lastSuccess, recentBackups: [bad] });
    const findings = failedRun(input({ jobs: [j], config: { ...input().config, graceMs: GRACE } }), c.now);
    assert.deepEqual(findings.map((f) => f.rule), rules);
    if (c.attempt === 2) assert.match(findings[0].detail, /attempt 2: the earlier attempts failed too/);
  });
}

test('a failed backup names the error, the target and the last success', () => {
  const ok = run({ startedAt: T0 - 24 * HOUR });
  const bad = run({ startedAt: T0, status: 'failure', error: 'Fatal: unable to open repository' });
  const j = job({ lastBackup: bad, lastOutcome: bad, lastSuccess: ok.finishedAt, recentBackups: [bad, ok] });
  const [f] = failedRun(input({ jobs: [j] }), NOW);
  assert.equal(f.title, 'pg-offsite on pve1 failed');
  assert.match(f.detail, /storagebox/);
  assert.match(f.detail, /Fatal: unable to open repository/);
  assert.match(f.detail, /Last success 2026-01-09 02:10 Europe\/Berlin/);
  assert.equal(f.since, bad.finishedAt);
});

test('a warning is one severity step below a failure', () => {
  const sev = (status: RunView['status']) => failedRun(input({ jobs: [jobWithRun(run({ startedAt: T0, status }))] }), NOW)[0].severity;
  assert.equal(sev('failure'), 'critical');
  assert.equal(sev('warning'), 'warning');
});

test('a skipped run after a failure keeps the failure open', () => {
  const bad = run({ startedAt: T0, status: 'failure' });
  const skipped = run({ startedAt: T0 + HOUR, status: 'skipped' });
  const j = job({ lastBackup: skipped, lastOutcome: bad, recentBackups: [skipped, bad] });
  assert.deepEqual(failedRun(input({ jobs: [j] }), NOW).map((f) => f.rule), ['failed-run']);
});

test('a success after a failure clears the failure', () => {
  const bad = run({ startedAt: T0, status: 'failure' });
  const ok = run({ startedAt: T0 + HOUR });
  const j = job({ lastBackup: ok, lastOutcome: ok, lastSuccess: ok.finishedAt, recentBackups: [ok, bad] });
  assert.deepEqual(failedRun(input({ jobs: [j] }), NOW), []);
});

test('a failed prune raises prune-failed', () => {
  const prune = run({ operation: 'prune', startedAt: T0, status: 'failure', error: 'lock timeout' });
  const j = jobWithRun(run({ startedAt: T0 }), { lastPrune: prune });
  const findings = failedRun(input({ jobs: [j] }), NOW);
  assert.deepEqual(findings.map((f) => f.rule), ['prune-failed']);
  assert.match(findings[0].detail, /lock timeout/);
});

const past = (n: number, durationMs: number) =>
  Array.from({ length: n }, (_, i) => run({ startedAt: T0 - (i + 1) * 24 * HOUR, durationMs }));

// [behaviour, previous successful runs, timeout, elapsed, expected]
const RUNNING: [string, number, number, number, boolean][] = [
  ['with 5 runs of 10 min, 30 min running is within 3× the median', 5, 2 * HOUR, 30 * MIN, false],
  ['with 5 runs of 10 min, 30 min + 1 ms running is too long', 5, 2 * HOUR, 30 * MIN + 1, true],
  ['with 4 runs the median is not trusted: 31 min is fine under a 2 h timeout', 4, 2 * HOUR, 31 * MIN, false],
  ['with 4 runs only the timeout counts: 2 h + 1 ms is too long', 4, 2 * HOUR, 2 * HOUR + 1, true],
  ['a timeout shorter than 3× the median wins', 5, 20 * MIN, 20 * MIN + 1, true],
  ['no timeout and no history: never too long', 0, 0, 48 * HOUR, false],
];
for (const [behaviour, n, timeoutMs, elapsed, expected] of RUNNING) {
  test(`running too long: ${behaviour}`, () => {
    const running = run({ startedAt: T0, status: 'running' });
    const j = job({ timeoutMs, lastBackup: running, recentBackups: past(n, 10 * MIN) });
    const findings = runningTooLong(input({ jobs: [j] }), T0 + elapsed);
    assert.equal(findings.length, expected ? 1 : 0);
  });
}

test('verify failure raises verify-failed with the error', () => {
  const v = run({ operation: 'verify', startedAt: T0, status: 'failure', error: 'pack 1a2b: checksum mismatch' });
  const j = job({ verifySchedule: '0 3 * * 0', lastVerify: v, knownSince: T0 });
  const findings = verification(input({ jobs: [j] }), T0 + HOUR);
  assert.deepEqual(findings.map((f) => f.rule), ['verify-failed']);
  assert.match(findings[0].detail, /checksum mismatch/);
});

// Tier 1 RTO is 4 h.
const DRILL: [string, RunView['status'], number, string[]][] = [
  ['a drill that took exactly the RTO is fine', 'success', 4 * HOUR, []],
  ['a drill 1 ms slower than the RTO is slow', 'success', 4 * HOUR + 1, ['restore-drill-slow']],
  ['a failed drill raises restore-drill-failed', 'failure', 10 * MIN, ['restore-drill-failed']],
];
for (const [behaviour, status, durationMs, rules] of DRILL) {
  test(behaviour, () => {
    const d = run({ operation: 'restore-test', startedAt: T0, status, durationMs });
    const j = job({ restoreTestSchedule: '@monthly', lastRestoreTest: d, knownSince: T0 });
    assert.deepEqual(restoreDrill(input({ jobs: [j] }), T0 + 5 * HOUR).map((f) => f.rule), rules);
  });
}
