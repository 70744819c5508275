import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { collectHostFacts } from '../agent/host-facts';
import { collectPools } from '../agent/zfs/pools';
import { tempDir } from './helpers/processes';
import { degradedMirror, onlinePool, ZFS_BIN, type ZfsWorld } from './fixtures/zfs/world';

// The agent's pool facts from the stand-in zpool of test/fixtures/zfs (no ZFS here): it replays
// `zpool list -H -p` and `zpool status` as REFERENCE-INTEGRATIONS §7 documents them — exit 0
// even for a degraded pool — and libzfs's failure without /dev/zfs.

const GiB = 2 ** 30;
const world = (w: Partial<ZfsWorld>) => {
  const file = join(tempDir('lifeline-zpool-'), 'world.json');
  writeFileSync(file, JSON.stringify({ datasets: [], snapshots: [], pools: [], ...w }));
  return { ...process.env, ZFS_WORLD: file, ZFS_RECORD_CALLS: '0' };
};
const zpool = `${ZFS_BIN}zpool`;

test('a degraded mirror with checksum errors and a full pool, read from zpool list and zpool status', async () => {
  const env = world({ pools: [degradedMirror('tank', 4000 * GiB, 1000 * GiB, 5), onlinePool('backup', 1000 * GiB, 950 * GiB)] });
  const { pools, error } = await collectPools(zpool, env);
  assert.equal(error, undefined);
  assert.deepEqual(
    pools.map((p) => [p.name, p.health, p.capacityPct, p.errors, p.devices ?? []]),
    [
      ['tank', 'DEGRADED', 25, { read: 0, write: 0, checksum: 5 }, ['mirror-0 DEGRADED', 'sdb ONLINE 0 0 5', 'sdc UNAVAIL']],
      ['backup', 'ONLINE', 95, { read: 0, write: 0, checksum: 0 }, []],
    ],
  );
  assert.match(pools[0].status ?? '', /^One or more devices could not be used because the label is missing or invalid\./);
});

test('without /dev/zfs zpool fails: no pools and the reason, and the host facts leave pools out', async () => {
  const env = world({ noDevZfs: true });
  const r = await collectPools(zpool, env);
  assert.deepEqual(r.pools, []);
  assert.match(r.error ?? '', /\/dev\/zfs and \/proc\/self\/mounts are required/);
  const saved = process.env.ZFS_WORLD;
  process.env.ZFS_WORLD = env.ZFS_WORLD;
  try {
    const facts = await collectHostFacts({ clockOffsetMs: null, smartctl: null, zpool, sysBlock: '/nonexistent' });
    assert.equal(facts.pools, undefined);
  } finally {
    process.env.ZFS_WORLD = saved;
  }
});

test('host facts carry the pools when zpool answers, and none are looked for with zpool: null', async () => {
  const env = world({ pools: [onlinePool('rpool', 100 * GiB, 10 * GiB)] });
  const saved = process.env.ZFS_WORLD;
  process.env.ZFS_WORLD = env.ZFS_WORLD;
  try {
    const facts = await collectHostFacts({ clockOffsetMs: null, smartctl: null, zpool, sysBlock: '/nonexistent' });
    assert.deepEqual(facts.pools?.map((p) => [p.name, p.health, p.capacityPct]), [['rpool', 'ONLINE', 10]]);
    assert.equal((await collectHostFacts({ clockOffsetMs: null, smartctl: null, zpool: null, sysBlock: '/nonexistent' })).pools, undefined);
  } finally {
    process.env.ZFS_WORLD = saved;
  }
});
