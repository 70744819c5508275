import assert from 'node:assert/strict';
import { appendFileSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { AGENT_BIN, cliAsync, enrollAgent, Proc, startCollector, tempDir, waitFor, writeAgentConfig } from './helpers/processes';
import { degradedMirror, onlinePool, sanoidName, ZFS_BIN, type ZfsWorld } from './fixtures/zfs/world';

// ZFS end to end with real processes: the built collector (SQLite, evaluating every second) and
// the built agent daemon on a NAS whose pools and datasets are the stand-ins of test/fixtures/zfs
// (zfs, zpool, ssh), since ZFS cannot run here: they replay REFERENCE-INTEGRATIONS §7 —
// `zpool list -H -p`, `zpool status` exiting 0 for a degraded pool, sanoid's snapshot names.
// Shown: the zfs take job's runs (backup, prune) and runbook, the degraded pool and the full
// pool as incidents, and the lagging replica as a failed run with its lag. Run `npm run build` first.

const cleanups: (() => Promise<unknown> | unknown)[] = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

const D = 86_400;
const GiB = 2 ** 30;

interface Incident {
  key: string;
  rule: string;
  title: string;
  detail: string;
}

test('a NAS with ZFS: the take job runs, a degraded pool and a full pool open incidents, the replica lag fails its job', async () => {
  const now = Math.floor(Date.now() / 1000);
  const dir = tempDir('lifeline-e2e-zfs-');
  const worldFile = join(dir, 'world.json');
  const world: ZfsWorld = {
    datasets: ['tank/data', 'backup/data'],
    snapshots: [
      ...[1, 2, 3, 4].map((d) => ({ name: `tank/data@${sanoidName(now - d * D + 60, 'daily')}`, creation: now - d * D + 60, used: 4096 })),
      // The replica stopped receiving three days ago.
      { name: `backup/data@${sanoidName(now - 3 * D + 60, 'daily')}`, creation: now - 3 * D + 60, used: 4096 },
    ],
    // tank: a mirror with one side gone and checksum errors on the other; backup: 95 % allocated.
    pools: [degradedMirror('tank', 4000 * GiB, 1000 * GiB, 7), onlinePool('backup', 1000 * GiB, 950 * GiB)],
  };
  writeFileSync(worldFile, JSON.stringify(world));
  const env = { ZFS_WORLD: worldFile, ZFS_RECORD_CALLS: '0' };

  const collector = await startCollector('incidents: { evaluateEvery: 1s, flap: 0s, reminder: 1d }\n');
  cleanups.push(() => collector.stop('SIGKILL'));
  const tools = `tools: { zfs: ${ZFS_BIN}zfs, ssh: ${ZFS_BIN}ssh }`;
  const agent = writeAgentConfig({
    name: 'nas1',
    jobs:
      `  - { name: data-snap, asset: data, tier: 1, target: local-disk, driver: zfs, zfs: { dataset: tank/data, ${tools} } }\n` +
      `  - { name: data-replica, asset: data, tier: 1, target: cloud, driver: zfs, zfs: { dataset: tank/data, replicate: { via: watch, to: backup/data, host: root@nas2 }, ${tools} } }\n`,
  });
  appendFileSync(agent.config, `zfs:\n  zpool: ${ZFS_BIN}zpool\n`);
  enrollAgent(agent, collector);
  const daemon = new Proc(AGENT_BIN, ['daemon', '--config', agent.config], env);
  cleanups.push(() => daemon.stop('SIGKILL'));

  // The operator runs both jobs now (the daemon would at their schedule).
  for (const job of ['data-snap', 'data-replica']) {
    const r = await cliAsync(AGENT_BIN, ['run', job, '--config', agent.config], env);
    assert.ok(r.code === 0 || job === 'data-replica', `${job}: ${r.stderr}`);
  }

  const incidents = async () => ((await (await fetch(`${collector.url}/api/v1/incidents`)).json()) as { incidents: Incident[] }).incidents;
  const expected = ['zfs-pool|nas1|tank', 'zfs-pool-capacity|nas1|backup', 'failed-run|nas1|data-replica'];
  const open = await waitFor(
    'the pool and replica incidents',
    async () => {
      const all = await incidents();
      return expected.every((k) => all.some((i) => i.key === k)) ? new Map(all.map((i) => [i.key, i])) : null;
    },
    30_000,
    250,
  ).catch((err: Error) => assert.fail(`${err.message}\n--- agent ---\n${daemon.output}`));

  const tank = open.get('zfs-pool|nas1|tank')!;
  assert.equal(tank.title, 'ZFS pool tank on nas1 is DEGRADED');
  assert.match(tank.detail, /state DEGRADED; 0 read, 0 write, 7 checksum error\(s\)\. Devices: mirror-0 DEGRADED; sdb ONLINE 0 0 7; sdc UNAVAIL\. ZFS says: One or more devices could not be used/);
  assert.equal(open.get('zfs-pool-capacity|nas1|backup')!.title, 'ZFS pool backup on nas1 is 95% full');
  assert.ok(![...open.keys()].some((k) => k.startsWith('zfs-pool|nas1|backup')), 'the healthy pool raises no health incident');
  const metrics = await (await fetch(`${collector.url}/metrics`)).text();
  assert.match(metrics, /^lifeline_zfs_pool_healthy\{agent="nas1",pool="tank"\} 0$/m);
  assert.match(metrics, /^lifeline_zfs_pool_healthy\{agent="nas1",pool="backup"\} 1$/m);
  assert.match(metrics, /^lifeline_zfs_pool_size_bytes\{agent="nas1",pool="tank"\} \d+$/m);
  assert.match(open.get('failed-run|nas1|data-replica')!.detail, /the replica root@nas2:backup\/data lags: its newest common snapshot autosnap_\S+_daily \(2d23h\S* old\), 2d\S* behind the source's newest lifeline-\S+Z, beyond the tier's RPO of 1d/);

  // The take job's runs: a snapshot, then its prune (sanoid's four left alone).
  const status = await collector.status();
  const snap = status.jobs.find((j) => j.name === 'data-snap')!;
  assert.equal(snap.lastRun?.status, 'success');
  assert.match(snap.lastRun?.snapshotId ?? '', /^tank\/data@lifeline-\S+Z$/);
  const w = JSON.parse(readFileSync(worldFile, 'utf8')) as ZfsWorld;
  assert.equal(w.snapshots.filter((s) => s.name.startsWith('tank/data@autosnap_')).length, 4);

  // The asset page's runbook for the local copy clones the newest snapshot.
  const asset = (await (await fetch(`${collector.url}/api/v1/assets/data`)).json()) as { runbooks: { title: string; commands: string[] }[] };
  const commands = asset.runbooks.flatMap((r) => r.commands);
  assert.ok(commands.includes(`zfs clone ${snap.lastRun!.snapshotId} tank/data-restore`), commands.join('\n'));
  assert.ok(commands.some((c) => c.startsWith('ssh root@nas2 zfs send backup/data@autosnap_')), commands.join('\n'));
});
