import assert from 'node:assert/strict';
import { test } from 'node:test';
import { expectedSnapshotTimes, retentionAudit, semanticsFor } from '../collector/rules/retention-audit';
import type { JobView } from '../collector/rules/types';
import { DAY, MIN, at, input, job, inventoryOf } from './helpers/rules-fixtures';

/** `n` daily snapshots at 02:00 UTC, the newest on `newest`. */
const daily = (n: number, newest: string) =>
  Array.from({ length: n }, (_, i) => ({ id: `s${i}`, time: at(newest) - i * DAY }));

const auditJob = (snapshots: { id: string; time: number }[], now: number, over: Partial<JobView> = {}) =>
  job({ timezone: 'UTC', schedule: '0 2 * * *', retention: { daily: 7 }, inventory: inventoryOf(snapshots, now), ...over });

const NOW = at('2026-02-01T12:00:00Z');
const TEN_DAYS_AGO = NOW - 10 * DAY;

const TABLE: [string, number, string[]][] = [
  ['7 dailies for a daily:7 job known 10 days is complete', 7, []],
  ['6 dailies for a daily:7 job known 10 days is short', 6, ['retention-short']],
  ['8 dailies (newest prune pending) is not flagged as unpruned', 8, []],
  ['9 dailies for daily:7 means prune is not running', 9, ['retention-not-pruned']],
];
for (const [behaviour, n, rules] of TABLE) {
  test(behaviour, () => {
    const j = auditJob(daily(n, '2026-02-01T02:00:00Z'), NOW, { knownSince: TEN_DAYS_AGO });
    assert.deepEqual(retentionAudit(input({ jobs: [j] }), NOW).map((f) => f.rule), rules);
  });
}

test('retention-short expects only what the schedule produced since the job became known', () => {
  const j = auditJob(daily(3, '2026-02-01T02:00:00Z'), NOW, { knownSince: at('2026-01-29T12:00:00Z') });
  assert.deepEqual(retentionAudit(input({ jobs: [j] }), NOW), []);
});

// Known since 2026-01-28 00:00: runs due 28, 29, 30, 31 Jan and 1 Feb at 02:00; grace 1 h.
const GRACE: [string, string, string[]][] = [
  ['the 02:00 snapshot is not expected yet a minute before the grace ends', '2026-02-01T02:59:00Z', []],
  ['the 02:00 snapshot is expected a minute after the grace ends', '2026-02-01T03:01:00Z', ['retention-short']],
];
for (const [behaviour, now, rules] of GRACE) {
  test(behaviour, () => {
    const j = auditJob(daily(4, '2026-01-31T02:00:00Z'), at(now), { knownSince: at('2026-01-28T00:00:00Z') });
    assert.deepEqual(retentionAudit(input({ jobs: [j] }), at(now)).map((f) => f.rule), rules);
  });
}

test('retention-short names kept vs expected counts', () => {
  const j = auditJob(daily(6, '2026-02-01T02:00:00Z'), NOW, { knownSince: TEN_DAYS_AGO });
  const [f] = retentionAudit(input({ jobs: [j] }), NOW);
  assert.equal(f.title, 'pg-offsite on pve1 has 6 of 7 expected snapshots');
});

test('snapshots in the same day count once towards daily:7', () => {
  const snaps = [...daily(6, '2026-02-01T02:00:00Z'), { id: 'manual', time: at('2026-02-01T09:00:00Z') }];
  const j = auditJob(snaps, NOW, { knownSince: TEN_DAYS_AGO });
  assert.deepEqual(retentionAudit(input({ jobs: [j] }), NOW).map((f) => f.rule), ['retention-short']);
});

test('retention-not-pruned names the last prune', () => {
  const prune = { runId: 'p', operation: 'prune' as const, status: 'failure' as const, startedAt: NOW - DAY, finishedAt: NOW - DAY + MIN, durationMs: MIN, bytesAdded: null, bytesTotal: null, error: 'repository is locked' };
  const j = auditJob(daily(12, '2026-02-01T02:00:00Z'), NOW, { knownSince: NOW - 30 * DAY, lastPrune: prune });
  const [f] = retentionAudit(input({ jobs: [j] }), NOW);
  assert.equal(f.rule, 'retention-not-pruned');
  assert.match(f.detail, /would remove 4 snapshots/);
  assert.match(f.detail, /repository is locked/);
});

test('a job with an empty policy or no inventory is not audited', () => {
  assert.deepEqual(retentionAudit(input({ jobs: [auditJob([], NOW, { retention: {} }), job({ inventory: null })] }), NOW), []);
});

test('a tier 3 monthly:3 job known a year expects 3 first-Sunday snapshots', () => {
  const j = job({ schedule: '0 4 * * SUN#1', timezone: 'Europe/Berlin', retention: { monthly: 3 }, knownSince: at('2025-02-01T00:00:00Z') });
  const times = expectedSnapshotTimes(j, j.knownSince, NOW);
  assert.deepEqual(times.slice(-3).map((t) => new Date(t).toISOString()), ['2025-12-07T03:00:00.000Z', '2026-01-04T03:00:00.000Z', '2026-02-01T03:00:00.000Z']);
  const snaps = times.slice(-3).map((t, i) => ({ id: `m${i}`, time: t }));
  assert.deepEqual(retentionAudit(input({ jobs: [{ ...j, inventory: inventoryOf(snaps, NOW) }] }), NOW), []);
  assert.deepEqual(retentionAudit(input({ jobs: [{ ...j, inventory: inventoryOf(snaps.slice(1), NOW) }] }), NOW).map((f) => f.rule), ['retention-short']);
});

test('borg, borgmatic and the Proxmox jobs (vzdump prune-backups, PBS prune) are audited with borg semantics', () => {
  assert.deepEqual(
    ['borg', 'borgmatic', 'vzdump', 'pbs', 'pbs-group', 'restic', 'command'].map(semanticsFor),
    ['borg', 'borg', 'borg', 'borg', 'borg', 'restic', 'restic'],
  );
});
