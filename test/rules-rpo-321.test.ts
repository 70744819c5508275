import assert from 'node:assert/strict';
import { test } from 'node:test';
import { rpo } from '../collector/rules/rpo';
import { threeTwoOne } from '../collector/rules/three-two-one';
import type { JobView } from '../collector/rules/types';
import { DAY, HOUR, at, input, job } from './helpers/rules-fixtures';

const NOW = at('2026-02-01T12:00:00Z');
const RPO1 = 24 * HOUR;

const local = (lastSuccess: number | null, over: Partial<JobView> = {}) =>
  job({ job: 'pg-local', target: { name: 'usb-ssd', location: 'onsite', media: 'usb' }, lastSuccess, ...over });
const offsite = (lastSuccess: number | null, over: Partial<JobView> = {}) =>
  job({ job: 'pg-offsite', target: { name: 'storagebox', location: 'offsite', media: 'cloud' }, lastSuccess, ...over });

const ASSET: [string, number, string[]][] = [
  ['asset RPO holds at exactly the limit', NOW - RPO1, []],
  ['asset RPO is violated one ms over the limit', NOW - RPO1 - 1, ['rpo|postgres']],
];
for (const [behaviour, lastSuccess, keys] of ASSET) {
  test(behaviour, () => {
    assert.deepEqual(rpo(input({ jobs: [offsite(lastSuccess)] }), NOW).map((f) => f.key), keys);
  });
}

test('asset RPO counts the newest copy across all its jobs', () => {
  const findings = rpo(input({ jobs: [local(NOW - HOUR), offsite(NOW - 3 * DAY)] }), NOW);
  assert.deepEqual(findings.map((f) => f.key), ['rpo-target|pve1|pg-offsite']);
});

test('a stale off-site copy is named by target while the asset is within RPO', () => {
  const [f] = rpo(input({ jobs: [local(NOW - HOUR), offsite(NOW - RPO1 - 1)] }), NOW);
  assert.equal(f.rule, 'rpo-target');
  assert.equal(f.target, 'storagebox');
  assert.equal(f.title, 'The offsite copy of postgres at storagebox is stale');
  assert.equal(f.severity, 'warning');
  assert.equal(f.since, NOW - 1);
});

test('both stale: one asset finding and one per job', () => {
  const keys = rpo(input({ jobs: [local(NOW - 2 * DAY), offsite(NOW - 3 * DAY)] }), NOW).map((f) => f.key);
  assert.deepEqual(keys, ['rpo|postgres', 'rpo-target|pve1|pg-local', 'rpo-target|pve1|pg-offsite']);
});

test('an asset never backed up counts from when its job became known', () => {
  const j = offsite(null, { knownSince: NOW - RPO1 });
  assert.deepEqual(rpo(input({ jobs: [j] }), NOW), []);
  const [f] = rpo(input({ jobs: [j] }), NOW + 1);
  assert.equal(f.since, NOW);
  assert.match(f.detail, /No job has ever backed it up/);
});

test('asset RPO uses the tier from input.assets when given', () => {
  const j = offsite(NOW - 2 * DAY, { tier: 1 });
  assert.deepEqual(rpo(input({ jobs: [j], assets: [{ asset: 'postgres', tier: 2 }] }), NOW), []);
});

// 3-2-1: original (disk) + usb-ssd onsite + storagebox offsite cloud.
const THREE21: [string, JobView[], string | null][] = [
  ['3-2-1 is met with a fresh local and a fresh off-site copy', [local(NOW - HOUR), offsite(NOW - HOUR)], null],
  ['3-2-1 still holds with the off-site copy exactly at the RPO', [local(NOW - HOUR), offsite(NOW - RPO1)], null],
  ['3-2-1 fails when the off-site copy went stale by 1 ms', [local(NOW - HOUR), offsite(NOW - RPO1 - 1)], '2 of 3 copies, no off-site copy'],
  ['3-2-1 fails with only a local copy on the same media as the original', [local(NOW - HOUR, { target: { name: 'disk2', location: 'onsite', media: 'disk' } })], '2 of 3 copies, only one media kind (disk), no off-site copy'],
  ['3-2-1 fails when no copy ever succeeded', [local(null), offsite(null)], '1 of 3 copies, only one media kind (disk), no off-site copy'],
  ['two jobs to the same target are one copy', [offsite(NOW - HOUR), offsite(NOW - HOUR, { job: 'pg-offsite-2' })], '2 of 3 copies'],
];
for (const [behaviour, jobs, missing] of THREE21) {
  test(behaviour, () => {
    const findings = threeTwoOne(input({ jobs }), NOW);
    if (missing === null) assert.deepEqual(findings, []);
    else assert.deepEqual(findings.map((f) => f.title), [`postgres does not meet 3-2-1: ${missing}`]);
  });
}

// A new job not yet succeeded (seen an hour ago) is pending: the finding waits for its grace only
// if its first run would complete 3-2-1.
const PENDING: [string, JobView[], number][] = [
  ['a pending off-site job that would complete 3-2-1 dates the finding at the end of its grace', [local(NOW - HOUR), offsite(null, { knownSince: NOW - HOUR })], NOW - HOUR + RPO1],
  [
    'a pending job at the same target as the only copy cannot complete 3-2-1: the finding is dated now',
    [offsite(NOW - HOUR, { knownSince: NOW - 2 * HOUR }), offsite(null, { job: 'pg-offsite-2', knownSince: NOW - HOUR })],
    NOW - 2 * HOUR,
  ],
];
for (const [behaviour, jobs, since] of PENDING) {
  test(behaviour, () => {
    const [f] = threeTwoOne(input({ jobs }), NOW);
    assert.equal(f.since, since);
  });
}

test('3-2-1 detail names the stale off-site copy and dates the problem from when it went stale', () => {
  const [f] = threeTwoOne(input({ jobs: [local(NOW - HOUR), offsite(NOW - 2 * DAY)] }), NOW);
  assert.match(f.detail, /Stale or never succeeded: pg-offsite on pve1 → storagebox \(offsite\)/);
  assert.equal(f.since, NOW - 2 * DAY + RPO1);
});

test('3-2-1 counts the original on the media AssetView declares', () => {
  const jobs = [local(NOW - HOUR, { target: { name: 'nas1', location: 'onsite', media: 'nas' } }), offsite(NOW - HOUR, { target: { name: 'nas2', location: 'offsite', media: 'nas' } })];
  assert.deepEqual(threeTwoOne(input({ jobs }), NOW), []);
  const findings = threeTwoOne(input({ jobs, assets: [{ asset: 'postgres', tier: 1, sourceMedia: 'nas' }] }), NOW);
  assert.deepEqual(findings.map((f) => f.title), ['postgres does not meet 3-2-1: only one media kind (nas)']);
});
