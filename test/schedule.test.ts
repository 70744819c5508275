import assert from 'node:assert/strict';
import { test } from 'node:test';
import { nextRun, normalizeSchedule, previousRun, scheduleError } from '../shared/schedule';
import { DEFAULT_TIERS } from '../shared/tiers';

const BERLIN = 'Europe/Berlin';

test('nextRun answers exact boundaries, DST changes and nth-weekday schedules', () => {
  const table: [string, string, string, string][] = [
    // schedule, after (UTC), zone, expected next (UTC)
    ['0 2 * * *', '2026-11-23T00:59:59Z', BERLIN, '2026-11-23T01:00:00.000Z'],
    ['0 2 * * *', '2026-11-23T01:00:00Z', BERLIN, '2026-11-24T01:00:00.000Z'], // strictly after
    ['59 23 * * *', '2026-11-23T22:58:00Z', BERLIN, '2026-11-23T22:59:00.000Z'],
    ['0 0 * * *', '2026-11-23T22:59:00Z', BERLIN, '2026-11-23T23:00:00.000Z'],
    // Spring forward in Berlin (2026-03-29 02:00 → 03:00): 02:30 does not exist, runs at 03:00 CEST.
    ['30 2 * * *', '2026-03-28T12:00:00Z', BERLIN, '2026-03-29T01:00:00.000Z'],
    // Fall back (2026-10-25 03:00 → 02:00): 02:30 happens twice, the job runs once.
    ['30 2 * * *', '2026-10-24T12:00:00Z', BERLIN, '2026-10-25T00:30:00.000Z'],
    ['30 2 * * *', '2026-10-25T00:30:00Z', BERLIN, '2026-10-26T01:30:00.000Z'],
    // Tier 3: the 1st Sunday of the month at 04:00.
    [DEFAULT_TIERS[3].schedule, '2026-11-23T00:00:00Z', BERLIN, '2026-12-06T03:00:00.000Z'],
    [DEFAULT_TIERS[3].schedule, '2026-11-01T02:59:00Z', BERLIN, '2026-11-01T03:00:00.000Z'],
    // Tier 4: the 1st Sunday of Jan/Apr/Jul/Oct at 05:00.
    [DEFAULT_TIERS[4].schedule, '2026-11-23T00:00:00Z', BERLIN, '2027-01-03T04:00:00.000Z'],
    // Tier 2: Sundays 03:00, in UTC.
    [DEFAULT_TIERS[2].schedule, '2026-11-23T00:00:00Z', 'UTC', '2026-11-29T03:00:00.000Z'],
    ['every 15m', '2026-11-23T10:07:00Z', 'UTC', '2026-11-23T10:15:00.000Z'],
    ['@daily', '2026-11-23T10:07:00Z', 'UTC', '2026-11-24T00:00:00.000Z'],
    ['*/10 * * * * *', '2026-11-23T10:07:01Z', 'UTC', '2026-11-23T10:07:10.000Z'],
  ];
  for (const [schedule, after, zone, expected] of table) {
    assert.equal(nextRun(schedule, new Date(after), zone)?.toISOString(), expected, `${schedule} after ${after} in ${zone}`);
  }
});

test('previousRun finds the last fire time at or before a moment', () => {
  assert.equal(previousRun('0 2 * * *', new Date('2026-11-23T10:00:00Z'), 'UTC')?.toISOString(), '2026-11-23T02:00:00.000Z');
  assert.equal(previousRun('0 2 * * *', new Date('2026-11-23T02:00:00Z'), 'UTC')?.toISOString(), '2026-11-23T02:00:00.000Z');
});

test('invalid schedules are reported with a reason, valid ones are not', () => {
  assert.match(scheduleError('61 * * * *') ?? '', /minute/);
  assert.notEqual(scheduleError('not a schedule'), null);
  assert.equal(scheduleError('0 4 * * SUN#1'), null);
  assert.equal(normalizeSchedule('every 2h'), '0 */2 * * *');
});
