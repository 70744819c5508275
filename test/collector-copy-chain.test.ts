import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { test } from 'node:test';
import { collectorConfig, rulesConfig, tierPolicies } from '../collector/config';
import { Evaluator } from '../collector/evaluate/evaluator';
import type { CatalogJob, Unsequenced } from '../shared/protocol';
import { TestAgent, catalogJob, heartbeat, hello, run, testCollector } from './collector-helpers';

// Copies of copies through the collector's real ingest and evaluator (issue 13): a restic job on
// the PBS host backing up the datastore (`source: { target: pbs1 }`) gives vm-100 and vm-101 an
// off-site copy; the page, /metrics and the incidents follow the chain; an incremental pass
// judges the chain exactly as a full one does.

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const PBS1 = { name: 'pbs1', location: 'onsite', media: 'pbs' } as const;
const CLOUD = { name: 'cloud', location: 'offsite', media: 'cloud' } as const;

const guestJob = (vmid: number): CatalogJob =>
  catalogJob(`vzdump-${vmid}-pbs1`, {
    asset: `vm-${vmid}`,
    driver: 'vzdump',
    target: PBS1,
    schedule: '0 1 * * *',
    restore: { vmtype: 'qemu', vmid: String(vmid), storage: 'pbs1', storageType: 'pbs', node: 'pve1' },
  });
const linkJob = catalogJob('cloud-restic', {
  asset: 'pbs-datastore',
  tier: 2,
  driver: 'restic',
  target: CLOUD,
  schedule: '0 3 * * *',
  source: { target: 'pbs1' },
  restore: { repository: 's3:s3.example/pbs', passwordFile: '/etc/lifeline/restic.pass', paths: '/mnt/datastore/store1' },
});
const inventory = (vmid: number, ...isos: string[]): Unsequenced =>
  ({ kind: 'inventory', job: `vzdump-${vmid}-pbs1`, target: 'pbs1', snapshots: isos.map((t) => ({ id: `pbs1:backup/vm/${vmid}/${t}`, time: t })) }) as Unsequenced;
const backup = (job: string, startIso: string, minutes: number, status = 'success'): Unsequenced => {
  const start = Date.parse(startIso);
  return run(job, randomUUID(), {
    startedAt: new Date(start).toISOString(),
    finishedAt: new Date(start + minutes * 60_000).toISOString(),
    durationMs: minutes * 60_000,
    status,
    exitCode: status === 'success' ? 0 : 1,
    ...(status === 'success' ? {} : { error: 'Fatal: unable to open repository' }),
  });
};

function setup() {
  const pve1 = new TestAgent('pve1');
  const pbsAgent = new TestAgent('pbs');
  const c = testCollector([pve1, pbsAgent], { incidents: { flap: '0s' } });
  const cfg = collectorConfig({});
  const evaluator = (fullEveryMs?: number) =>
    new Evaluator({ db: c.db, tiers: tierPolicies(cfg), rules: rulesConfig(cfg), channels: [], reminderMs: DAY, flapMs: 0, ...(fullEveryMs ? { fullEveryMs } : {}) });
  const sendAs = (agent: TestAgent) => async (...messages: Unsequenced[]) => {
    const res = await c.app.inject(agent.report({ messages: messages.map((m) => agent.msg(m, new Date(c.clock.now))) }));
    assert.equal(res.statusCode, 200, res.body);
  };
  const get = async (url: string) => (await c.app.inject({ method: 'GET', url })).json();
  return { c, evaluator, pve: sendAs(pve1), pbs: sendAs(pbsAgent), get };
}

test('the link job reaches the collector with its source; vm-100 gets its off-site copy through it on the page, in /metrics, with a two-step runbook', async () => {
  const { c, evaluator, pve, pbs, get } = setup();
  c.clock.now = Date.parse('2025-01-02T06:00:00Z');
  await pve(hello([guestJob(100)]), backup('vzdump-100-pbs1', '2025-01-02T01:00:00Z', 10), inventory(100, '2025-01-01T01:00:00Z', '2025-01-02T01:00:00Z'));
  await pbs(hello([linkJob]), backup('cloud-restic', '2025-01-02T03:00:00Z', 20));
  assert.equal((c.db.prepare("SELECT source_target AS s FROM jobs WHERE name = 'cloud-restic'").get() as { s: string }).s, 'pbs1');
  const status = await get('/api/v1/status');
  assert.deepEqual(status.jobs.map((j: { name: string; source?: unknown }) => [j.name, j.source ?? null]), [['cloud-restic', { target: 'pbs1' }], ['vzdump-100-pbs1', null]]);
  const pass = evaluator().pass(c.clock.now, true);
  assert.deepEqual(pass.findings.filter((f) => f.asset === 'vm-100').map((f) => f.key), [], 'vm-100 meets 3-2-1 through the chain');

  const asset = await get('/api/v1/assets/vm-100');
  assert.deepEqual(asset.badge, { copies: 3, media: ['disk', 'pbs', 'cloud'], offsite: 1, ok: true, missing: [] });
  assert.equal(asset.ageMs, 5 * HOUR - 10 * 60_000, 'the newest copy is the direct one (finished 01:10)');
  const derived = asset.copies.find((r: { job: string }) => r.job === 'cloud-restic via pbs1');
  assert.equal(derived.chain.text, 'vm-100 → pbs1 (pbs, on-site) → cloud-restic (cloud, off-site)');
  assert.equal(derived.lastSuccessAt, '2025-01-02T01:00:00.000Z', 'the snapshot the copying run found');
  assert.equal(derived.fresh, true);
  const book = asset.runbooks.find((r: { job: string }) => r.job === 'cloud-restic via pbs1');
  assert.deepEqual(book.steps.map((s: { job: string }) => s.job), ['cloud-restic', 'vzdump-100-pbs1']);
  assert.match(book.steps[0].commands[0], /restic restore latest --target \/restore\/cloud-restic/);
  assert.deepEqual(book.steps[1].commands, ['qmrestore pbs1:backup/vm/100/2025-01-02T01:00:00Z 100']);
  assert.match(book.notes[0], /Not every step has a restore drill/);
  assert.ok(!asset.series.some((s: { label: string }) => s.label.includes(' via ')));
  const html = (await c.app.inject({ method: 'GET', url: '/assets/vm-100' })).body;
  assert.ok(html.includes('vm-100 → pbs1 (pbs, on-site) → cloud-restic (cloud, off-site)'));
  assert.match(html, /<ol class="steps"><li><h4>Restore cloud-restic on pbs/);

  const metrics = (await c.app.inject({ method: 'GET', url: '/metrics' })).body;
  assert.match(metrics, /^lifeline_asset_offsite_copies\{asset="vm-100",tier="1"\} 1$/m);
  assert.match(metrics, /^lifeline_asset_three_two_one_ok\{asset="vm-100",tier="1"\} 1$/m);
  assert.ok(!metrics.includes('via pbs1'), 'a derived copy is no job series');
  const r = spawnSync('/usr/bin/promtool', ['check', 'metrics'], { input: metrics, encoding: 'utf8' });
  assert.equal(r.status, 0, `${r.stdout}${r.stderr}`);
});

test('an incremental pass judges the chain as a full pass does: the link failing, its copies going stale, a new backup', async () => {
  const { c, evaluator, pve, pbs } = setup();
  c.clock.now = Date.parse('2025-01-02T06:00:00Z');
  await pve(hello([guestJob(100), guestJob(101)]), backup('vzdump-100-pbs1', '2025-01-02T01:00:00Z', 10), backup('vzdump-101-pbs1', '2025-01-02T01:00:00Z', 10));
  await pve(inventory(100, '2025-01-02T01:00:00Z'), inventory(101, '2025-01-02T01:00:00Z'));
  await pbs(hello([linkJob]), backup('cloud-restic', '2025-01-02T03:00:00Z', 20));
  // Never a full pass after the first: every later one is incremental.
  const incremental = evaluator(30 * DAY);
  const judged = (p: { findings: { key: string; title: string }[] }) => p.findings.map((f) => `${f.key}: ${f.title}`).sort();
  const compare = (label: string) => {
    const inc = incremental.pass(c.clock.now);
    const full = evaluator().pass(c.clock.now, true);
    assert.equal(inc.full, label === 'first', label);
    assert.deepEqual(judged(inc), judged(full), label);
    return judged(full);
  };
  compare('first');
  // 1 ms before the copy of 01:00 yesterday is 24 h old, pve1 alone reports: nothing is stale yet.
  c.clock.now = Date.parse('2025-01-03T00:59:59.999Z');
  await pve(heartbeat());
  const fresh = compare('just within the RPO');
  assert.deepEqual(fresh.filter((f) => f.includes('vm-10')), []);
  // 1 ms past it, with no report: the off-site copies are stale (the link's recheck, not a report).
  c.clock.now = Date.parse('2025-01-03T01:00:00.001Z');
  const stale = compare('past the RPO, nobody reported');
  assert.deepEqual(
    stale.filter((f) => f.includes('vm-10')),
    [
      'copy-chain-broken|pbs|cloud-restic: cloud-restic has not run for 22h: vm-100 and vm-101 have no fresh off-site copy',
      'rpo-target|pbs|cloud-restic via pbs1|vm-100: The offsite copy of vm-100 at cloud is stale',
      'rpo-target|pbs|cloud-restic via pbs1|vm-101: The offsite copy of vm-101 at cloud is stale',
      'three-two-one|vm-100: vm-100 does not meet 3-2-1: 2 of 3 copies, no off-site copy',
      'three-two-one|vm-101: vm-101 does not meet 3-2-1: 2 of 3 copies, no off-site copy',
    ],
  );
  // pve1 reports its next backups: the off-site copies stay stale until the link copies them.
  c.clock.now = Date.parse('2025-01-03T02:00:00Z');
  await pve(backup('vzdump-100-pbs1', '2025-01-03T01:00:00Z', 10), backup('vzdump-101-pbs1', '2025-01-03T01:00:00Z', 10));
  compare('new guest backups');
  // The link fails: only the PBS host reports, and both guests are judged again through it.
  c.clock.now = Date.parse('2025-01-03T03:30:00Z');
  await pbs(backup('cloud-restic', '2025-01-03T03:00:00Z', 5, 'failure'), heartbeat());
  const failed = compare('the link failed');
  assert.ok(failed.includes('copy-chain-broken|pbs|cloud-restic: cloud-restic failed 30m ago: vm-100 and vm-101 have no fresh off-site copy'), failed.join('\n'));
  // It succeeds again: the chain is whole, the incident gone.
  c.clock.now = Date.parse('2025-01-03T05:00:00Z');
  await pbs(backup('cloud-restic', '2025-01-03T04:00:00Z', 20));
  const whole = compare('the link copied again');
  assert.ok(!whole.some((f) => f.startsWith('copy-chain-broken') || f.startsWith('three-two-one|vm-10')), whole.join('\n'));
});
