import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatDuration, parseDuration } from '../shared/duration';
import { parseSize } from '../shared/size';

test('parseDuration reads human durations and plain seconds', () => {
  const table: [string | number, number | null][] = [
    ['90s', 90_000], ['30m', 1_800_000], ['1h30m', 5_400_000], ['7d', 604_800_000], ['500ms', 500],
    ['2w', 1_209_600_000], [60, 60_000], ['60', 60_000], ['1.5h', 5_400_000],
    ['', null], ['10x', null], ['h', null], [-1, null], ['1h 30m', null],
  ];
  for (const [input, ms] of table) assert.equal(parseDuration(input), ms, String(input));
});

test('formatDuration prints compact units', () => {
  assert.equal(formatDuration(3_723_000), '1h2m3s');
  assert.equal(formatDuration(250), '250ms');
  assert.equal(formatDuration(86_400_000), '1d');
});

test('parseSize reads SI and binary units', () => {
  const table: [string | number, number | null][] = [
    ['64MiB', 64 * 2 ** 20], ['500M', 500e6], ['1.5GB', 1.5e9], [1024, 1024], ['10', 10], ['3 kib', 3072], ['lots', null], ['5XB', null],
  ];
  for (const [input, bytes] of table) assert.equal(parseSize(input), bytes, String(input));
});
