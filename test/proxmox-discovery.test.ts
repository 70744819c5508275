// Archive names are local time: the scan runs in a zone that is not UTC, so a name read as UTC
// would be an hour off. Set before anything reads the clock.
process.env.TZ = 'Europe/Berlin';

import assert from 'node:assert/strict';
import { appendFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import Database from 'better-sqlite3';
import { helloMessage } from '../agent/catalog';
import { loadAgentConfig, type AgentConfig } from '../agent/config';
import { backupTime, buildScan, includedGuests, readSnapshots, scanProxmox, SNAPSHOT_CALLS_PER_SCAN, SNAPSHOT_REFRESH_MS, type PveBackupJobConfig, type PveInventory, type PveResource, type SnapshotCache } from '../agent/proxmox/discovery';
import { pveTools, type PveTools } from '../agent/proxmox/tools';
import { catalogJobSchema, helloSchema, inventorySchema, proxmoxSchema } from '../shared/protocol';
import { archiveName, editWorld, localEpoch, pbsName, proxmoxYaml, readWorld, sampleWorld, worldEnv, writeWorld } from './helpers/pve';
import { AGENT_BIN, cli, enrollAgent, Proc, sleep, startCollector, tempDir, waitFor, writeAgentConfig, type Collector } from './helpers/processes';

// Proxmox VE cannot run here: pvesh, qm and pct are stand-ins (test/fixtures/pve/bin) replaying
// the documented answers of ../shared/REFERENCE-INTEGRATIONS.md §3–4 — /cluster/resources with
// the RRD caveat and `;`-separated tags, nested pools, /cluster/backup as stored, snapshot lists
// in hash order with `current`, storage content with epoch ctime — and PVE's exit code 255.

const cleanups: (() => Promise<unknown> | void)[] = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

function agentConfig(extra = ''): AgentConfig {
  const dir = tempDir('lifeline-pve-agent-');
  const file = join(dir, 'agent.yaml');
  writeFileSync(
    file,
    `agent: { name: pve1, stateDir: ${join(dir, 'state')} }
targets:
  - { name: usb-ssd, location: onsite, media: usb }
  - { name: pbs1, location: offsite, media: pbs }
${proxmoxYaml({ tiers: { 108: 1 }, exclude: [109] })}${extra}`,
  );
  return loadAgentConfig(file);
}

async function scanWorld(world = sampleWorld()) {
  const file = writeWorld(world);
  const config = agentConfig();
  const scan = await scanProxmox(config, { tools: pveTools(config.proxmox!, { ...process.env, ...worldEnv(file) }) });
  return { scan, file, config };
}

test('guests get their tier from pool, nested pool, tag or agent.yaml; templates, RRD-less guests and exclusions are told as such', async () => {
  const { scan } = await scanWorld();
  const m = proxmoxSchema.parse({ ...scan.message, agent: 'pve1', seq: 1, sentAt: new Date().toISOString() });
  const g = new Map(m.guests.map((x) => [x.vmid, x]));
  assert.deepEqual([...g.keys()], [100, 101, 102, 103, 104, 105, 106, 108, 109]);
  assert.deepEqual([g.get(100)!.tier, g.get(100)!.tierFrom, g.get(100)!.pool], [1, 'pool', 'tier-1']);
  assert.deepEqual([g.get(101)!.tier, g.get(101)!.tierFrom], [2, 'pool'], 'nested pool prod/tier-2');
  assert.deepEqual([g.get(102)!.tier, g.get(102)!.tierFrom, g.get(102)!.tags], [3, 'tag', ['lab', 'tier-3']]);
  assert.equal(g.get(103)!.template, true);
  assert.deepEqual([g.get(104)!.tier, g.get(104)!.tierFrom], [null, null]);
  assert.deepEqual([g.get(105)!.type, g.get(105)!.tier, g.get(105)!.tierFrom], ['lxc', 2, 'tag']);
  assert.deepEqual([g.get(108)!.tier, g.get(108)!.tierFrom], [1, 'config'], 'agent.yaml over pool tier-4');
  assert.deepEqual([g.get(109)!.excluded, g.get(100)!.excluded], [true, false]);
  // pve2's RRD data is missing: no name, no template flag to believe; its snapshots are pve2's agent's.
  const remote = g.get(106)!;
  assert.deepEqual([remote.name, remote.node, remote.template, remote.tier, remote.snapshots], [undefined, 'pve2', false, 1, []]);
  assert.deepEqual(
    m.storages.map((s) => [s.id, s.type, s.declared]),
    [['local', 'dir', false], ['local-lvm', 'lvmthin', false], ['nas-nfs', 'nfs', false], ['pbs1', 'pbs', true]],
  );
});

test('guest snapshots come oldest first without the `current` pseudo-entry; snaptime 0 is an unknown time', async () => {
  const { scan, file } = await scanWorld();
  // The stand-in answers in hash order, as PVE does: the sorting is the agent's.
  const raw = (await pveTools(agentConfig().proxmox!, { ...process.env, ...worldEnv(file) }).get<{ name: string }[]>('/nodes/pve1/qemu/100/snapshot')).map((s) => s.name);
  assert.equal(raw.at(-1), 'current');
  assert.notDeepEqual(raw.slice(0, -1), ['ancient', 'zz-first', 'before-upgrade', 'weekly-a']);
  const vm100 = scan.message.guests.find((x) => x.vmid === 100)!;
  assert.deepEqual(vm100.snapshots.map((s) => s.name), ['ancient', 'zz-first', 'before-upgrade', 'weekly-a']);
  assert.equal(vm100.snapshots[0].time, null);
  assert.equal(vm100.snapshots[2].description, 'before the 8.2 upgrade', 'the first line, as qm listsnapshot shows it');
  assert.deepEqual(scan.message.guests.find((x) => x.vmid === 105)!.snapshots.map((s) => s.name), ['pre-dns-change']);
});

test('backup jobs cover guests as PVE decides: pool, vmid list, all minus exclude on one node; a disabled job covers nothing', async () => {
  const { scan } = await scanWorld();
  assert.deepEqual(
    scan.message.backupJobs.map((j) => [j.id, j.enabled, j.schedule, j.cron, j.storage, j.vmids]),
    [
      ['backup-daily', true, '02:00', '0 2 * * *', 'pbs1', [100, 103, 106]],
      ['backup-lab', true, 'mon..fri 21:30', '30 21 * * 1-5', 'local', [102, 105]],
      ['backup-old', false, 'sat 02:00', '0 2 * * 6', 'local', []],
      ['backup-weekly', true, 'sun 01:00', '0 1 * * 0', 'nas-nfs', [100, 101, 102, 103, 105, 108]],
    ],
  );
});

test('catalog jobs: one per guest of this node and storage an enabled job writes to, never for templates, other nodes or disabled jobs', async () => {
  const { scan, config } = await scanWorld();
  assert.deepEqual(
    scan.jobs.map((j) => j.name),
    ['vzdump-100-nas-nfs', 'vzdump-100-pbs1', 'vzdump-101-nas-nfs', 'vzdump-102-local', 'vzdump-102-nas-nfs', 'vzdump-105-local', 'vzdump-105-nas-nfs', 'vzdump-108-nas-nfs'],
  );
  for (const j of scan.jobs) catalogJobSchema.parse(j);
  const job = (name: string) => scan.jobs.find((j) => j.name === name)!;
  assert.deepEqual(job('vzdump-100-pbs1'), {
    name: 'vzdump-100-pbs1',
    asset: 'vm-100',
    tier: 1,
    driver: 'vzdump',
    target: { name: 'pbs1', location: 'offsite', media: 'pbs' }, // declared in agent.yaml
    schedule: '0 2 * * *',
    timeoutMs: 0,
    retention: { daily: 30 },
    restore: { vmtype: 'qemu', vmid: '100', storage: 'pbs1', storageType: 'pbs', node: 'pve1' },
  });
  // Not declared: derived from the storage type, on-site. Retention from the storage when the job has none.
  assert.deepEqual([job('vzdump-105-nas-nfs').asset, job('vzdump-105-nas-nfs').tier, job('vzdump-105-nas-nfs').target, job('vzdump-105-nas-nfs').retention], ['ct-105', 2, { name: 'nas-nfs', location: 'onsite', media: 'nas' }, { daily: 7, weekly: 4 }]);
  assert.deepEqual([job('vzdump-102-local').target, job('vzdump-102-local').retention, job('vzdump-102-local').schedule], [{ name: 'local', location: 'onsite', media: 'disk' }, { last: 3 }, '30 21 * * 1-5']);
  assert.equal(job('vzdump-108-nas-nfs').tier, 1);
  // The hello carries them beside the configured jobs and stays valid.
  const hello = helloMessage(config, scan.jobs);
  helloSchema.parse({ ...hello, agent: 'pve1', seq: 1, sentAt: new Date().toISOString() });
  assert.equal(hello.jobs.length, 8);
});

test('inventories list each job backups by volid, timed by the epoch ctime: local-time archive names and UTC PBS names agree', async () => {
  const now = Math.floor(Date.now() / 1000);
  const world = sampleWorld(now);
  const { scan } = await scanWorld(world);
  const inv = (job: string) => scan.inventories.find((i) => i.job === job)!;
  for (const i of scan.inventories) inventorySchema.parse({ ...i, agent: 'pve1', seq: 1, sentAt: new Date().toISOString() });
  const t1 = now - 2 * 86_400;
  const t2 = now - 86_400;
  assert.deepEqual(inv('vzdump-100-pbs1').snapshots, [
    // pvesm's `verification` of a PBS volume travels with it: a failed one is no good copy.
    { id: `pbs1:backup/${pbsName('qemu', 100, t1)}`, time: new Date(t1 * 1000).toISOString(), bytes: 3_221_225_472, verified: 'ok' },
    { id: `pbs1:backup/${pbsName('qemu', 100, t2)}`, time: new Date(t2 * 1000).toISOString(), bytes: 3_300_000_000 },
  ]);
  assert.deepEqual(inv('vzdump-100-nas-nfs').snapshots, [{ id: `nas-nfs:backup/${archiveName('qemu', 100, t1)}`, time: new Date(t1 * 1000).toISOString(), bytes: 2_000_000_000 }]);
  assert.equal(inv('vzdump-100-pbs1').target, 'pbs1');
  assert.deepEqual(inv('vzdump-105-local').snapshots.map((s) => s.id), [`local:backup/${archiveName('lxc', 105, t2)}`]);
  assert.deepEqual(inv('vzdump-101-nas-nfs').snapshots, [], 'listed, and none there');

  // Without ctime the name says when: a file archive in local time (Berlin, UTC+1 in winter), a PBS snapshot in UTC.
  const table: [string, number | null][] = [
    ['local:backup/vzdump-qemu-100-2026_01_31-02_00_03.vma.zst', Date.parse('2026-01-31T01:00:03Z') / 1000],
    ['local:backup/vzdump-lxc-105-2026_07_31-02_00_03.tar.gz', Date.parse('2026-07-31T00:00:03Z') / 1000],
    ['pbs1:backup/vm/100/2026-01-31T01:00:03Z', Date.parse('2026-01-31T01:00:03Z') / 1000],
    ['pbs1:backup/ct/105/2026-07-31T00:00:03Z', Date.parse('2026-07-31T00:00:03Z') / 1000],
    ['local:backup/something-else.tar', null],
  ];
  for (const [volid, expected] of table) assert.equal(backupTime({ volid }), expected, volid);
  assert.equal(backupTime({ volid: 'local:backup/vzdump-qemu-100-2026_01_31-02_00_03.vma.zst', ctime: 1_700_000_000 }), 1_700_000_000, 'ctime wins');
  assert.equal(localEpoch(2026, 1, 31, 2, 0, 3), Date.parse('2026-01-31T01:00:03Z') / 1000);
});

test('the scan asks pvesh only what it needs: snapshots of this node guests, content of the storages its jobs write to', async () => {
  const { file } = await scanWorld();
  const calls = readWorld(file).calls!.map((c) => c.argv.join(' '));
  assert.ok(calls.includes('get /cluster/resources --type vm --output-format json'), calls.join('\n'));
  const snapshotCalls = calls.filter((c) => c.endsWith('/snapshot --output-format json')).sort();
  assert.deepEqual(snapshotCalls, [100, 101, 102, 104, 105, 108, 109].map((id) => `get /nodes/pve1/${id === 105 ? 'lxc' : 'qemu'}/${id}/snapshot --output-format json`).sort());
  const contentCalls = calls.filter((c) => c.includes('/content')).sort();
  assert.deepEqual(contentCalls, ['local', 'nas-nfs', 'pbs1'].map((s) => `get /nodes/pve1/storage/${s}/content --content backup --output-format json`));
  assert.ok(!calls.some((c) => c.startsWith('get /pools/')), 'never the deprecated GET /pools/{poolid}');
});

test('what cannot be read is left out and said: a storage that fails to list sends no inventory, a vanished guest no snapshots', async () => {
  const file = writeWorld(sampleWorld());
  const config = agentConfig();
  const tools = pveTools(config.proxmox!, { ...process.env, ...worldEnv(file) });
  // Listing pbs1 dies with 255 (as for a storage that is gone), guest 101 vanishes between calls.
  const failing = {
    ...tools,
    get: async <T>(path: string, params?: Record<string, string | number>): Promise<T> => {
      if (path === '/nodes/pve1/storage/pbs1/content') return tools.get<T>('/nodes/pve1/storage/nonexistent/content', params);
      if (path === '/nodes/pve1/qemu/101/snapshot') return tools.get<T>('/nodes/pve1/qemu/999/snapshot', params);
      return tools.get<T>(path, params);
    },
  };
  const scan = await scanProxmox(config, { tools: failing });
  assert.equal(scan.inventories.find((i) => i.job === 'vzdump-100-pbs1'), undefined);
  assert.ok(scan.inventories.find((i) => i.job === 'vzdump-100-nas-nfs'));
  assert.ok(scan.jobs.find((j) => j.name === 'vzdump-100-pbs1'), 'the job stays in the catalog');
  assert.match(scan.notes.join('\n'), /backups on storage pbs1 not listed: pvesh get \/nodes\/pve1\/storage\/nonexistent\/content --content backup --output-format json failed \(exit code 255\): storage 'nonexistent' does not exist/);
  assert.match(scan.notes.join('\n'), /snapshots of vm-101 not read: .*Configuration file 'nodes\/pve1\/qemu-server\/999.conf' does not exist/);

  // Without pvesh there is no scan: the error names the tool, its path and the config key.
  const broken = pveTools({ ...config.proxmox!, tools: { ...config.proxmox!.tools, pvesh: '/nonexistent/pvesh' } });
  await assert.rejects(scanProxmox(config, { tools: broken }), /pvesh get \/cluster\/resources --type vm --output-format json: cannot run \/nonexistent\/pvesh \(not found; set proxmox.tools.pvesh/);
});

test('which guests a job covers, as get_included_guests decides', () => {
  const guests: PveResource[] = [
    { vmid: 100, node: 'a', type: 'qemu', pool: 'p' },
    { vmid: 101, node: 'b', type: 'lxc', pool: 'p/q' },
    { vmid: 102, node: 'a', type: 'qemu' },
  ];
  const table: [string, PveBackupJobConfig, number[]][] = [
    ['a pool: its own members, not its sub-pools', { id: 'j', pool: 'p' }, [100]],
    ['a nested pool', { id: 'j', pool: 'p/q' }, [101]],
    ['a pool wins over a vmid list', { id: 'j', pool: 'p', vmid: '102' }, [100]],
    ['a vmid list, unknown ids left out', { id: 'j', vmid: '102,101,999' }, [101, 102]],
    ['all', { id: 'j', all: 1 }, [100, 101, 102]],
    ['all minus exclude', { id: 'j', all: 1, exclude: '101' }, [100, 102]],
    ['exclude alone means all minus exclude', { id: 'j', exclude: '100' }, [101, 102]],
    ['restricted to a node', { id: 'j', all: 1, node: 'a' }, [100, 102]],
    ['disabled', { id: 'j', all: 1, enabled: 0 }, []],
    ['nothing selected', { id: 'j' }, []],
  ];
  for (const [name, job, expected] of table) assert.deepEqual(includedGuests(job, guests), expected, name);
});

test('two jobs writing one guest to one storage make one catalog job with the more frequent schedule; keep-all and remove=0 keep everything', () => {
  const inv: PveInventory = {
    node: 'pve1',
    resources: [{ vmid: 100, node: 'pve1', type: 'qemu', name: 'a', template: 0 }],
    backupJobs: [
      { id: 'a-weekly', schedule: 'sun 01:00', vmid: '100', storage: 'local' },
      { id: 'b-daily', schedule: '03:00', vmid: '100', storage: 'local', 'prune-backups': { 'keep-all': 1 } },
      { id: 'c-legacy', dow: 'mon,tue', starttime: '04:00', vmid: '100', storage: 'usb', remove: 0, 'prune-backups': { 'keep-last': 2 } },
    ],
    storages: [
      { storage: 'local', type: 'dir', content: 'backup', 'prune-backups': 'keep-last=5' },
      { storage: 'usb', type: 'dir', content: 'backup' },
    ],
    pools: [],
    snapshots: new Map(),
    content: new Map(),
  };
  const scan = buildScan(inv, { targets: [], proxmox: { tiers: {}, exclude: [] } });
  assert.deepEqual(
    scan.jobs.map((j) => [j.name, j.schedule, j.retention, j.tier]),
    [
      ['vzdump-100-local', '0 3 * * *', {}, 4], // untiered: reported as tier 4
      ['vzdump-100-usb', '0 4 * * 1,2', {}, 4],
    ],
  );
  assert.deepEqual(scan.inventories, [], 'no storage was listed: no inventory claims anything');
});

test('end to end: the built agent daemon discovers the guests backups and the collector lists them with assets and tiers', async () => {
  const collector: Collector = await startCollector();
  cleanups.push(() => collector.stop('SIGKILL'));
  const file = writeWorld(sampleWorld());
  const agent = writeAgentConfig({
    name: 'pve1',
    jobs: `  - { name: etc-archive, asset: pve1-etc, tier: 2, target: local-disk, driver: command, command: [sh, -c, "echo ok"], schedule: "0 3 1 1 *" }\n`,
  });
  appendFileSync(agent.config, proxmoxYaml({ scan: '10s' }));
  enrollAgent(agent, collector);
  const daemon = new Proc(AGENT_BIN, ['daemon', '--config', agent.config], worldEnv(file));
  cleanups.push(() => daemon.stop('SIGKILL'));

  const byName = async () => new Map((await collector.status()).jobs.map((j) => [j.name, j]));
  const jobs = await waitFor('the vzdump jobs in the collector status', async () => {
    const m = await byName();
    return m.has('vzdump-100-pbs1') && m.has('vzdump-105-local') ? m : null;
  }, 20_000);
  assert.deepEqual([jobs.get('vzdump-100-pbs1')!.asset, jobs.get('vzdump-100-pbs1')!.tier], ['vm-100', 1]);
  assert.deepEqual([jobs.get('vzdump-105-local')!.asset, jobs.get('vzdump-105-local')!.tier], ['ct-105', 2]);
  assert.deepEqual([jobs.get('vzdump-101-nas-nfs')!.asset, jobs.get('vzdump-101-nas-nfs')!.tier], ['vm-101', 2]);
  assert.ok(jobs.has('etc-archive'), 'the configured job is still there');
  assert.ok(![...jobs.keys()].some((n) => /^vzdump-(103|104|106)-/.test(n)), 'no template, disabled-job or other-node guest');
  assert.match(daemon.output, /proxmox: 8 guest backup job\(s\) on node pve1/);

  // The next scan finds nothing new and sends nothing again: one proxmox message, one inventory per job.
  const contentCalls = () => readWorld(file).calls!.filter((c) => c.argv[1] === '/nodes/pve1/storage/pbs1/content').length;
  await waitFor('a second scan', () => contentCalls() >= 2, 20_000);
  await sleep(1500);
  const kinds = () => {
    const db = new Database(collector.db, { readonly: true, fileMustExist: true });
    try {
      return Object.fromEntries((db.prepare(`SELECT kind, count(*) AS n FROM messages GROUP BY kind`).all() as { kind: string; n: number }[]).map((r) => [r.kind, r.n]));
    } finally {
      db.close();
    }
  };
  assert.deepEqual([kinds().proxmox, kinds().inventory], [1, 8]);

  // A new guest in the all-guests job shows up at the next scan; a broken pvesh answer meanwhile is logged, not fatal.
  writeFileSync(`${file}.good`, JSON.stringify(readWorld(file)));
  writeFileSync(file, '{ not json');
  await waitFor('a logged failed scan', () => /proxmox scan failed/.test(daemon.output), 20_000);
  editWorld(`${file}.good`, (w) => w.guests.push({ vmid: 110, type: 'lxc', name: 'new01', node: 'pve1', status: 'running', tags: 'tier-1' }));
  writeFileSync(file, JSON.stringify(readWorld(`${file}.good`)));
  const later = await waitFor('vzdump-110-nas-nfs after the next scan', async () => (await byName()).get('vzdump-110-nas-nfs'), 20_000);
  assert.deepEqual([later.asset, later.tier], ['ct-110', 1]);
  await waitFor('the changed proxmox message and the new job inventory', () => kinds().proxmox === 2 && kinds().inventory === 9, 10_000);

  // A manual run says hello too: with the saved guest jobs, so it retires none of them.
  const run = cli(AGENT_BIN, ['run', 'etc-archive', '--config', agent.config], worldEnv(file));
  assert.equal(run.code, 0, run.stderr);
  const after = await byName();
  assert.ok(after.has('vzdump-110-nas-nfs') && after.has('vzdump-100-pbs1'), [...after.keys()].join(', '));
  assert.equal(daemon.child.exitCode, null, 'the daemon is still running');
});

test('a daemon\'s scans read at most 50 snapshot lists each, oldest first, and each again after 6 hours (no cluster-wide list: one pvesh call per guest)', async () => {
  const resources: PveResource[] = Array.from({ length: 120 }, (_, i) => ({ vmid: 100 + i, node: 'pve1', type: i % 2 ? 'lxc' : 'qemu' }));
  const asked: number[] = [];
  const tools = {
    get: async <T>(path: string): Promise<T> => {
      asked.push(Number(/\/(\d+)\/snapshot$/.exec(path)![1]));
      return [{ name: 'current', description: 'You are here!' }] as T;
    },
    run: async () => ({ stdout: '', stderr: '' }),
  } as unknown as PveTools;
  const cache: SnapshotCache = new Map();
  const T0 = Date.parse('2026-11-29T00:00:00Z');
  const scan = async (now: number) => {
    asked.length = 0;
    const lists = await readSnapshots('pve1', tools, resources, [], cache, now);
    return { asked: [...asked].sort((a, b) => a - b), listed: lists.size };
  };
  const first = await scan(T0);
  assert.equal(first.asked.length, SNAPSHOT_CALLS_PER_SCAN);
  assert.equal(first.listed, 50, 'guests not read yet are sent without snapshots, not with stale ones');
  const second = await scan(T0 + 15 * 60_000);
  assert.equal(second.asked.length, 50);
  assert.ok(second.asked.every((v) => !first.asked.includes(v)), 'the guests never read come first');
  assert.deepEqual(await scan(T0 + 30 * 60_000).then((s) => [s.asked.length, s.listed]), [20, 120]);
  assert.deepEqual(await scan(T0 + 45 * 60_000).then((s) => [s.asked.length, s.listed]), [0, 120], 'all fresh: no call');
  const later = await scan(T0 + SNAPSHOT_REFRESH_MS);
  assert.deepEqual(later.asked, first.asked, 'after 6 h the oldest lists are read again');
  // A guest that is gone is forgotten.
  await readSnapshots('pve1', tools, resources.slice(1), [], cache, T0 + SNAPSHOT_REFRESH_MS);
  assert.equal(cache.has(100), false);
});
