import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ago, bytes, duration, humanTime, humanTimeTag, until } from '../collector/page/format';

// The page's text for durations, sizes and times: one unit system, nothing unknown shown as zero.

test('durations: milliseconds under a second, a tenth under ten seconds, then at most two units', () => {
  const table: [number | null | undefined, string][] = [
    [null, '–'], [undefined, '–'], [0, '0 ms'], [35, '35 ms'], [62, '62 ms'], [999.4, '999 ms'],
    [1000, '1.0 s'], [1234, '1.2 s'], [9_960, '10 s'], [42_000, '42 s'], [59_400, '59 s'], [59_600, '1m'],
    [60_000, '1m'], [3_599_700, '1h'], [3_900_000, '1h 5m'], [86_400_000, '1d'], [90_000_000, '1d 1h'],
    [7 * 86_400_000, '7d'], [-35, '35 ms'],
  ];
  for (const [ms, text] of table) assert.equal(duration(ms), text, String(ms));
});

test('a tier RPO of a day and a day-old copy use the same unit', () => {
  assert.equal(duration(24 * 3_600_000), duration(86_400_000));
  assert.equal(duration(24 * 3_600_000), '1d');
});

test('sizes: unknown is "unknown", never "0 B"; zero is a real zero', () => {
  const table: [number | null | undefined, string][] = [[null, 'unknown'], [undefined, 'unknown'], [Number.NaN, 'unknown'], [0, '0 B'], [512, '512 B'], [1536, '1.5 KiB'], [5e9, '4.7 GiB']];
  for (const [n, text] of table) assert.equal(bytes(n), text, String(n));
  assert.equal(bytes(null, '–'), '–', 'a caller may choose a terser unknown');
});

test('relative and human times', () => {
  const now = Date.parse('2026-11-30T06:14:09Z');
  assert.equal(ago('2026-11-30T06:14:08.965Z', now), '35 ms ago');
  assert.equal(ago(null, now), 'never');
  assert.equal(until('2026-11-30T07:14:09Z', now), 'in 1h');
  assert.equal(until('2026-11-30T06:00:00Z', now), 'due now');
  assert.equal(humanTime('2026-11-30T06:14:09.123Z'), '30 Nov 2026, 06:14:09 UTC');
  assert.equal(humanTimeTag('2026-01-02T03:04:05.000Z'), '<time datetime="2026-01-02T03:04:05.000Z">2 Jan 2026, 03:04:05 UTC</time>');
});
