import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { JobView } from '../collector/rules/types';
import { capacityOutlook, groupFailures, heldThroughPeriod, normalizeError, rpoOverPeriod, type FailedRun } from '../collector/view/report-period';

const H = 3_600_000;
const D = 24 * H;
const from = Date.parse('2025-01-08T00:00:00Z');
const to = from + 7 * D;

test('rpoOverPeriod: share of the period within the RPO and the worst gap, at the boundaries', () => {
  const rows: [string, number[], number, { metShare: number | null; outsideMs: number; worstGapMs: number }, number?][] = [
    ['no copy at all: never within, the whole period is the gap', [], D, { metShare: 0, outsideMs: 7 * D, worstGapMs: 7 * D }],
    ['a copy exactly every RPO, the first at the start: always within', [0, 1, 2, 3, 4, 5, 6, 7].map((n) => from + n * D), D, { metShare: 1, outsideMs: 0, worstGapMs: D }],
    ['a copy exactly one RPO before the start, then daily: within (at the RPO still counts)', [-1, 0, 1, 2, 3, 4, 5, 6].map((n) => from + n * D), D, { metShare: 1, outsideMs: 0, worstGapMs: D }],
    ['a gap spanning the start: the copy 2 days before, then daily from 1 day in', [-2, 1, 2, 3, 4, 5, 6, 7].map((n) => from + n * D), D, { metShare: 6 / 7, outsideMs: D, worstGapMs: 3 * D }],
    ['a gap spanning the end: daily until 3 days before the end', [0, 1, 2, 3, 4].map((n) => from + n * D), D, { metShare: 5 / 7, outsideMs: 2 * D, worstGapMs: 3 * D }],
    ['copies after the end are ignored', [from + 8 * D], D, { metShare: 0, outsideMs: 7 * D, worstGapMs: 7 * D }],
    ['a copy in the middle only: half a day within a 12h RPO', [from + 3 * D], 12 * H, { metShare: 0.5 / 7, outsideMs: 6.5 * D, worstGapMs: 4 * D }],
    ['an asset first seen mid-period is judged from then on', [from + 5 * D, from + 6 * D], D, { metShare: 1, outsideMs: 0, worstGapMs: D }, from + 5 * D],
    ['an asset seen after the period: nothing to judge', [], D, { metShare: null, outsideMs: 0, worstGapMs: 0 }, to + 1],
  ];
  for (const [name, times, rpo, want, since] of rows) {
    const got = rpoOverPeriod(times, rpo, from, to, since);
    assert.equal(got.outsideMs, want.outsideMs, name);
    assert.equal(got.worstGapMs, want.worstGapMs, name);
    if (want.metShare === null) assert.equal(got.metShare, null, name);
    else assert.ok(Math.abs(got.metShare! - want.metShare) < 1e-12, `${name}: ${got.metShare} ≠ ${want.metShare}`);
  }
});

const view = (job: string, location: 'onsite' | 'offsite', media: JobView['target']['media']): JobView =>
  ({ agent: 'a', job, asset: 'x', tier: 1, driver: 'paths', target: { name: `${job}-t`, location, media } }) as JobView;

test('heldThroughPeriod: 3-2-1 at every moment, judged where a copy is made or ages past the RPO', () => {
  const usb = view('usb', 'onsite', 'usb');
  const cloud = view('cloud', 'offsite', 'cloud');
  const daily = (offset = 0) => Array.from({ length: 9 }, (_, n) => from + (n - 1) * D + offset);
  const rows: [string, { job: JobView; times: number[] }[], boolean][] = [
    ['both copies daily: held', [{ job: usb, times: daily() }, { job: cloud, times: daily(H) }], true],
    ['the off-site copy stops two days before the end: not held', [{ job: usb, times: daily() }, { job: cloud, times: daily(H).filter((t) => t < to - 2 * D) }], false],
    ['the off-site copy starts one hour into the period: not held at the start', [{ job: usb, times: daily() }, { job: cloud, times: daily(H).filter((t) => t > from) }], false],
    ['one target only: never held', [{ job: usb, times: daily() }], false],
  ];
  for (const [name, jobs, want] of rows) assert.equal(heldThroughPeriod(jobs, D, from, to), want, name);
});

test('normalizeError: the same failure reads the same whatever its numbers, paths, addresses and ids', () => {
  const rows: [string | null, string, string][] = [
    ['dial tcp 192.168.1.20:8007: connect: connection refused', 'failure', 'dial tcp <addr>: connect: connection refused'],
    ['dial tcp 10.0.0.5:8007: connect: connection refused', 'failure', 'dial tcp <addr>: connect: connection refused'],
    ['Fatal: unable to open config file: stat /srv/restic/config: no such file or directory', 'failure', 'Fatal: unable to open config file: stat <path>: no such file or directory'],
    ["tar: /home/ann/x.txt: file changed as we read it\nexit 1", 'failure', 'tar: <path>: file changed as we read it'],
    ['snapshot 3f2a9c81d0e4 not found after 120 s', 'failure', 'snapshot <id> not found after <n> s'],
    ['run 0b6a3c1e-5a43-4c1e-9f6e-2d3b1a7c9e00 failed at https://pbs.lan:8007/api2/json', 'failure', 'run <id> failed at <url>'],
    ['exit code 23', 'failure', 'exit code <n>'],
    [null, 'timeout', 'timed out'],
    ['', 'failure', 'failed without an error text'],
  ];
  for (const [error, status, want] of rows) assert.equal(normalizeError(error, status), want, String(error));
});

test('groupFailures: one group per cause with its count, jobs, operations and newest time', () => {
  const f = (agent: string, job: string, error: string | null, at: number, operation = 'backup', status = 'failure'): FailedRun => ({ agent, job, operation, status, error, startedAt: at });
  const groups = groupFailures([
    f('pve1', 'db', 'dial tcp 10.0.0.5:5432: connect: connection refused', from + D),
    f('pve1', 'db', 'dial tcp 10.0.0.5:5432: connect: connection refused', from + 2 * D),
    f('nas', 'photos', 'dial tcp 10.0.0.9:22: connect: connection refused', from + 3 * D),
    f('nas', 'photos', 'Dial TCP 10.0.0.9:22: connect: Connection refused', from + 4 * D, 'verify'),
    f('pve1', 'db', 'dial tcp 10.0.0.5:5432: connect: connection refused', from + 5 * D),
    f('pve1', 'etc', null, from + 6 * D, 'backup', 'timeout'),
  ]);
  assert.deepEqual(
    groups.map((g) => ({ cause: g.cause, count: g.count, jobs: g.jobs, operations: g.operations, lastAt: g.lastAt })),
    [
      { cause: 'dial tcp <addr>: connect: connection refused', count: 5, jobs: ['pve1/db', 'nas/photos'], operations: ['backup', 'verify'], lastAt: from + 5 * D },
      { cause: 'timed out', count: 1, jobs: ['pve1/etc'], operations: ['backup'], lastAt: from + 6 * D },
    ],
  );
  assert.equal(groups[0].example, 'dial tcp 10.0.0.5:5432: connect: connection refused');
  assert.equal(groups[1].example, null);
});

test('capacityOutlook: the trend over the period and a full date inside the next period', () => {
  const G = 2 ** 30;
  const now = to;
  const history = Array.from({ length: 8 }, (_, n) => ({ at: from - D + n * D, usedBytes: (50 + n * 5) * G }));
  const filling = capacityOutlook({ sizeBytes: 100 * G, usedBytes: 90 * G, history }, from, now, 7 * D);
  assert.equal(filling.changeBytes, 35 * G); // 55 GiB at the start (the sample at it), 90 now
  assert.ok(filling.growthPerDayBytes! > 4.9 * G && filling.growthPerDayBytes! < 5.5 * G);
  assert.ok(filling.projectedFullAt! > now && filling.projectedFullAt! < now + 7 * D);
  assert.equal(filling.fullWithinNextPeriod, true);
  const roomy = capacityOutlook({ sizeBytes: 1000 * G, usedBytes: 90 * G, history }, from, now, 7 * D);
  assert.equal(roomy.fullWithinNextPeriod, false);
  const flat = capacityOutlook({ sizeBytes: 100 * G, usedBytes: 50 * G, history: [{ at: from, usedBytes: 50 * G }] }, from, now, 7 * D);
  assert.deepEqual(flat, { changeBytes: 0, growthPerDayBytes: 0, projectedFullAt: null, fullWithinNextPeriod: false });
  assert.deepEqual(capacityOutlook({ sizeBytes: null, usedBytes: null, history: [] }, from, now, 7 * D), {
    changeBytes: null,
    growthPerDayBytes: null,
    projectedFullAt: null,
    fullWithinNextPeriod: false,
  });
});
