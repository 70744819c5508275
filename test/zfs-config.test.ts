import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { loadAgentConfig } from '../agent/config';
import { ConfigError } from '../shared/config-error';
import { tempDir } from './helpers/processes';

// agent.yaml's zfs parts: a zfs job's options (job key `zfs:`) and the `zfs:` section naming zpool.

const dir = tempDir('lifeline-zfs-config-');
const write = (name: string, jobs: string, extra = '') => {
  const file = join(dir, name);
  writeFileSync(file, `agent: { name: nas1, stateDir: ${dir} }\ntargets:\n  - { name: local, location: onsite, media: disk }\n  - { name: nas2, location: offsite, media: nas }\njobs:\n${jobs}${extra}`);
  return file;
};

test('a zfs job gets its defaults, the tier RPO, and the zfs section its zpool', () => {
  const cfg = loadAgentConfig(
    write(
      'good.yaml',
      '  - { name: snap, asset: data, tier: 1, target: local, driver: zfs, zfs: { dataset: tank/data } }\n' +
        '  - { name: rep, asset: data, tier: 2, target: nas2, driver: zfs, zfs: { dataset: tank/data, replicate: { via: syncoid, to: backup/data, host: root@nas2 } } }\n',
      'zfs: { zpool: /opt/zfs/zpool }\n',
    ),
  );
  assert.deepEqual(cfg.jobs[0].options, { dataset: 'tank/data', recursive: false, snapshots: 'take', tools: { zfs: '/usr/sbin/zfs', syncoid: '/usr/sbin/syncoid', ssh: '/usr/bin/ssh' } });
  assert.equal(cfg.jobs[0].rpoMs, 86_400_000);
  assert.equal(cfg.jobs[1].rpoMs, 7 * 86_400_000);
  assert.deepEqual((cfg.jobs[1].options as { replicate: unknown }).replicate, { via: 'syncoid', to: 'backup/data', host: 'root@nas2', sshOptions: [], remoteZfs: 'zfs', syncoidArgs: [] });
  assert.deepEqual(cfg.zfs, { zpool: '/opt/zfs/zpool' });
});

test('bad zfs options are refused with their path: a dataset name, a host that ssh would read as an option, a mode, a relative tool', () => {
  const file = write(
    'bad.yaml',
    '  - { name: a, asset: data, tier: 1, target: local, driver: zfs, zfs: { dataset: "/tank/data; rm -rf /" } }\n' +
      '  - { name: b, asset: data, tier: 1, target: nas2, driver: zfs, zfs: { dataset: tank/data, replicate: { via: rsync, to: backup/data, host: -oProxyCommand=x } } }\n' +
      '  - { name: c, asset: data, tier: 1, target: local, driver: zfs, zfs: { dataset: tank/data, snapshots: sometimes, tools: { zfs: zfs } } }\n',
    'zfs: { zpool: zpool }\n',
  );
  let err: unknown;
  try {
    loadAgentConfig(file);
  } catch (e) {
    err = e;
  }
  assert.ok(err instanceof ConfigError);
  const got = err.problems.map((p) => `${p.path}: ${p.message}`).sort();
  assert.deepEqual(got, [
    'jobs.0.zfs.dataset: expected a ZFS dataset name like "tank/data"',
    'jobs.1.zfs.replicate.host: expected [user@]host (not starting with "-")',
    'jobs.1.zfs.replicate.via: expected syncoid, send or watch',
    'jobs.2.zfs.snapshots: expected take (Lifeline snapshots) or watch (sanoid or another tool does)',
    'jobs.2.zfs.tools.zfs: expected an absolute path',
    'zfs.zpool: expected an absolute path',
  ]);
});
