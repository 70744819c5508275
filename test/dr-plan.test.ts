import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import type { CopyRow, DrillRow, Runbook } from '../collector/view/asset';
import { drPlanView, type DrAssetFacts, type DrPlan } from '../collector/view/dr-plan';
import { TestAgent, catalogJob, hello, run, tempDir, testCollector } from './collector-helpers';

const H = 3_600_000;
const D = 24 * H;
const now = Date.parse('2025-01-15T12:00:00Z');
const iso = (t: number) => new Date(t).toISOString();

const copy = (job: string, location: 'onsite' | 'offsite', lastSuccess: number | null, over: Partial<CopyRow> = {}): CopyRow => ({
  agent: 'pve1',
  job,
  driver: 'restic',
  target: { name: `${job}-t`, location, media: location === 'offsite' ? 'cloud' : 'usb' },
  schedule: '0 2 * * *',
  nextRunAt: null,
  lastSuccessAt: lastSuccess === null ? null : iso(lastSuccess),
  fresh: lastSuccess !== null && now - lastSuccess <= D,
  snapshot: null,
  snapshots: null,
  ...over,
});
const book = (job: string, over: Partial<Runbook> = {}): Runbook => ({ agent: 'pve1', job, target: `${job}-t`, title: `Restore ${job}`, commands: [`restic restore latest # ${job}`], notes: [], ...over });
const drill = (job: string, durationMs: number | null, status: DrillRow['status'] = 'success', ago = H): DrillRow => ({
  agent: 'pve1',
  job,
  runId: randomUUID(),
  status,
  startedAt: iso(now - ago),
  finishedAt: null,
  durationMs,
  bytesAdded: null,
  bytesTotal: null,
  exitCode: status === 'success' ? 0 : 1,
  error: null,
  hasLog: false,
  note: null,
  rtoOk: null,
});
const facts = (asset: string, tier: 1 | 2 | 3 | 4, copies: CopyRow[], runbooks: Runbook[], drills: DrillRow[] = [], over: Partial<DrAssetFacts> = {}): DrAssetFacts => ({
  asset,
  guestName: null,
  tier,
  rpoMs: D,
  rtoMs: 4 * H,
  copies,
  runbooks,
  drills,
  ...over,
});

test('drPlanView: the copy chosen, the expected time against the RTO and every gap, per asset', () => {
  const rows: [string, DrAssetFacts, { copy: string | null; expectedMs: number | null; rtoOk: boolean | null; gaps: RegExp[]; steps: number }][] = [
    [
      'a fresh off-site copy with a drill within the RTO: no gap (the off-site copy, though an on-site one is newer)',
      facts('ok', 1, [copy('ok-usb', 'onsite', now - H), copy('ok-cloud', 'offsite', now - 2 * H)], [book('ok-usb'), book('ok-cloud')], [drill('ok-cloud', 600_000)]),
      { copy: 'ok-cloud', expectedMs: 600_000, rtoOk: true, gaps: [], steps: 1 },
    ],
    [
      'on-site copies only: the newest of them, marked',
      facts('local', 1, [copy('local-usb', 'onsite', now - H)], [book('local-usb')], [drill('local-usb', 60_000)]),
      { copy: 'local-usb', expectedMs: 60_000, rtoOk: true, gaps: [/^no off-site copy: the newest is at local-usb-t \(on-site\)/], steps: 1 },
    ],
    ['no drill yet', facts('nodrill', 1, [copy('nd', 'offsite', now - H)], [book('nd')]), { copy: 'nd', expectedMs: null, rtoOk: null, gaps: [/^no restore drill of this copy yet/], steps: 1 }],
    [
      'a drill slower than the RTO',
      facts('slow', 1, [copy('slow', 'offsite', now - H)], [book('slow')], [drill('slow', 5 * H)]),
      { copy: 'slow', expectedMs: 5 * H, rtoOk: false, gaps: [/^the restore drills took 5h, beyond the 4h RTO$/], steps: 1 },
    ],
    [
      'a drill exactly at the RTO: within',
      facts('edge', 1, [copy('edge', 'offsite', now - H)], [book('edge')], [drill('edge', 4 * H)]),
      { copy: 'edge', expectedMs: 4 * H, rtoOk: true, gaps: [], steps: 1 },
    ],
    [
      'an off-site copy older than the RPO',
      facts('stale', 1, [copy('stale', 'offsite', now - 2 * D)], [book('stale')], [drill('stale', 60_000)]),
      { copy: 'stale', expectedMs: 60_000, rtoOk: true, gaps: [/^the off-site copy is 2d old, beyond the 1d RPO$/], steps: 1 },
    ],
    ['no good copy at all', facts('never', 1, [copy('never', 'offsite', null)], [book('never')]), { copy: null, expectedMs: null, rtoOk: null, gaps: [/^no good copy at all$/], steps: 0 }],
    [
      'the newest drill failed: the older one still times it',
      facts('flaky', 1, [copy('flaky', 'offsite', now - H)], [book('flaky')], [drill('flaky', 30_000, 'failure'), drill('flaky', 600_000, 'success', D)]),
      { copy: 'flaky', expectedMs: 600_000, rtoOk: true, gaps: [/^its newest restore drill ended failure$/], steps: 1 },
    ],
    [
      'a copy of a copy: the chain steps in order, the times added up',
      facts(
        'vm-100',
        1,
        [copy('cloud-restic', 'offsite', now - H, { chain: { text: 'vm-100 → pbs1 (pbs, on-site) → cloud-restic (cloud, off-site)', hops: [] } })],
        [
          book('cloud-restic', {
            steps: [
              { agent: 'pbs1', job: 'cloud-restic', target: 'cloud-restic-t', title: 'Restore the datastore', commands: ['restic restore latest --target /srv/pbs'], notes: [], expectedMs: 20 * 60_000 },
              { agent: 'pve1', job: 'vzdump-100', target: 'pbs1', title: 'Restore the guest', commands: ['qmrestore pbs1:backup/vm/100/x 100'], notes: [], expectedMs: 10 * 60_000 },
            ],
          }),
        ],
      ),
      { copy: 'cloud-restic', expectedMs: 30 * 60_000, rtoOk: true, gaps: [], steps: 2 },
    ],
    [
      'no restore command could be written',
      facts('nocmd', 1, [copy('nocmd', 'offsite', now - H)], [book('nocmd', { commands: [], notes: ["The job's restore facts were not sent"] })], [drill('nocmd', 60_000)]),
      { copy: 'nocmd', expectedMs: 60_000, rtoOk: true, gaps: [/^no restore command could be written/], steps: 1 },
    ],
  ];
  for (const [name, a, want] of rows) {
    const [p] = drPlanView({ agent: 'pve1', hostname: 'pve1.lan', assets: [a] }, now).assets;
    assert.equal(p.copy?.job ?? null, want.copy, name);
    assert.equal(p.expectedMs, want.expectedMs, name);
    assert.equal(p.rtoOk, want.rtoOk, name);
    assert.equal(p.restore.length, want.steps, name);
    assert.equal(p.gaps.length, want.gaps.length, `${name}: ${p.gaps.join(' | ')}`);
    want.gaps.forEach((re, i) => assert.match(p.gaps[i], re, name));
  }
  const chain = drPlanView({ agent: 'pve1', hostname: null, assets: [rows[8][1]] }, now).assets[0];
  assert.deepEqual(
    chain.restore.map((s) => s.title),
    ['Restore the datastore', 'Restore the guest'],
  );
});

test('drPlanView: the host first, then tier by tier the guests, the databases and the application data', () => {
  const one = (asset: string, tier: 1 | 2 | 3, driver = 'restic', over: Partial<DrAssetFacts> = {}) =>
    facts(asset, tier, [copy(asset, 'offsite', now - H, { driver })], [book(asset)], [drill(asset, 60_000)], over);
  const plan = drPlanView(
    {
      agent: 'pve1',
      hostname: 'pve1.lan',
      assets: [one('files', 1), one('vm-200', 2, 'vzdump'), one('db', 1, 'postgres'), one('pve1', 3), one('vm-100', 1, 'vzdump'), one('web', 1, 'restic', { guestName: 'web' })],
    },
    now,
  );
  assert.deepEqual(
    plan.assets.map((p) => [p.step, p.asset, p.phase]),
    [
      [1, 'pve1', 'host'],
      [2, 'vm-100', 'guest'],
      [3, 'web', 'guest'],
      [4, 'db', 'database'],
      [5, 'files', 'data'],
      [6, 'vm-200', 'guest'],
    ],
  );
  assert.equal(plan.withGaps, 0);
  assert.equal(plan.expectedMs, 6 * 60_000);
});

// A collector fed signed messages in-process: three assets of one host, real restore facts, the
// runbook writers' commands; the plan as JSON, Markdown and page, with its gaps marked.
test('the DR plan of a fed collector: JSON, Markdown (?format=md and .md) and the page, gaps marked; read access as every page', async () => {
  const agent = new TestAgent('pve1');
  const dir = tempDir();
  const tokenFile = join(dir, 'read.token');
  writeFileSync(tokenFile, 'read-secret\n');
  const c = testCollector([agent], { access: { read: 'token', tokenFile } });
  const offsite = (name: string, media: 'cloud' | 'nas') => ({ name, location: 'offsite' as const, media });
  c.clock.now = now - 30 * D;
  const jobs = [
    // Agent-supplied facts with a fence's backticks and a bidi override: the printed plan stays one code block, the override visible.
    catalogJob('etc', { asset: 'pve1', tier: 2, driver: 'paths', restore: { dir: '/srv/backup/```etc\u202E', compress: 'zstd', paths: '/etc' } }),
    catalogJob('db-dump', { asset: 'db', tier: 1, driver: 'postgres', target: offsite('nas', 'nas'), restore: { dir: '/mnt/nas/pg', database: 'app' } }),
    catalogJob('vm101-cloud', { asset: 'vm-101', tier: 1, driver: 'restic', target: offsite('b2', 'cloud'), restore: { repository: 's3:s3.example.com/vm101', passwordFile: '/etc/lifeline/restic.pass' } }),
  ];
  const read = { authorization: 'Bearer read-secret' };
  assert.equal((await c.app.inject(agent.report({ messages: [agent.msg(hello(jobs))] }))).statusCode, 200);
  c.clock.now = now;
  const ok = (job: string, t: number, over: Record<string, unknown> = {}) => agent.msg(run(job, randomUUID(), { startedAt: iso(t), finishedAt: iso(t + 60_000), durationMs: 60_000, ...over }));
  const res = await c.app.inject(
    agent.report({
      messages: [
        ok('etc', now - H, { snapshotId: 'etc-2025-01-15.tar.zst' }),
        ok('db-dump', now - 2 * H, { snapshotId: 'app-2025-01-15.dump' }),
        ok('vm101-cloud', now - H, { snapshotId: 'a1b2c3d4' }),
        ok('db-dump', now - 90 * 60_000, { operation: 'restore-test', durationMs: 600_000 }),
        ok('vm101-cloud', now - 30 * 60_000, { operation: 'restore-test', durationMs: 5 * H }),
      ],
    }),
  );
  assert.equal(res.statusCode, 200, res.body);

  // Read access as every page: no token, no plan.
  assert.equal((await c.app.inject({ method: 'GET', url: '/api/v1/hosts/pve1/dr-plan' })).statusCode, 401);
  assert.equal((await c.app.inject({ method: 'GET', url: '/hosts/pve1/dr-plan' })).statusCode, 401);

  const api = await c.app.inject({ method: 'GET', url: '/api/v1/hosts/pve1/dr-plan', headers: read });
  assert.equal(api.statusCode, 200, api.body);
  const { plan } = api.json() as { plan: DrPlan };
  assert.deepEqual(
    plan.assets.map((p) => [p.step, p.asset, p.phase, p.tier]),
    [
      [1, 'pve1', 'host', 2],
      [2, 'vm-101', 'guest', 1],
      [3, 'db', 'database', 1],
    ],
  );
  const [host, vm, db] = plan.assets;
  assert.equal(host.copy?.target.name, 'usb-ssd');
  assert.match(host.gaps[0], /^no off-site copy/);
  assert.match(host.gaps[1], /^no restore drill of this copy yet/);
  assert.match(vm.gaps.join('\n'), /the restore drills took 5h, beyond the 4h RTO/);
  assert.deepEqual(db.gaps, []);
  assert.deepEqual([db.copy?.job, db.copy?.rpoOk, db.expectedMs, db.rtoOk], ['db-dump', true, 600_000, true]);
  assert.ok(db.restore[0].commands.some((cmd) => /pg_restore|psql/.test(cmd)), db.restore[0].commands.join('\n'));
  assert.ok(vm.restore[0].commands.some((cmd) => cmd.includes('restic') && cmd.includes('a1b2c3d4')), vm.restore[0].commands.join('\n'));
  assert.equal(plan.withGaps, 2);
  assert.equal(plan.expectedMs, null);

  for (const url of ['/api/v1/hosts/pve1/dr-plan?format=md', '/hosts/pve1/dr-plan.md']) {
    const md = await c.app.inject({ method: 'GET', url, headers: read });
    assert.equal(md.statusCode, 200, url);
    assert.match(md.headers['content-type'] as string, /^text\/markdown/);
    assert.match(md.body, /^# If pve1 died now: disaster-recovery plan/);
    assert.match(md.body, /## 1\. Restore pve1: tier 2, the hypervisor host — ⚠ GAP\n\n- Copy: etc → usb-ssd \(usb, on-site\)/);
    assert.match(md.body, /- ⚠ Gap: no off-site copy/);
    assert.match(md.body, /## 3\. Restore db: tier 1, a database\n\n- Copy: db-dump → nas \(nas, off-site\), [^\n]+, ✔ within the 1d RPO\n- Expected restore time: ✔ 10m within the 4h RTO\n/);
    assert.match(md.body, /```sh\n[^`]*pg_restore/);
    assert.match(md.body, /## 4\. Verify/);
    assert.match(md.body, /\n````sh\n[^\n]*\n[^\n]*```etc[^\n]*\n````\n/);
    assert.ok(!md.body.includes('\u202E'), 'no raw bidi override in the Markdown');
  }

  const page = await c.app.inject({ method: 'GET', url: '/hosts/pve1/dr-plan', headers: read });
  assert.equal(page.statusCode, 200);
  assert.match(page.headers['content-security-policy'] as string, /default-src 'none'/);
  assert.match(page.body, /<h1>If pve1 died now<\/h1>/);
  assert.match(page.body, /⚠ gap: no off-site copy/);
  assert.match(page.body, /<pre class="commands"><code>[^<]*pg_restore/);
  assert.ok(!page.body.includes('\u202E'), 'no raw bidi override on the page');
  assert.equal((await c.app.inject({ method: 'GET', url: '/api/v1/hosts/nobody/dr-plan', headers: read })).statusCode, 404);
});
