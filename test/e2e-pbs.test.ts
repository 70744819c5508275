import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { appendFileSync, existsSync, readdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import type { PbsWorld, PbsWorldTask } from './fixtures/pbs/world';
import type { World as PveWorld } from './fixtures/pve/world';
import { editWorld, pbsYaml, startPbsApi, TOKEN_ID, upid, writeTokenFile, writeWorld } from './helpers/pbs';
import { AGENT_BIN, enrollAgent, Proc, startCollector, tempDir, waitFor, writeAgentConfig } from './helpers/processes';
import { pbsName, proxmoxYaml, worldEnv as pveWorldEnv, writeWorld as writePveWorld } from './helpers/pve';

// The whole Proxmox Backup Server path with real processes: the built collector (SQLite file,
// evaluating every second), the built agent daemon on the PBS box (`pbs:` section, source api,
// the certificate's fingerprint pinned, the token secret in a 0600 file) and a second built agent
// daemon standing for the Proxmox VE host whose job vzdump-100-pbs1 writes vm/100 to store1.
// No PBS and no PVE can run here: the PBS API is the HTTPS stand-in of test/helpers/pbs.ts
// (startPbsApi, self-signed on loopback) and the PVE tools the stand-ins of test/fixtures/pve/bin,
// replaying ../shared/REFERENCE-INTEGRATIONS.md §5 (PBS: `{data}` answers, kebab-case items,
// snake_case tasks, stopped tasks listed too) and §3–4 (pvesh's JSON). Run `npm run build`
// first (or point LIFELINE_DIST at a bundle built with `scripts/build.mjs --outdir DIR`).

const cleanups: (() => Promise<unknown> | unknown)[] = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

const DAY = 86_400;
const GiB = 2 ** 30;
/** A distinctive token secret, looked for everywhere at the end. */
const SECRET = `e2e-pbs-${randomUUID()}-s3cr3t`;

/**
 * The PBS box `pbsbox`, `now` (epoch s) anchoring every time:
 * - store1 at 85 % (no forecast), GC daily but the last GC ran 3 days ago (missed since);
 * - store2 at 40 %, PBS's estimated-full-date 10 days ahead, GC weekly, not due yet;
 * - verify job v-weekly on store1 whose latest task (half an hour ago) failed;
 * - group vm/100 on store1: one snapshot 2 h old, verified ok, made by a backup task.
 */
function pbsWorld(now: number, snapshotAt: number): PbsWorld {
  const task = (type: string, id: string, start: number, end: number, status: string): PbsWorldTask => ({
    upid: upid({ node: 'pbsbox', starttime: start, type, id }),
    node: 'pbsbox',
    pid: 0x4f37,
    pstart: 0x39e469,
    starttime: start,
    endtime: end,
    status,
    worker_type: type,
    worker_id: id,
    user: 'root@pam',
  });
  const dir = tempDir('lifeline-e2e-pbs-stores-');
  const gcAt = now - 3 * DAY;
  return {
    node: 'pbsbox',
    datastores: [
      {
        name: 'store1',
        path: join(dir, 'store1'),
        'gc-schedule': 'daily',
        total: 1000 * GiB,
        used: 850 * GiB,
        avail: 150 * GiB,
        'estimated-full-date': 0,
        'gc-status': { upid: upid({ node: 'pbsbox', starttime: gcAt, type: 'garbage_collection', id: 'store1' }), 'removed-bytes': GiB, 'pending-bytes': 0, 'still-bad': 0 },
      },
      { name: 'store2', path: join(dir, 'store2'), 'gc-schedule': 'sat 03:30', total: 2000 * GiB, used: 800 * GiB, avail: 1200 * GiB, 'estimated-full-date': now + 10 * DAY },
    ],
    snapshots: {
      store1: [
        {
          'backup-type': 'vm',
          'backup-id': '100',
          'backup-time': snapshotAt,
          files: [{ filename: 'index.json.blob', 'crypt-mode': 'none', size: 512 }],
          size: 32 * GiB,
          owner: 'root@pam',
          verification: { upid: 'UPID:pbsbox:0:0:0:0:verify:store1:root@pam:', state: 'ok' },
        },
      ],
      store2: [],
    },
    tasks: [
      task('garbage_collection', 'store1', gcAt, gcAt + 600, 'OK'),
      task('backup', 'store1:vm/100', snapshotAt - 5, snapshotAt + 900, 'OK'),
      task('verificationjob', 'store1:v-weekly', now - 1800, now - 1200, 'verification failed - please check the log for details'),
    ],
    verifyJobs: [{ id: 'v-weekly', store: 'store1', schedule: 'sat 06:00' }],
    tokens: { [TOKEN_ID]: SECRET },
    calls: [],
  };
}

/** The PVE host `pve1`: guest 100 in pool tier-1, backed up daily to the PBS storage pbs1 (store1), listed there. */
function pveWorld(snapshotAt: number): PveWorld {
  return {
    node: 'pve1',
    guests: [{ vmid: 100, type: 'qemu', name: 'web01', node: 'pve1', status: 'running', pool: 'tier-1' }],
    pools: [{ poolid: 'tier-1' }],
    backupJobs: [{ id: 'backup-daily', type: 'vzdump', schedule: '02:00', enabled: 1, pool: 'tier-1', storage: 'pbs1', mode: 'snapshot' }],
    storages: [{ storage: 'pbs1', type: 'pbs', content: 'backup', datastore: 'store1' }],
    snapshots: {},
    content: { pbs1: [{ volid: `pbs1:backup/${pbsName('qemu', 100, snapshotAt)}`, vmid: 100, ctime: snapshotAt, size: 32 * GiB, format: 'pbs-vm', subtype: 'qemu', verification: { state: 'ok' } }] },
    taskDir: '/nonexistent/pve/tasks',
    logDir: '/nonexistent/vzdump',
    calls: [],
  };
}

/** Rewrites a PVE world whole (rename: a stand-in never reads half a file). */
function editPveWorld(file: string, edit: (w: PveWorld) => void): void {
  const w = JSON.parse(readFileSync(file, 'utf8')) as PveWorld;
  edit(w);
  writeFileSync(`${file}.tmp`, JSON.stringify(w, null, 1));
  renameSync(`${file}.tmp`, file);
}

const PBS1_TARGET = '  - { name: pbs1, location: onsite, media: pbs }\n';
const withPbs1Target = (config: string) => writeFileSync(config, readFileSync(config, 'utf8').replace('targets:\n', `targets:\n${PBS1_TARGET}`));

/** Every file under a directory, recursively. */
function filesUnder(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    return statSync(p).isDirectory() ? filesUnder(p) : [p];
  });
}

interface Incident {
  key: string;
  rule: string;
  title: string;
}
interface AssetRow {
  asset: string;
  tier: number;
  newestAt: string | null;
  rpoOk: boolean;
  badge: { copies: number; media: string[] };
}

test('a PBS box and a PVE host with the built agents and collector: datastore, server-job and verification incidents, vm-100 counted at pbs1 until its only snapshot fails verification; the token secret nowhere', async () => {
  const collector = await startCollector('incidents: { evaluateEvery: 1s, flap: 0s, reminder: 1d }\n');
  cleanups.push(() => collector.stop('SIGKILL'));
  /** Every API answer the test read, for the secret check at the end. */
  const answers: string[] = [];
  const get = async (path: string): Promise<string> => {
    const res = await fetch(`${collector.url}${path}`);
    const text = await res.text();
    answers.push(text);
    assert.equal(res.status, 200, `${path}: ${text}`);
    return text;
  };
  const getJson = async <T>(path: string): Promise<T> => JSON.parse(await get(path)) as T;
  const incidents = async () => (await getJson<{ incidents: Incident[] }>('/api/v1/incidents')).incidents;
  const openKeys = async () => new Set((await incidents()).map((i) => i.key));
  const vm100 = async () => (await getJson<{ tiers: { assets: AssetRow[] }[] }>('/api/v1/overview')).tiers.flatMap((t) => t.assets).find((a) => a.asset === 'vm-100');

  const now = Math.floor(Date.now() / 1000);
  const snapshotAt = now - 2 * 3600;
  const pbsFile = writeWorld(pbsWorld(now, snapshotAt));
  const api = await startPbsApi(pbsFile);
  cleanups.push(() => api.stop());
  const pveFile = writePveWorld(pveWorld(snapshotAt));

  // The PBS box: store1's copies count at the declared target pbs1, the PVE storage's name.
  const pbsAgent = writeAgentConfig({ name: 'pbs', jobs: '  []\n' });
  withPbs1Target(pbsAgent.config);
  const tokenFile = writeTokenFile(pbsAgent.dir, SECRET);
  assert.equal(statSync(tokenFile).mode & 0o777, 0o600);
  appendFileSync(pbsAgent.config, pbsYaml({ url: api.url, fingerprint: api.fingerprint, tokenSecretFile: tokenFile, scan: '10s', extra: '  datastores: { store1: { target: pbs1 } }\n' }));
  // The PVE host, its storage pbs1 declared the same way.
  const pveAgent = writeAgentConfig({ name: 'pve1', jobs: '  []\n' });
  withPbs1Target(pveAgent.config);
  appendFileSync(pveAgent.config, proxmoxYaml({ scan: '10s' }));
  enrollAgent(pbsAgent, collector);
  enrollAgent(pveAgent, collector);

  const pbsDaemon = new Proc(AGENT_BIN, ['daemon', '--config', pbsAgent.config]);
  cleanups.push(() => pbsDaemon.stop('SIGKILL'));
  const pveDaemon = new Proc(AGENT_BIN, ['daemon', '--config', pveAgent.config], pveWorldEnv(pveFile));
  cleanups.push(() => pveDaemon.stop('SIGKILL'));

  // 1–2. The datastores, the failed verify and the missed GC as incidents.
  const expected = ['capacity|pbs|datastore store1', 'capacity-forecast|pbs|datastore store2', 'failed-run|pbs|verify-v-weekly', 'missed-run|pbs|gc-store1'];
  const open = await waitFor(
    'the PBS incidents and the PVE host\'s job',
    async () => {
      const keys = await openKeys();
      const pveJob = (await collector.status()).jobs.some((j) => j.name === 'vzdump-100-pbs1');
      return pveJob && expected.every((k) => keys.has(k)) ? keys : null;
    },
    30_000,
    250,
  ).catch((err: Error) => assert.fail(`${err.message}\n--- pbs agent ---\n${pbsDaemon.output}\n--- pve agent ---\n${pveDaemon.output}`));
  for (const k of ['capacity|pbs|datastore store2', 'capacity-forecast|pbs|datastore store1', 'missed-run|pbs|gc-store2', 'snapshot-verify-failed|vm-100|pbs1', 'rpo|vm-100']) assert.ok(!open.has(k), `${k} is not open`);
  const titles = new Map((await incidents()).map((i) => [i.key, i.title]));
  assert.equal(titles.get('capacity|pbs|datastore store1'), 'datastore store1 on pbs is 85% full');
  assert.match(titles.get('capacity-forecast|pbs|datastore store2')!, /^datastore store2 on pbs will be full in (9|10) days \(PBS's estimate\)$/);
  assert.equal(titles.get('failed-run|pbs|verify-v-weekly'), 'verify-v-weekly on pbs failed');
  assert.match(titles.get('missed-run|pbs|gc-store1')!, /^gc-store1 on pbs missed its 00:00 run$/);

  // vm-100: the PVE host's tier 1 (pool tier-1), one job from each agent, both at pbs1: one fresh copy there.
  const status = await getJson<{ jobs: { agent: string; name: string; asset: string; tier: number; role: string; target: { name: string }; lastRun: { status: string; snapshotId: string | null } | null }[] }>('/api/v1/status');
  const jobsOf = status.jobs.filter((j) => j.asset === 'vm-100').map((j) => [j.agent, j.name, j.tier, j.target.name, j.lastRun?.status ?? null]);
  assert.deepEqual(jobsOf.sort(), [
    ['pbs', 'pbs-store1-vm-100', 4, 'pbs1', 'success'],
    ['pve1', 'vzdump-100-pbs1', 1, 'pbs1', null],
  ]);
  assert.equal(status.jobs.find((j) => j.name === 'pbs-store1-vm-100')!.lastRun!.snapshotId, pbsName('qemu', 100, snapshotAt));
  const before = await waitFor('vm-100 in the overview', vm100);
  assert.deepEqual(
    [before.tier, before.newestAt, before.rpoOk, before.badge.copies, before.badge.media],
    [1, new Date((snapshotAt + 900) * 1000).toISOString(), true, 2, ['disk', 'pbs']],
    'the newest copy is the backup task of vm/100, RPO ok, counted once at pbs1',
  );
  // The PVE host's job may reach the collector after the PBS incidents opened: wait for its pass.
  const threeTwoOne = await waitFor('the 3-2-1 incident of vm-100', async () => (await incidents()).find((i) => i.key === 'three-two-one|vm-100'), 30_000);
  assert.equal(threeTwoOne.title, 'vm-100 does not meet 3-2-1: 2 of 3 copies, no off-site copy');

  // 3. The only snapshot of vm/100 fails verification (PBS and, through pvesm, PVE both say so).
  editWorld(pbsFile, (w) => void (w.snapshots.store1[0].verification = { upid: 'UPID:pbsbox:1:1:1:1:verify:store1:root@pam:', state: 'failed' }));
  editPveWorld(pveFile, (w) => void (w.content.pbs1[0].verification = { state: 'failed' }));
  const after = await waitFor(
    'snapshot-verify-failed after the next scan',
    async () => {
      const list = await incidents();
      return list.some((i) => i.key === 'snapshot-verify-failed|vm-100|pbs1') && list.some((i) => i.key === 'three-two-one|vm-100' && i.title.includes('1 of 3')) ? list : null;
    },
    25_000,
    250,
  ).catch((err: Error) => assert.fail(`${err.message}\n--- pbs agent ---\n${pbsDaemon.output}`));
  const afterTitles = new Map(after.map((i) => [i.key, i.title]));
  // Named as the newest listing names it: the PBS group's path, or the PVE storage's volid.
  const failedTitle = afterTitles.get('snapshot-verify-failed|vm-100|pbs1')!;
  assert.ok([pbsName('qemu', 100, snapshotAt), `pbs1:backup/${pbsName('qemu', 100, snapshotAt)}`].some((id) => failedTitle === `The newest snapshot of vm-100 at pbs1 failed verification: ${id}`), failedTitle);
  // Its copy no longer counts: 3-2-1 is down to the original, the page has no good copy and says the RPO is not met.
  assert.equal(afterTitles.get('three-two-one|vm-100'), 'vm-100 does not meet 3-2-1: 1 of 3 copies, only one media kind (disk), no off-site copy');
  const now100 = await vm100();
  assert.deepEqual([now100!.newestAt, now100!.rpoOk, now100!.badge.copies], [null, false, 1]);
  // The rpo incident itself waits for the RPO to pass since the collector first saw the jobs
  // (seconds ago here: a job that never left a good copy counts from then, rules/rpo.ts).
  assert.ok(!afterTitles.has('rpo|vm-100'));
  for (const k of expected) assert.ok(afterTitles.has(k), `${k} still open`);

  const metrics = await get('/metrics');
  assert.match(metrics, new RegExp(`^lifeline_pbs_datastore_used_bytes\\{agent="pbs",datastore="store1"\\} ${850 * GiB}$`, 'm'));
  assert.match(metrics, new RegExp(`^lifeline_pbs_datastore_size_bytes\\{agent="pbs",datastore="store1"\\} ${1000 * GiB}$`, 'm'));
  assert.match(metrics, /^lifeline_asset_rpo_ok\{asset="vm-100",tier="1"\} 0$/m);

  // 4. The token secret: in no log line, spool or state file, database file or API answer.
  await get('/');
  await get('/api/v1/assets/vm-100');
  await get('/api/v1/status');
  await get('/api/v1/incidents?state=all');
  for (const [name, out] of [['pbs agent', pbsDaemon.output], ['pve agent', pveDaemon.output], ['collector', collector.proc.output]]) assert.ok(!out.includes(SECRET), `the secret in the ${name}'s log`);
  const stateFiles = filesUnder(pbsAgent.stateDir);
  assert.ok(stateFiles.some((f) => f.includes('spool')), stateFiles.join('\n'));
  for (const f of [...stateFiles, ...filesUnder(collector.dir)]) assert.ok(!readFileSync(f).includes(SECRET), `the secret in ${f}`);
  assert.ok(filesUnder(collector.dir).includes(collector.db));
  for (const a of answers) assert.ok(!a.includes(SECRET), 'the secret in an API answer');
  assert.ok(!/pbs scan failed/.test(pbsDaemon.output), pbsDaemon.output);
});
