import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { driverHarness, type Harness } from './helpers/driver-harness';
import { tempDir } from './helpers/processes';
import { sanoidName, ZFS_BIN, type ZfsWorld, type ZfsWorldSnapshot } from './fixtures/zfs/world';
import { editLocked } from './helpers/world-lock';

// The zfs driver in the built agent, reporting to a real collector. ZFS cannot run here (no
// kernel module, no /dev/zfs): zfs, syncoid and ssh are the stand-ins of test/fixtures/zfs,
// which replay the documented argv, output and errors of REFERENCE-INTEGRATIONS §7 from a world
// file (sanoid's autosnap_… and syncoid's sync snapshot names, `zfs list -H -p` lines).

const NOW = Math.floor(Date.now() / 1000);
const H = 3600;
const D = 86_400;
const dir = tempDir('lifeline-zfs-');
const worldFile = join(dir, 'world.json');
process.env.ZFS_WORLD = worldFile;
// Calls are recorded (argv and environment, rewriting the world each time) only where a test reads them.
process.env.ZFS_RECORD_CALLS = '0';

const s = (dataset: string, name: string, creation: number, used = 4096): ZfsWorldSnapshot => ({ name: `${dataset}@${name}`, creation, used });
const lifeline = (t: number) => {
  const iso = new Date(t * 1000).toISOString();
  return `lifeline-${iso.slice(0, 10)}_${iso.slice(11, 19)}Z`;
};
const sanoid = (dataset: string, t: number, type: string) => s(dataset, sanoidName(t, type), t);

function world(): ZfsWorld {
  const snapshots: ZfsWorldSnapshot[] = [];
  // tank/data: Lifeline's own daily snapshots of the last 6 days (and its child's), sanoid's, and one by hand.
  for (let d = 1; d <= 6; d++) snapshots.push(s('tank/data', lifeline(NOW - d * D), NOW - d * D), s('tank/data/sub', lifeline(NOW - d * D), NOW - d * D));
  for (let d = 1; d <= 4; d++) snapshots.push(sanoid('tank/data', NOW - d * D + 60, 'daily'));
  snapshots.push(s('tank/data', 'before-upgrade', NOW - 40 * D));
  // tank/media: sanoid keeps it fresh; its child photos was forgotten 3 days ago.
  for (let h = 1; h <= 24; h++) snapshots.push(sanoid('tank/media', NOW - h * H, 'hourly'));
  for (let d = 1; d <= 30; d++) snapshots.push(sanoid('tank/media', NOW - d * D, 'daily'));
  for (let m = 1; m <= 6; m++) snapshots.push(sanoid('tank/media', NOW - m * 30 * D, 'monthly'));
  snapshots.push(sanoid('tank/media/photos', NOW - 3 * D, 'daily'));
  // backup/media: a replica someone else feeds, whose newest common snapshot is 3 days old.
  for (let d = 3; d <= 5; d++) snapshots.push(sanoid('backup/media', NOW - d * D, 'daily'));
  // tank/docs → backup/docs by zfs send: the replica holds the older two of four.
  const docs = (d: number) => NOW - d * D + 600;
  for (let d = 1; d <= 4; d++) snapshots.push(s('tank/docs', lifeline(docs(d)), docs(d)));
  for (let d = 3; d <= 4; d++) snapshots.push(s('backup/docs', lifeline(docs(d)), docs(d)));
  return { datasets: ['tank/data', 'tank/data/sub', 'tank/media', 'tank/media/photos', 'backup/media', 'tank/docs', 'backup/docs'], snapshots, pools: [], hostname: 'nas1' };
}
const read = (): ZfsWorld => JSON.parse(readFileSync(worldFile, 'utf8'));
const names = (w: ZfsWorld, dataset: string) => w.snapshots.filter((x) => x.name.startsWith(`${dataset}@`)).map((x) => x.name.slice(dataset.length + 1));

const tools = `tools: { zfs: ${ZFS_BIN}zfs, syncoid: ${ZFS_BIN}syncoid, ssh: ${ZFS_BIN}ssh }`;
const job = (name: string, asset: string, target: string, zfs: string, extra = '') =>
  `  - { name: ${name}, asset: ${asset}, tier: 1, target: ${target}, driver: zfs, ${extra}zfs: { ${zfs}, ${tools} } }\n`;

let h: Harness;
before(async () => {
  writeFileSync(worldFile, JSON.stringify(world()));
  h = await driverHarness(
    'nas1',
    job('data-snap', 'data', 'local-disk', 'dataset: tank/data, recursive: true', 'retention: { daily: 3 }, ') +
      job('media-watch', 'media', 'local-disk', 'dataset: tank/media, recursive: true, snapshots: watch') +
      job('data-replica', 'data', 'cloud', 'dataset: tank/data, replicate: { via: syncoid, to: backup/data, host: root@nas2 }') +
      job('media-replica', 'media', 'cloud', 'dataset: tank/media, snapshots: watch, replicate: { via: watch, to: backup/media, host: root@nas2 }') +
      job('docs-send', 'docs', 'cloud', 'dataset: tank/docs, replicate: { via: send, to: backup/docs, host: root@nas2, sshOptions: [-p, "2222"] }'),
  );
});
after(() => h?.close());

test("a take job snapshots the dataset with its children, then prunes only Lifeline's own snapshots by its retention", async () => {
  const r = await h.agentCli('run', 'data-snap');
  assert.equal(r.code, 0, r.stderr);
  const [backup] = h.runs('data-snap', 'backup');
  assert.equal(backup.status, 'success', backup.error ?? '');
  assert.match(backup.snapshot_id ?? '', /^tank\/data@lifeline-\d{4}-\d\d-\d\d_\d\d:\d\d:\d\dZ$/);
  const w = read();
  const made = backup.snapshot_id!.split('@')[1];
  assert.ok(names(w, 'tank/data/sub').includes(made), 'zfs snapshot -r took the child too');
  // daily: 3 keeps the new one and the two before it; sanoid's and the one by hand stay.
  assert.deepEqual(names(w, 'tank/data').filter((n) => n.startsWith('lifeline-')).sort(), [lifeline(NOW - 2 * D), lifeline(NOW - D), made].sort());
  assert.equal(names(w, 'tank/data').filter((n) => n.startsWith('autosnap_')).length, 4);
  assert.ok(names(w, 'tank/data').includes('before-upgrade'));
  assert.equal(names(w, 'tank/data/sub').length, 3, 'destroy -r took the children of the destroyed ones');
  const [prune] = h.runs('data-snap', 'prune');
  assert.equal(prune.status, 'success');
  assert.match(prune.log_tail ?? '', /kept 3 of Lifeline's 7 snapshot\(s\) of tank\/data, destroyed 4; 5 snapshot\(s\) of other tools left alone/);
  // The inventory lists Lifeline's own snapshots: what its retention governs.
  assert.deepEqual(h.inventory('data-snap').map((x) => x.id.split('@')[1]).sort(), [lifeline(NOW - 2 * D), lifeline(NOW - D), made].sort());
});

test('a watch job counts sanoid snapshots per class and fails when a dataset has none within the RPO', async () => {
  await h.agentCli('run', 'media-watch');
  const [backup] = h.runs('media-watch', 'backup');
  assert.equal(backup.status, 'failure');
  assert.match(backup.error ?? '', /no snapshot within the tier's RPO of 1d: tank\/media\/photos \(newest autosnap_\S+_daily, 3d(\d+h)?(\d+m)?(\d+s)? old\); is sanoid's timer running\?/);
  assert.match(backup.log_tail ?? '', /tank\/media: 24 hourly, 30 daily, 6 monthly; newest autosnap_\S+_hourly, 1h\d*s? old/);
  assert.equal(backup.snapshot_id, `tank/media@${sanoidName(NOW - H, 'hourly')}`);
  // Every snapshot of tank/media, whoever took it (60), sanoid's classes taken in one run once:
  // the hourly and the daily of a day ago, the daily and the monthly of 30 days ago.
  assert.equal(h.inventory('media-watch').length, 58);
});

test('a syncoid job replicates over ssh and reports the replica with its newest common snapshot', async () => {
  process.env.ZFS_RECORD_CALLS = '1';
  await h.agentCli('run', 'data-replica');
  process.env.ZFS_RECORD_CALLS = '0';
  const [backup] = h.runs('data-replica', 'backup');
  assert.equal(backup.status, 'success', backup.error ?? '');
  assert.match(backup.snapshot_id ?? '', /^backup\/data@syncoid_nas1_\d{4}-\d\d-\d\d_\d\d:\d\d:\d\d-GMT-?\d\d:\d\d$/);
  assert.match(backup.log_tail ?? '', /replica root@nas2:backup\/data: newest common snapshot syncoid_nas1_\S+ \([\d.]+ ?m?s old\), in step with the source/);
  const calls = read().calls ?? [];
  assert.ok(calls.some((c) => c.tool === 'syncoid' && c.argv.join(' ') === 'tank/data root@nas2:backup/data'));
  assert.ok(calls.some((c) => c.tool === 'ssh' && c.argv.slice(0, 4).join(' ') === '-o BatchMode=yes root@nas2 zfs'), 'the replica is listed through ssh, never prompting');
  assert.ok(h.inventory('data-replica').length >= 6, 'the inventory is the replica side');
  const [prune] = h.runs('data-replica', 'prune');
  assert.match(prune.log_tail ?? '', /nothing to prune: the replica root@nas2:backup\/data follows its source's snapshots/);
});

test('a watched replica whose newest common snapshot is older than the RPO fails with its lag', async () => {
  await h.agentCli('run', 'media-replica');
  const [backup] = h.runs('media-replica', 'backup');
  assert.equal(backup.status, 'failure');
  assert.match(backup.error ?? '', /the replica root@nas2:backup\/media lags: its newest common snapshot autosnap_\S+_daily \(3d\S* old\), 2d23h\S* behind the source's newest autosnap_\S+_hourly, beyond the tier's RPO of 1d/);
  assert.equal(backup.snapshot_id, `backup/media@${sanoidName(NOW - 3 * D, 'daily')}`);
});

test('a send job sends the snapshots the replica lacks as one incremental stream through ssh', async () => {
  await h.agentCli('run', 'docs-send');
  const [backup] = h.runs('docs-send', 'backup');
  assert.equal(backup.status, 'success', backup.error ?? '');
  assert.deepEqual(names(read(), 'backup/docs').sort(), names(read(), 'tank/docs').sort());
  assert.match(backup.log_tail ?? '', new RegExp(`zfs send -I @${lifeline(NOW - 3 * D + 600)} tank/docs@${lifeline(NOW - D + 600)} \\| \\S+ssh -o BatchMode=yes -p 2222 root@nas2 zfs receive -u backup/docs`));
  assert.equal(backup.snapshot_id, `backup/docs@${lifeline(NOW - D + 600)}`);
});

test('without /dev/zfs the run fails with libzfs\'s own message', async () => {
  editLocked<ZfsWorld>(worldFile, (w) => void (w.noDevZfs = true));
  await h.agentCli('run', 'data-snap');
  const runs = h.runs('data-snap', 'backup');
  assert.equal(runs.at(-1)!.status, 'failure');
  assert.match(runs.at(-1)!.error ?? '', /^zfs snapshot \(exit code 1\): \/dev\/zfs and \/proc\/self\/mounts are required\.$/);
});
