import assert from 'node:assert/strict';
import { test } from 'node:test';
import { TRUENAS_DEFAULT_TARGETS, type TrueNasConfig } from '../agent/config';
import { buildTrueNasScan, cronOf, dateOf, outcomeOf } from '../agent/truenas/scan';
import { sampleWorld } from './fixtures/truenas/world';

// The pure decisions over what TrueNAS's API returns (fields and states of REFERENCE-INTEGRATIONS
// §7, written into test/fixtures/truenas/world.ts: no TrueNAS runs here).

const NOW = Date.parse('2026-11-30T06:00:00Z');
const conf: Pick<TrueNasConfig, 'tier' | 'tasks' | 'replicationTarget' | 'snapshotTarget' | 'url'> = {
  url: 'https://nas1.lan',
  tier: 2,
  tasks: { 'tank/media to cloud': { asset: 'media', tier: 1 } },
  replicationTarget: TRUENAS_DEFAULT_TARGETS.replication,
  snapshotTarget: TRUENAS_DEFAULT_TARGETS.snapshot,
};

test('datetimes arrive as {"$date": ms}; numbers and ISO text are read too; nothing else is a time', () => {
  assert.equal(dateOf({ $date: NOW }), NOW);
  assert.equal(dateOf(NOW), NOW);
  assert.equal(dateOf('2026-11-30T06:00:00Z'), NOW);
  for (const v of [null, undefined, 'soon', { $date: Number.NaN }, 0]) assert.equal(dateOf(v as never), null);
});

const OUTCOMES: [string, Parameters<typeof outcomeOf>[0], ReturnType<typeof outcomeOf>][] = [
  ['FINISHED is success (not SUCCESS)', { state: 'FINISHED' }, { status: 'success' }],
  ['FINISHED with warnings is a warning', { state: 'FINISHED', warnings: ['Target dataset has no snapshots'] }, { status: 'warning', error: 'Target dataset has no snapshots' }],
  ['ERROR is a failure with its sentence', { state: 'ERROR', error: 'No route to host' }, { status: 'failure', error: 'No route to host' }],
  ['ERROR without a sentence says so', { state: 'ERROR' }, { status: 'failure', error: 'TrueNAS reported ERROR without a message' }],
  ['SUCCESS (VMware snapshots) is no replication outcome', { state: 'SUCCESS' }, null],
  ['RUNNING has not ended', { state: 'RUNNING' }, null],
  ['PENDING, the default, has not run', { state: 'PENDING' }, null],
  ['no state at all', undefined, null],
];
for (const [what, state, want] of OUTCOMES) test(`task state: ${what}`, () => assert.deepEqual(outcomeOf(state), want));

test('TrueNAS cron fields become a cron line; none or a bad one is no schedule', () => {
  assert.equal(cronOf({ minute: '0', hour: '3', dom: '*', month: '*', dow: '*' }), '0 3 * * *');
  assert.equal(cronOf(null), '');
  assert.equal(cronOf({ minute: 'x' }), '');
});

test('each enabled task is a catalog job with its asset, tier and target; ended states are runs; a held task is a note', () => {
  const scan = buildTrueNasScan(sampleWorld(NOW), conf, {});
  assert.deepEqual(
    scan.jobs.map((j) => [j.name, j.asset, j.tier, j.driver, j.target.name, j.target.location, j.schedule]),
    [
      ['truenas-replication-1', 'tank-data', 2, 'truenas-replication', 'truenas-replica', 'offsite', ''],
      ['truenas-replication-2', 'media', 1, 'truenas-replication', 'truenas-replica', 'offsite', '0 3 * * *'],
      ['truenas-replication-4', 'tank-vm', 2, 'truenas-replication', 'truenas-replica', 'offsite', ''],
      ['truenas-snapshot-1', 'tank-data', 2, 'truenas-snapshot', 'truenas', 'onsite', '0 * * * *'],
    ],
  );
  assert.deepEqual(
    scan.runs.map((r) => [r.message.job, r.message.status, r.message.error ?? null, r.message.snapshotId ?? null, r.message.finishedAt]),
    [
      ['truenas-replication-1', 'success', null, 'tank/data@auto-2026-11-30_05-00', '2026-11-30T05:00:00.000Z'],
      ['truenas-replication-2', 'failure', 'ssh: connect to host nas2 port 22: No route to host', 'tank/media@auto-2026-11-29_03-00', '2026-11-30T04:00:00.000Z'],
      ['truenas-snapshot-1', 'success', null, 'tank/data@auto-2026-11-30_05-00', '2026-11-30T05:00:00.000Z'],
    ],
  );
  assert.deepEqual(scan.notes, ['replication task tank/vm to nas2 is HOLD: Pool tank is offline']);
});

test('a state already reported is not reported again; a newer one is, with another run id', () => {
  const first = buildTrueNasScan(sampleWorld(NOW), conf, {});
  const reported = Object.fromEntries(first.runs.map((r) => [r.key, r.at]));
  assert.deepEqual(buildTrueNasScan(sampleWorld(NOW), conf, reported).runs, []);
  const later = buildTrueNasScan(sampleWorld(NOW + 3_600_000), conf, reported);
  assert.equal(later.runs.length, 3);
  assert.notEqual(later.runs[0].message.runId, first.runs[0].message.runId);
  assert.equal(buildTrueNasScan(sampleWorld(NOW), conf, {}).runs[0].message.runId, first.runs[0].message.runId, 'run ids are stable: a replay is a duplicate');
});

test('the truenas section: an http URL, an unknown target and a missing key file are refused with their paths; declared targets are used', async () => {
  const { loadAgentConfig } = await import('../agent/config');
  const { ConfigError } = await import('../shared/config-error');
  const { tempDir } = await import('./helpers/processes');
  const { writeFileSync } = await import('node:fs');
  const { join } = await import('node:path');
  const dir = tempDir('lifeline-truenas-config-');
  const key = join(dir, 'key');
  writeFileSync(key, 'k\n', { mode: 0o600 });
  const file = (name: string, section: string) => {
    const f = join(dir, name);
    writeFileSync(f, `agent: { name: nas1, stateDir: ${dir} }\ntargets:\n  - { name: nas2, location: offsite, media: nas }\njobs: []\ntruenas:\n${section}`);
    return f;
  };
  const good = loadAgentConfig(file('good.yaml', `  url: https://nas1.lan/\n  apiKeyFile: ${key}\n  replicationTarget: nas2\n`)).truenas!;
  assert.deepEqual([good.url, good.api, good.user, good.replicationTarget.name, good.snapshotTarget.name, good.scanMs], ['https://nas1.lan', 'websocket', 'root', 'nas2', 'truenas', 600_000]);
  let err: unknown;
  try {
    loadAgentConfig(file('bad.yaml', `  url: http://nas1.lan\n  apiKeyFile: ${join(dir, 'missing')}\n  snapshotTarget: usb\n  api: graphql\n`));
  } catch (e) {
    err = e;
  }
  assert.ok(err instanceof ConfigError);
  assert.deepEqual(err.problems.map((p) => p.path).sort(), ['truenas.api', 'truenas.apiKeyFile', 'truenas.snapshotTarget', 'truenas.url']);
});
