import assert from 'node:assert/strict';
import { test } from 'node:test';
import { anomalies } from '../collector/rules/anomalies';
import type { RunView } from '../collector/rules/types';
import { DAY, MIN, at, input, job, run } from './helpers/rules-fixtures';

const NOW = at('2026-02-01T12:00:00Z');

/** Newest run with the given size/duration, then `n` previous runs of 1000 bytes and 10 min. */
function history(newest: Partial<RunView>, n = 5, field: 'bytesTotal' | 'bytesAdded' = 'bytesTotal'): RunView[] {
  const prev = Array.from({ length: n }, (_, i) => run({ startedAt: NOW - (i + 2) * DAY, durationMs: 10 * MIN, [field]: 1000 }));
  return [run({ startedAt: NOW - DAY, durationMs: 10 * MIN, ...newest }), ...prev];
}
const rulesFor = (recentBackups: RunView[]) => anomalies(input({ jobs: [job({ recentBackups })] }), NOW).map((f) => f.rule);

const SIZE: [string, number, string[]][] = [
  ['a total 50% above the median is not an anomaly', 1500, []],
  ['a total 1 byte past +50% is an anomaly (growth)', 1501, ['size-anomaly']],
  ['a total 50% below the median is not an anomaly', 500, []],
  ['a total 1 byte past -50% is an anomaly (drop)', 499, ['size-anomaly']],
];
for (const [behaviour, bytesTotal, rules] of SIZE) {
  test(behaviour, () => assert.deepEqual(rulesFor(history({ bytesTotal })), rules));
}

test('bytesAdded is compared when the tool gives no total', () => {
  assert.deepEqual(rulesFor(history({ bytesAdded: 1501 }, 5, 'bytesAdded')), ['size-anomaly']);
});

test('four previous runs are too few for an anomaly', () => {
  assert.deepEqual(rulesFor(history({ bytesTotal: 10_000, durationMs: 60 * MIN }, 4)), []);
});

const DURATION: [string, number, string[]][] = [
  ['a run exactly 2× the median duration is not an anomaly', 20 * MIN, []],
  ['a run 2× the median + 1 ms is a duration anomaly', 20 * MIN + 1, ['duration-anomaly']],
];
for (const [behaviour, durationMs, rules] of DURATION) {
  test(behaviour, () => assert.deepEqual(rulesFor(history({ bytesTotal: 1000, durationMs })), rules));
}

test('failed runs are left out of the comparison', () => {
  const runs = history({ bytesTotal: 1000 });
  const failed = run({ startedAt: NOW - 2 * MIN, status: 'failure', bytesTotal: 0 });
  assert.deepEqual(rulesFor([failed, ...runs]), []);
});

test('a shrunk backup says to look at the source', () => {
  const [f] = anomalies(input({ jobs: [job({ recentBackups: history({ bytesTotal: 100 }) })] }), NOW);
  assert.equal(f.title, 'pg-offsite on pve1 shrank by 90%');
  assert.match(f.detail, /unmounted source/);
});
