import assert from 'node:assert/strict';
import { test } from 'node:test';
import { missedRun, missedRunCheckAt } from '../collector/rules/missed-run';
import { restoreDrill } from '../collector/rules/restore-drill';
import { verification } from '../collector/rules/verification';
import { DEFAULT_TIERS } from '../shared/tiers';
import { DAY, at, input, job, run } from './helpers/rules-fixtures';

const BERLIN = 'Europe/Berlin';

// [behaviour, schedule, last run start (null: never ran), knownSince, now, expected due (null: no finding)]
const MISSED: [string, string, string | null, string, string, string | null][] = [
  ['quiet one minute before the grace ends', '0 2 * * *', '2026-01-10T01:00:00Z', '2026-01-01T00:00:00Z', '2026-01-11T01:59:00Z', null],
  ['quiet exactly when the grace ends', '0 2 * * *', '2026-01-10T01:00:00Z', '2026-01-01T00:00:00Z', '2026-01-11T02:00:00Z', null],
  ['fires one minute after the grace ends', '0 2 * * *', '2026-01-10T01:00:00Z', '2026-01-01T00:00:00Z', '2026-01-11T02:01:00Z', '2026-01-11T01:00:00Z'],
  ['counts from knownSince when the job never ran', '0 2 * * *', null, '2026-01-10T12:00:00Z', '2026-01-11T02:01:00Z', '2026-01-11T01:00:00Z'],
  ['quiet for a never-run job before its first due time + grace', '0 2 * * *', null, '2026-01-10T12:00:00Z', '2026-01-11T01:59:00Z', null],
  // Spring forward (2026-03-29 02:00 CET → 03:00 CEST): 02:00 does not exist, the run is due at 03:00 CEST.
  ['spring forward: due at 03:00 CEST, quiet a minute before grace', '0 2 * * *', '2026-03-28T01:00:00Z', '2026-01-01T00:00:00Z', '2026-03-29T01:59:00Z', null],
  ['spring forward: fires a minute after grace', '0 2 * * *', '2026-03-28T01:00:00Z', '2026-01-01T00:00:00Z', '2026-03-29T02:01:00Z', '2026-03-29T01:00:00Z'],
  ['day after spring forward: due at 02:00 CEST', '0 2 * * *', '2026-03-29T01:00:00Z', '2026-01-01T00:00:00Z', '2026-03-30T01:01:00Z', '2026-03-30T00:00:00Z'],
  // Fall back (2026-10-25 03:00 CEST → 02:00 CET): 02:00 happens twice, the job runs once, at the first.
  ['fall back: due at the first 02:00 (CEST)', '0 2 * * *', '2026-10-24T00:00:00Z', '2026-01-01T00:00:00Z', '2026-10-25T01:01:00Z', '2026-10-25T00:00:00Z'],
  ['fall back: the repeated 02:00 (CET) is not a second due time', '0 2 * * *', '2026-10-25T00:00:00Z', '2026-01-01T00:00:00Z', '2026-10-25T02:01:00Z', null],
  ['day after fall back: due at 02:00 CET', '0 2 * * *', '2026-10-25T00:00:00Z', '2026-01-01T00:00:00Z', '2026-10-26T02:01:00Z', '2026-10-26T01:00:00Z'],
  // Tier 3: 1st Sunday of the month at 04:00; after the November run the next is 6 December.
  ['tier 3: quiet on the second Sunday of the month', DEFAULT_TIERS[3].schedule, '2026-11-01T03:00:00Z', '2026-01-01T00:00:00Z', '2026-11-08T05:00:00Z', null],
  ['tier 3: quiet a minute before grace on the next first Sunday', DEFAULT_TIERS[3].schedule, '2026-11-01T03:00:00Z', '2026-01-01T00:00:00Z', '2026-12-06T03:59:00Z', null],
  ['tier 3: fires on the first Sunday of the next month', DEFAULT_TIERS[3].schedule, '2026-11-01T03:00:00Z', '2026-01-01T00:00:00Z', '2026-12-06T04:01:00Z', '2026-12-06T03:00:00Z'],
];

for (const [behaviour, schedule, lastStart, knownSince, now, due] of MISSED) {
  test(`missed run: ${behaviour}`, () => {
    const lastBackup = lastStart ? run({ startedAt: at(lastStart) }) : null;
    const j = job({ schedule, timezone: BERLIN, knownSince: at(knownSince), lastBackup, recentBackups: lastBackup ? [lastBackup] : [] });
    const findings = missedRun(input({ jobs: [j] }), at(now));
    if (due === null) assert.deepEqual(findings, []);
    else {
      assert.equal(findings.length, 1);
      assert.equal(findings[0].key, 'missed-run|pve1|pg-offsite');
      assert.equal(findings[0].since, at(due));
    }
  });
}

test('missed run: a backup still running counts as the run having started', () => {
  const running = run({ startedAt: at('2026-01-11T01:00:00Z'), status: 'running' });
  const j = job({ timezone: BERLIN, lastBackup: running });
  assert.deepEqual(missedRun(input({ jobs: [j] }), at('2026-01-11T05:00:00Z')), []);
});

test('missed run: the title names the local due time and the detail the last success', () => {
  const last = run({ startedAt: at('2026-01-10T01:00:00Z') });
  const j = job({ timezone: BERLIN, lastBackup: last, lastSuccess: last.finishedAt, recentBackups: [last] });
  const [f] = missedRun(input({ jobs: [j] }), at('2026-01-11T02:01:00Z'));
  assert.equal(f.title, 'pg-offsite on pve1 missed its 02:00 run');
  assert.match(f.detail, /last success 2026-01-10 02:10 Europe\/Berlin/);
  assert.equal(f.severity, 'critical');
});

test('missed run: a tier 4 job is info', () => {
  const j = job({ tier: 4, timezone: 'UTC', knownSince: at('2026-01-10T00:00:00Z') });
  assert.equal(missedRun(input({ jobs: [j] }), at('2026-01-12T00:00:00Z'))[0].severity, 'info');
});

test('missed run: a check keeps its own grace and names what pings it, not an agent', () => {
  const last = run({ startedAt: at('2026-01-10T01:00:00Z') });
  const j = job({ job: 'nas-sync', agent: 'checks', driver: 'check', graceMs: 5 * 60_000, timezone: BERLIN, lastBackup: last, recentBackups: [last] });
  assert.deepEqual(missedRun(input({ jobs: [j] }), at('2026-01-11T01:05:00Z')), [], 'due 01:00 UTC, 5 min grace: on time at 01:05');
  const [f] = missedRun(input({ jobs: [j] }), at('2026-01-11T01:05:01Z'));
  assert.equal(f.since, at('2026-01-11T01:00:00Z'));
  assert.match(f.detail, /within the 5m grace\. .* Check that whatever pings nas-sync still runs and can reach the collector\.$/);
  assert.equal(missedRunCheckAt(j, input({ jobs: [j] }), at('2026-01-10T12:00:00Z')), at('2026-01-11T01:05:00Z') + 1);
});

test('missed run: an unparseable schedule raises no finding and does not throw', () => {
  const j = job({ schedule: 'not a schedule' });
  assert.deepEqual(missedRun(input({ jobs: [j] }), at('2026-06-01T00:00:00Z')), []);
});

// Weekly verify on Sunday 03:00 UTC, grace 1 day; the last verify ran on 2026-01-04 (a Sunday).
const VERIFY: [string, string, string | null][] = [
  ['verify is on time exactly at due + grace', '2026-01-12T03:00:00Z', null],
  ['verify is overdue one ms after due + grace', '2026-01-12T03:00:00.001Z', '2026-01-12T03:00:00Z'],
];
for (const [behaviour, now, since] of VERIFY) {
  test(behaviour, () => {
    const last = run({ operation: 'verify', startedAt: at('2026-01-04T03:00:00Z') });
    const j = job({ timezone: 'UTC', verifySchedule: '0 3 * * 0', lastVerify: last });
    const findings = verification(input({ jobs: [j], config: { ...input().config, verifyGraceMs: DAY } }), at(now));
    assert.deepEqual(findings.map((f) => [f.rule, f.since]), since ? [['verify-overdue', at(since)]] : []);
  });
}

test('verify is not overdue before its first due time after the job became known', () => {
  const j = job({ timezone: 'UTC', verifySchedule: '0 3 * * 0', knownSince: at('2026-01-12T00:00:00Z') });
  assert.deepEqual(verification(input({ jobs: [j] }), at('2026-01-13T00:00:00Z')), []);
});

test('verify is overdue when none ever ran after its first due time + grace', () => {
  const j = job({ timezone: 'UTC', verifySchedule: '0 3 * * 0', knownSince: at('2026-01-05T00:00:00Z') });
  const [f] = verification(input({ jobs: [j], config: { ...input().config, verifyGraceMs: DAY } }), at('2026-01-12T03:01:00Z'));
  assert.equal(f.rule, 'verify-overdue');
  assert.match(f.detail, /none has ever run/);
});

test('a job without a verify schedule has no verification findings', () => {
  assert.deepEqual(verification(input({ jobs: [job()] }), at('2027-01-01T00:00:00Z')), []);
});

test('restore drill is overdue one ms after its monthly due time + grace', () => {
  const last = run({ operation: 'restore-test', startedAt: at('2026-01-01T00:00:00Z') });
  const j = job({ timezone: 'UTC', restoreTestSchedule: '@monthly', lastRestoreTest: last });
  const cfg = { ...input().config, verifyGraceMs: DAY };
  assert.deepEqual(restoreDrill(input({ jobs: [j], config: cfg }), at('2026-02-02T00:00:00Z')), []);
  const findings = restoreDrill(input({ jobs: [j], config: cfg }), at('2026-02-02T00:00:00.001Z'));
  assert.deepEqual(findings.map((f) => [f.rule, f.since]), [['restore-drill-overdue', at('2026-02-02T00:00:00Z')]]);
});
