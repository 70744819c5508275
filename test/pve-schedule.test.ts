import assert from 'node:assert/strict';
import { test } from 'node:test';
import { pveScheduleToCron } from '../shared/pve-schedule';
import { nextRun, scheduleError } from '../shared/schedule';

// PVE calendar events (the `schedule` of a backup job) as Lifeline's cron. PVE itself cannot run
// here: the grammar and its quirks are those of pve-docs calendar-events.adoc and proxmox-time's
// parser and tests (see ../shared/REFERENCE-INTEGRATIONS.md §3 for where the schedule comes from).

test('PVE calendar events convert to the cron that fires at the same moments', () => {
  const table: [string, string][] = [
    // The forms the PVE backup-job dialog writes.
    ['02:00', '0 2 * * *'],
    ['sat 02:00', '0 2 * * 6'],
    ['mon..fri 21:30', '30 21 * * 1-5'],
    ['*-*-* 01:30', '30 1 * * *'],
    ['sun 01:00', '0 1 * * 0'],
    ['mon,wed,fri 03:15', '15 3 * * 1,3,5'],
    // The special words, exactly as proxmox-time defines them.
    ['minutely', '* * * * *'],
    ['hourly', '0 * * * *'],
    ['daily', '0 0 * * *'],
    ['weekly', '0 0 * * 1'],
    ['monthly', '0 0 1 * *'],
    ['yearly', '0 0 1 1 *'],
    ['annually', '0 0 1 1 *'],
    ['quarterly', '0 0 1 1,4,7,10 *'],
    ['semiannually', '0 0 1 1,7 *'],
    ['semi-annually', '0 0 1 1,7 *'],
    // A time without ":" is minutes, never hours: `22` is every hour at :22, `0` every hour.
    ['*/15', '*/15 * * * *'],
    ['0/15', '*/15 * * * *'],
    ['22', '22 * * * *'],
    ['0', '0 * * * *'],
    ['*', '* * * * *'],
    // No time at all is midnight.
    ['mon..fri', '0 0 * * 1-5'],
    ['sat,sun', '0 0 * * 0,6'],
    ['sat..sun', '0 0 * * 0,6'],
    ['fri..mon 04:00', '0 4 * * 0,1,5,6'],
    ['mon..sun 04:00', '0 4 * * *'],
    ['MON 02:00', '0 2 * * 1'],
    ['monday 02:00', '0 2 * * 1'],
    // pve-docs' examples.
    ['mon..wed 30/10', '30-59/10 * * * 1-3'],
    ['mon..fri 8..17,22:0/15', '*/15 8-17,22 * * 1-5'],
    ['fri 12..13:5/20', '5-59/20 12-13 * * 5'],
    ['12,14,16,18,20,22:5', '5 12,14,16,18,20,22 * * *'],
    ['12/2:5', '5 12-23/2 * * *'],
    ['8..20/4:00', '0 8-20/4 * * *'],
    ['*-05', '0 0 5 * *'],
    ['Sat *-1..7 15:00', '0 15 * * 6#1'],
    ['sun *-8..14 03:00', '0 3 * * 0#2'],
    ['*-02-28 23:59', '59 23 28 2 *'],
    ['01-31 00:00', '0 0 31 1 *'],
    // Edges of each field.
    ['23:59', '59 23 * * *'],
    ['0:0', '0 0 * * *'],
    ['00:00', '0 0 * * *'],
    ['*/59', '*/59 * * * *'],
    ['02:00:30', '30 0 2 * * *'],
    ['*:*:*', '* * * * * *'],
    ['  sat 02:00  ', '0 2 * * 6'],
    // proxmox-time backtracks: with no hour 24, `24:00` is minute 24, second 0 of every hour.
    ['sat 24:00', '24 * * * 6'],
  ];
  for (const [pve, cron] of table) {
    assert.equal(pveScheduleToCron(pve), cron, pve);
    assert.equal(scheduleError(cron), null, `${pve} → ${cron} is a schedule Lifeline reads`);
  }
});

test('PVE calendar events with no cron equivalent, or that PVE refuses, give null', () => {
  const table: [string, string][] = [
    ['2015-10-21', 'a year: a one-off, not a schedule'],
    ['2026-*-01 02:00', 'a year restriction'],
    ['sat 02:00 UTC', 'UTC: the collector reads a job in the agent zone'],
    ['mon *-1..10 02:00', 'weekday AND days other than a whole week of the month'],
    ['mon,tue *-1..7 02:00', 'two weekdays in the first week: cron #n takes one'],
    ['*-0 02:00', 'day 0 never exists'],
    ['', 'empty'],
    ['Daily', 'special words are matched as written'],
    ['every day', 'not a weekday'],
    ['sat 25:61', 'no hour 25, no second 61'],
    ['sat 02:60', 'minute 60'],
    ['10..5', 'a range backwards'],
    ['*/0', 'a repetition of 0 after *'],
    ['sat 2:', 'a dangling colon'],
    ['sat 02:00 extra', 'trailing words'],
  ];
  for (const [pve, why] of table) assert.equal(pveScheduleToCron(pve), null, `${JSON.stringify(pve)}: ${why}`);
});

test('a converted schedule fires when PVE would: the first Saturday, weekdays only, minutes of every hour', () => {
  const at = (pve: string, after: string) => nextRun(pveScheduleToCron(pve)!, new Date(after), 'Europe/Berlin')?.toISOString();
  // 2026-11-29 is a Sunday; the first Saturday of December 2026 is the 5th (CET, UTC+1).
  assert.equal(at('Sat *-1..7 15:00', '2026-11-29T12:00:00Z'), '2026-12-05T14:00:00.000Z');
  // Friday 21:30 Berlin → next is Monday 21:30, not Saturday.
  assert.equal(at('mon..fri 21:30', '2026-11-27T20:30:00Z'), '2026-11-30T20:30:00.000Z');
  // `22` is 10:22, 11:22 …, not 22:00.
  assert.equal(at('22', '2026-11-29T09:00:00Z'), '2026-11-29T09:22:00.000Z');
  // Spring forward (Berlin 2026-03-29 02:00 → 03:00): a 02:30 job runs at 03:00 that day.
  assert.equal(at('02:30', '2026-03-28T12:00:00Z'), '2026-03-29T01:00:00.000Z');
});
