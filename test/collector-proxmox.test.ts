import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { test } from 'node:test';
import { collectorConfig, rulesConfig, tierPolicies } from '../collector/config';
import { Evaluator } from '../collector/evaluate/evaluator';
import type { CatalogJob, PveGuest, Unsequenced } from '../shared/protocol';
import { TestAgent, catalogJob, hello, run, testCollector } from './collector-helpers';

// The collector side of Proxmox VE through its real HTTP ingest: the agent's 'proxmox' message
// stored (newest seq wins), judged by the coverage audit on every pass, counted on the overview,
// the API and /metrics, and the restore runbook of a vzdump copy from its inventoried volume id.

const DAY = 86_400_000;

const guest = (over: Partial<PveGuest> = {}): PveGuest => ({
  vmid: 100,
  type: 'qemu',
  name: 'web01',
  node: 'pve1',
  pool: 'tier-1',
  tags: [],
  template: false,
  tier: 1,
  tierFrom: 'pool',
  excluded: false,
  snapshots: [],
  ...over,
});

// `declared`: whether agent.yaml has a target of that name.
const STORAGES = [
  { id: 'local', type: 'dir', content: 'iso,vztmpl,backup', shared: false, declared: false },
  { id: 'local-zfs', type: 'zfspool', content: 'images,rootdir', shared: false, declared: false },
  { id: 'pbs1', type: 'pbs', content: 'backup', shared: true, declared: true },
];

const proxmox = (guests: PveGuest[], over: Record<string, unknown> = {}): Unsequenced =>
  ({
    kind: 'proxmox',
    node: 'pve1',
    guests,
    backupJobs: [{ id: 'backup-daily', enabled: true, schedule: '02:00', cron: '0 2 * * *', storage: 'pbs1', vmids: [100, 105] }],
    storages: STORAGES,
    ...over,
  }) as Unsequenced;

const vzdumpJob = (vmid: number, type: 'qemu' | 'lxc', storage = 'pbs1'): CatalogJob =>
  catalogJob(`vzdump-${vmid}-${storage}`, {
    asset: `${type === 'lxc' ? 'ct' : 'vm'}-${vmid}`,
    driver: 'vzdump',
    target: { name: storage, location: 'onsite', media: 'pbs' },
    restore: { vmtype: type, vmid: String(vmid), storage, storageType: 'pbs', node: 'pve1' },
  });

function setup() {
  const agent = new TestAgent('pve1');
  const c = testCollector([agent], { incidents: { flap: '0s' } });
  const cfg = collectorConfig({});
  const evaluator = new Evaluator({ db: c.db, tiers: tierPolicies(cfg), rules: rulesConfig(cfg), channels: [], reminderMs: DAY, flapMs: 0 });
  const send = async (...messages: Unsequenced[]) => {
    const res = await c.app.inject(agent.report({ messages: messages.map((m) => agent.msg(m)) }));
    assert.equal(res.statusCode, 200, res.body);
    return res.json();
  };
  const open = () => (c.db.prepare('SELECT key FROM incidents WHERE resolved_at IS NULL ORDER BY key').all() as { key: string }[]).map((r) => r.key);
  return { agent, c, evaluator, send, open };
}

test('the newest proxmox message per agent is kept: a higher seq replaces it, an older one does not', async () => {
  const { agent, c } = setup();
  const stored = () => JSON.parse((c.db.prepare('SELECT body FROM proxmox').get() as { body: string }).body);
  const second = agent.msg(proxmox([guest({ name: 'second' })]));
  const first = { ...agent.msg(proxmox([guest({ name: 'first' })])), seq: second.seq - 1 };
  agent.seq = second.seq + 10;
  assert.equal((await c.app.inject(agent.report({ messages: [second] }))).statusCode, 200);
  assert.equal((await c.app.inject(agent.report({ messages: [first] }))).json().accepted, 1, 'a new seq, stored as a message');
  assert.equal(stored().guests[0].name, 'second', 'the older message does not roll it back');
  const third = agent.msg(proxmox([guest({ name: 'third' })]));
  assert.equal((await c.app.inject(agent.report({ messages: [third] }))).statusCode, 200);
  const body = stored();
  assert.equal(body.guests[0].name, 'third');
  assert.equal(body.node, 'pve1');
  assert.deepEqual(Object.keys(body).sort(), ['backupJobs', 'guests', 'node', 'storages'], 'without the envelope');
  assert.equal((c.db.prepare('SELECT count(*) AS n FROM proxmox').get() as { n: number }).n, 1);
});

test('each pass judges the newest proxmox message: an incident opens, and resolves once the guest has a tier and a job', async () => {
  const { c, evaluator, send, open } = setup();
  await send(hello([]), proxmox([guest({ vmid: 101, name: 'db01', tier: null, tierFrom: null, pool: undefined }), guest({ vmid: 102, name: 'ci', tier: 2 })]));
  evaluator.pass(c.clock.now, true);
  assert.deepEqual(open(), ['guest-not-covered|pve1|vm-102', 'guest-untiered|pve1|vm-101']);
  const incident = c.db.prepare("SELECT title, severity, tier FROM incidents WHERE key = 'guest-not-covered|pve1|vm-102'").get();
  assert.deepEqual(incident, { title: 'vm-102 (ci) on pve1 is not backed up by any enabled job', severity: 'critical', tier: 2 });

  // The guests get a tier and a job: no catalog job changes, only the proxmox message. An
  // incremental pass (not a full one) sees it.
  c.clock.now += 60_000;
  await send(proxmox([guest({ vmid: 101, name: 'db01', tier: 3, tierFrom: 'tag' }), guest({ vmid: 102, name: 'ci', tier: 2 })], {
    backupJobs: [{ id: 'backup-daily', enabled: true, schedule: '02:00', cron: '0 2 * * *', storage: 'pbs1', vmids: [101, 102] }],
  }));
  const pass = evaluator.pass(c.clock.now);
  assert.equal(pass.full, false);
  assert.deepEqual(open(), []);
  assert.equal(pass.resolved.length, 2);
});

test("a backup storage agent.yaml does not declare, as the agent says it, opens storage-undeclared; declaring it resolves it", async () => {
  const { c, evaluator, send, open } = setup();
  const toLocal = { backupJobs: [{ id: 'backup-daily', enabled: true, schedule: '02:00', cron: '0 2 * * *', storage: 'local', vmids: [100] }] };
  await send(hello([]), proxmox([guest()], toLocal));
  evaluator.pass(c.clock.now, true);
  assert.deepEqual(open(), ['storage-undeclared|pve1|local']);
  c.clock.now += 60_000;
  await send(proxmox([guest()], { ...toLocal, storages: STORAGES.map((s) => ({ ...s, declared: true })) }));
  evaluator.pass(c.clock.now);
  assert.deepEqual(open(), []);
});

test('the overview counts guests per Proxmox agent and names the guest beside its asset, on the page and in JSON', async () => {
  const { c, send } = setup();
  const good = randomUUID();
  await send(
    hello([vzdumpJob(100, 'qemu'), vzdumpJob(105, 'lxc')]),
    proxmox([
      guest(),
      guest({ vmid: 105, type: 'lxc', name: '<b>ct</b>' }),
      guest({ vmid: 106, tier: null, tierFrom: null, pool: undefined, snapshots: [{ name: 'old', time: '2024-12-01T00:00:00Z' }, { name: 'odd', time: null }] }),
      guest({ vmid: 900, template: true, tier: null, tierFrom: null }),
      guest({ vmid: 901, excluded: true }),
    ]),
    run('vzdump-100-pbs1', good, { finishedAt: '2025-01-01T02:10:00.000Z' }),
  );
  const v = (await c.app.inject({ method: 'GET', url: '/api/v1/overview' })).json();
  assert.deepEqual(v.proxmox, [
    { agent: 'pve1', node: 'pve1', total: 3, tiered: 2, covered: 2, templates: 1, excluded: 1, staleSnapshots: 1, undatedSnapshots: 1, updatedAt: '2025-01-01T03:00:00.000Z' },
  ]);
  const rows = v.tiers[0].assets as { asset: string; guestName: string | null }[];
  assert.deepEqual(rows.map((r) => [r.asset, r.guestName]).sort(), [['ct-105', '<b>ct</b>'], ['vm-100', 'web01']]);

  const html = (await c.app.inject({ method: 'GET', url: '/' })).body;
  assert.match(html, /<a href="\/assets\/vm-100">vm-100<\/a> <small class="guest">web01<\/small>/);
  assert.match(html, /<small class="guest">&lt;b&gt;ct&lt;\/b&gt;<\/small>/, 'agent text escaped');
  assert.ok(!html.includes('<b>ct</b>'));
  assert.match(html, /<h2 id="proxmox-h">Proxmox VE guests<\/h2>/);
  assert.match(html, /<tr><th scope="row">pve1<\/th><td>pve1<\/td><td>3<\/td><td class="bad">✖ 2 of 3<\/td><td class="bad">✖ 2 of 3<\/td><td>1 template, 1 excluded<\/td><td class="warn">⚠ 1 stale, 1 without a time<\/td><\/tr>/);

  const asset = (await c.app.inject({ method: 'GET', url: '/api/v1/assets/vm-100' })).json();
  assert.equal(asset.guestName, 'web01');
  assert.match((await c.app.inject({ method: 'GET', url: '/assets/vm-100' })).body, /<h1>Asset vm-100 <small class="guest">web01<\/small><\/h1>/);

  const metrics = (await c.app.inject({ method: 'GET', url: '/metrics' })).body;
  assert.match(metrics, /^lifeline_proxmox_guests\{agent="pve1",state="total"\} 3$/m);
  assert.match(metrics, /^lifeline_proxmox_guests\{agent="pve1",state="tiered"\} 2$/m);
  assert.match(metrics, /^lifeline_proxmox_guests\{agent="pve1",state="covered"\} 2$/m);
});

test('without a Proxmox agent the overview has no Proxmox section and an empty list', async () => {
  const { c, send } = setup();
  await send(hello([catalogJob('etc', { asset: 'etc' })]));
  const v = (await c.app.inject({ method: 'GET', url: '/api/v1/overview' })).json();
  assert.deepEqual(v.proxmox, []);
  assert.equal(v.tiers[0].assets[0].guestName, null);
  assert.ok(!(await c.app.inject({ method: 'GET', url: '/' })).body.includes('proxmox-h'));
  assert.ok(!(await c.app.inject({ method: 'GET', url: '/metrics' })).body.includes('lifeline_proxmox_guests{'));
});

test("a vzdump copy's runbook restores the newest inventoried volume id; a container's volumes go to a storage for container data", async () => {
  const { c, send } = setup();
  await send(
    hello([vzdumpJob(100, 'qemu'), vzdumpJob(105, 'lxc')]),
    proxmox([guest(), guest({ vmid: 105, type: 'lxc', name: 'dns' })]),
    {
      kind: 'inventory',
      job: 'vzdump-100-pbs1',
      target: 'pbs1',
      snapshots: [
        { id: 'pbs1:backup/vm/100/2024-12-31T01:00:03Z', time: '2024-12-31T01:00:03Z' },
        { id: 'pbs1:backup/vm/100/2025-01-01T01:00:03Z', time: '2025-01-01T01:00:03Z' },
      ],
    } as Unsequenced,
    { kind: 'inventory', job: 'vzdump-105-pbs1', target: 'pbs1', snapshots: [{ id: 'pbs1:backup/ct/105/2025-01-01T01:10:00Z', time: '2025-01-01T01:10:00Z' }] } as Unsequenced,
  );
  const vm = (await c.app.inject({ method: 'GET', url: '/api/v1/assets/vm-100' })).json();
  assert.deepEqual(vm.runbooks[0].commands, ['qmrestore pbs1:backup/vm/100/2025-01-01T01:00:03Z 100']);
  assert.match(vm.runbooks[0].title, /vzdump snapshot pbs1:backup\/vm\/100\/2025-01-01T01:00:03Z/);
  const ct = (await c.app.inject({ method: 'GET', url: '/api/v1/assets/ct-105' })).json();
  assert.deepEqual(ct.runbooks[0].commands, ['pct restore 105 pbs1:backup/ct/105/2025-01-01T01:10:00Z --storage local-zfs']);
  assert.ok(ct.runbooks[0].notes.some((n: string) => n.includes('pct restore "$(pvesh get /cluster/nextid)" pbs1:backup/ct/105/2025-01-01T01:10:00Z --storage local-zfs --unique 1')));
});
