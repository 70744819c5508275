import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { test } from 'node:test';
import { reportMessage, type Report } from '../collector/reports';
import { TestAgent, catalogJob, hello, run, testCollector } from './collector-helpers';

const GiB = 2 ** 30;
const H = 3_600_000;
const D = 24 * H;

// A collector fed signed messages in-process (as an agent sends them) for two weeks of one host:
// the weekly report's tiers, per-asset facts (RPO over the period, retention audit, 3-2-1, drills,
// verifications), failures grouped by cause and capacity, as JSON, Markdown and the page.
test('the weekly report: tiers, per-asset RPO/retention/3-2-1/drill facts, failures by cause and capacity', async () => {
  const agent = new TestAgent('pve1');
  const c = testCollector([agent]);
  const now = Date.parse('2025-01-15T12:00:00Z');
  const from = now - 7 * D;
  /** 02:00 Europe/Berlin (the schedule's slot), n days ago. */
  const at = (n: number) => Date.parse('2025-01-15T01:00:00Z') - n * D;
  const iso = (t: number) => new Date(t).toISOString();
  const cloud = { name: 'b2', location: 'offsite' as const, media: 'cloud' as const };

  // The jobs are known from the first of the month: the whole week counts.
  c.clock.now = Date.parse('2025-01-01T00:00:00Z');
  const jobs = [
    catalogJob('db-usb', { asset: 'db', tier: 1, retention: { daily: 7 } }),
    catalogJob('db-cloud', { asset: 'db', tier: 1, retention: { daily: 7 }, target: cloud }),
    catalogJob('media-usb', { asset: 'media', tier: 3, retention: { monthly: 3 } }),
  ];
  assert.equal((await c.app.inject(agent.report({ messages: [agent.msg(hello(jobs))] }))).statusCode, 200);

  c.clock.now = now;
  const backup = (job: string, t: number, over: Record<string, unknown> = {}) =>
    agent.msg(run(job, randomUUID(), { startedAt: iso(t), finishedAt: iso(t + 30 * 60_000), durationMs: 30 * 60_000, ...over }));
  const failed = (job: string, t: number, error: string, over: Record<string, unknown> = {}) => backup(job, t, { status: 'failure', exitCode: 1, error, bytesTotal: undefined, ...over });
  const messages = [
    // The off-site copy every day: the RPO (1d, tier 1) held all week.
    ...[10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0].map((n) => backup('db-cloud', at(n), { bytesTotal: 10 * GiB })),
    // The on-site copy misses two days: 3-2-1 broke for a while.
    ...[10, 9, 8, 7, 6, 5, 4, 1, 0].map((n) => backup('db-usb', at(n), { bytesTotal: (n >= 7 ? 8 : 10) * GiB })),
    failed('db-usb', at(3), 'dial tcp 10.0.0.5:5432: connect: connection refused'),
    failed('db-usb', at(2), 'dial tcp 10.0.0.6:5433: connect: connection refused'),
    // media reports no size at all: its storage is unknown, not 0 B.
    backup('media-usb', at(4), { bytesTotal: undefined, bytesAdded: undefined }),
    failed('media-usb', at(2), 'tar: /srv/media/a.mkv: file changed as we read it'),
    failed('media-usb', at(1), 'tar: /srv/media/b.mkv: file changed as we read it'),
    agent.msg(run('db-cloud', randomUUID(), { operation: 'restore-test', startedAt: iso(at(1) + 2 * H), finishedAt: iso(at(1) + 2 * H + 600_000), durationMs: 600_000 })),
    agent.msg(run('db-usb', randomUUID(), { operation: 'verify', startedAt: iso(at(2) + 2 * H), status: 'failure', exitCode: 1, error: 'Fatal: wrong password or no key found' })),
    // The usb listing holds 3 of the 7 daily snapshots its policy keeps; the cloud one all 7.
    agent.msg({ kind: 'inventory', job: 'db-usb', target: 'usb-ssd', snapshots: [0, 1, 4].map((n) => ({ id: `u${n}`, time: iso(at(n)) })) }),
    agent.msg({ kind: 'inventory', job: 'db-cloud', target: 'b2', snapshots: [0, 1, 2, 3, 4, 5, 6].map((n) => ({ id: `c${n}`, time: iso(at(n)) })) }),
    // The backup disk grows 5 GiB a day: full within the next week.
    ...[7, 6, 5, 4, 3, 2, 1, 0].map((n) =>
      agent.msg({ kind: 'host', filesystems: [{ mount: '/srv/backup', fs: '/dev/sdb1', type: 'ext4', sizeBytes: 100 * GiB, usedBytes: (90 - 5 * n) * GiB }], disks: [] }, new Date(now - n * D)),
    ),
  ];
  const res = await c.app.inject(agent.report({ messages }));
  assert.equal(res.statusCode, 200, res.body);

  const api = await c.app.inject({ method: 'GET', url: '/api/v1/reports/week' });
  assert.equal(api.statusCode, 200);
  const { report: r, markdown } = api.json() as { report: Report; markdown: string };
  assert.equal(r.from, iso(from));

  // Per tier, as before: success rate, storage (unknown when no run said), durations.
  const [t1, t3] = r.tiers;
  assert.deepEqual([t1.tier, t1.runs, t1.succeeded], [1, 14, 12]); // db-cloud 7 + db-usb 5 successes in the week, 2 failures
  assert.equal(t1.storageBytes, 20 * GiB);
  assert.equal(t1.storageBytesBefore, 18 * GiB);
  assert.equal(t3.storageBytes, null);

  const [db, media] = r.assets;
  assert.equal(db.asset, 'db');
  // The cloud copy every 24h: within the RPO all week, the worst gap exactly the RPO.
  assert.deepEqual(db.rpo, { metShare: 1, outsideMs: 0, worstGapMs: D, okNow: true, newestAt: iso(at(0) + 30 * 60_000) });
  assert.equal(db.retention.state, 'gaps');
  assert.match(db.retention.findings[0], /db-usb on pve1 has 3 of 7 expected snapshots/);
  assert.deepEqual(db.threeTwoOne, { now: true, missing: [], throughPeriod: false });
  assert.deepEqual(db.drills, { passed: 1, failed: 0, last: { job: 'db-cloud', at: iso(at(1) + 2 * H), status: 'success', durationMs: 600_000, rtoOk: true } });
  assert.deepEqual(db.verifications, { passed: 0, failed: 1, last: { job: 'db-usb', at: iso(at(2) + 2 * H), status: 'failure' } });

  assert.equal(media.asset, 'media');
  assert.equal(media.tier, 3);
  const mediaCopy = at(4) + 30 * 60_000;
  assert.ok(Math.abs(media.rpo.metShare! - (now - mediaCopy) / (7 * D)) < 1e-9);
  assert.equal(media.rpo.worstGapMs, now - mediaCopy); // longer than from the period's start to it
  assert.equal(media.retention.state, 'not audited');
  assert.equal(media.threeTwoOne.now, false);
  assert.ok(media.threeTwoOne.missing.includes('no off-site copy'));
  assert.equal(media.drills.last, null);

  assert.deepEqual(
    r.failures.map((g) => [g.count, g.cause, g.jobs, g.operations]),
    [
      [2, 'tar: <path>: file changed as we read it', ['pve1/media-usb'], ['backup']],
      [2, 'dial tcp <addr>: connect: connection refused', ['pve1/db-usb'], ['backup']],
      [1, 'Fatal: wrong password or no key found', ['pve1/db-usb'], ['verify']],
    ],
  );

  const [disk] = r.capacity;
  assert.equal(disk.name, '/srv/backup');
  assert.equal(disk.changeBytes, 35 * GiB);
  assert.ok(disk.projectedFullAt! > iso(now) && disk.projectedFullAt! < iso(now + 7 * D), disk.projectedFullAt!);
  assert.match(disk.recommendation!, /within the next week: add space/);

  assert.deepEqual(r.verifications, { passed: 0, failed: 1 });
  assert.deepEqual(r.restoreDrills, { passed: 1, failed: 0, slowestMs: 600_000 });

  // Markdown: the same facts, sizes unknown as "unknown", durations in the page's units.
  assert.match(markdown, /\| 1 \| 85\.7 % \(12\/14\) \| 20\.0 GiB \(\+11\.1 %\) \|/);
  assert.match(markdown, /\| 3 \| [^|]+ \| unknown \|/);
  assert.match(markdown, /\| db \| 1 \| 100\.0 % of the time \(RPO 1d\), now ✔ \| 1d \| ✖ 1 finding \| ✔ yes \/ ✖ no \| ✔ 10m within the 4h RTO; 1 passed, 0 failed in the period \| 0 passed, 1 failed \(last failure 2025-01-13\) \|/);
  assert.match(markdown, /\| media \| 3 \| .* \| – not audited \| ✖ no \(2 of 3 copies, no off-site copy\) \/ ✖ no \| ✖ no restore drill yet/);
  assert.match(markdown, /- 2× dial tcp &lt;addr&gt;: connect: connection refused — pve1/);
  assert.match(markdown, /- ⚠ \/srv\/backup on pve1 is projected full around 2025-01-1\d, within the next week/);
  assert.match(markdown, /Restore drills: 1 passed, 0 failed, slowest 10m\./);

  // The notification the schedule sends carries the same Markdown.
  const message = reportMessage(r, 'https://lifeline.lan/');
  assert.equal(message.title, 'Lifeline weekly backup report');
  assert.equal(message.body, markdown);

  const page = await c.app.inject({ method: 'GET', url: '/reports' });
  assert.equal(page.statusCode, 200);
  assert.match(page.body, /<a href="\/assets\/db">db<\/a>/);
  assert.match(page.body, /Failed runs by cause/);
  assert.match(page.body, /dial tcp &lt;addr&gt;: connect: connection refused/);
  assert.match(page.body, /href="\/hosts\/pve1\/dr-plan"/);

  assert.equal((await c.app.inject({ method: 'GET', url: '/api/v1/reports/year' })).statusCode, 404);
});
