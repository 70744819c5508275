import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { test } from 'node:test';
import { collectorConfig, rulesConfig, tierPolicies } from '../collector/config';
import { Evaluator } from '../collector/evaluate/evaluator';
import { createGatherer } from '../collector/evaluate/gather';
import { evaluate } from '../collector/rules';
import type { Finding } from '../collector/rules/types';
import type { CatalogJob } from '../shared/protocol';
import { TestAgent, catalogJob, heartbeat, hello, run, runStart, testCollector } from './collector-helpers';

// Property: an incremental pass (the jobs whose stored check_at has come or whose agent
// reported, with their assets) finds exactly what a full pass finds at the same `now`, over
// random histories and clocks. The full hourly pass is switched off, so nothing hides a
// deadline a rule forgot to declare (rules/index.ts, nextCheckAt).

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

/** A small seeded PRNG (mulberry32): a failing seed replays. */
function prng(seed: number) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return { next, pick: <T>(xs: readonly T[]): T => xs[Math.floor(next() * xs.length)], chance: (p: number) => next() < p };
}

const SCHEDULES = ['0 * * * *', '30 */6 * * *', '0 2 * * *', '15 3 * * 0'];
const TARGETS = [
  { name: 'usb-ssd', location: 'onsite', media: 'usb' },
  { name: 'nas', location: 'onsite', media: 'nas' },
  { name: 'cloud', location: 'offsite', media: 'cloud' },
] as const;
const STEPS = [MINUTE, 7 * MINUTE, HOUR, 5 * HOUR + 3 * MINUTE, DAY + 11 * MINUTE, 3 * DAY];

function randomJobs(r: ReturnType<typeof prng>, agent: string): CatalogJob[] {
  const jobs: CatalogJob[] = [];
  for (let i = 0; i < 4; i++) {
    jobs.push(
      catalogJob(`${agent}-j${i}`, {
        asset: r.pick(['vm-100', 'pg', 'etc']),
        tier: r.pick([1, 2, 3, 4] as const),
        target: { ...r.pick(TARGETS) },
        schedule: r.pick(SCHEDULES),
        timeoutMs: r.pick([0, 2 * HOUR]),
        ...(r.chance(0.4) ? { verify: { schedule: r.pick(SCHEDULES.slice(2)) } } : {}),
        ...(r.chance(0.3) ? { restoreTest: { schedule: r.pick(SCHEDULES.slice(2)) } } : {}),
      }),
    );
  }
  // A link now and then: a copy of what the NAS holds, off-site (copies of copies).
  if (r.chance(0.5)) jobs.push(catalogJob(`${agent}-link`, { asset: 'nas-share', target: { name: 'cloud', location: 'offsite', media: 'cloud' }, source: { target: 'nas' }, schedule: r.pick(SCHEDULES) }));
  return jobs;
}

/** What a pass's answer is made of; titles carry "… ago" wording and are left out. */
const shape = (findings: Finding[]) => findings.map((f) => `${f.key} ${f.severity} ${f.since}`).sort();

for (const seed of [1, 2, 3, 4, 5, 6]) {
  test(`incremental passes find what a full pass finds at the same time (seed ${seed})`, async () => {
    const r = prng(seed);
    const agents = [new TestAgent('pve1'), new TestAgent('pbs1')];
    const c = testCollector(agents);
    const cfg = collectorConfig({});
    const tiers = tierPolicies(cfg);
    const rules = rulesConfig(cfg);
    const jobs = new Map(agents.map((a) => [a, randomJobs(r, a.name)]));
    for (const a of agents) await c.app.inject(a.report({ messages: [a.msg(hello(jobs.get(a)!))] }));
    const evaluator = new Evaluator({ db: c.db, tiers, rules, channels: [], reminderMs: DAY, flapMs: 0, fullEveryMs: Infinity });
    const gatherer = createGatherer(c.db);
    let now = c.clock.now + MINUTE;
    assert.equal(evaluator.pass(now).full, true);
    let incremental = 0;
    for (let step = 0; step < 40; step++) {
      const next = now + r.pick(STEPS);
      if (r.chance(0.5)) {
        // One agent reports something between the passes.
        const a = r.pick(agents);
        const job = r.pick(jobs.get(a)!);
        const at = now + Math.floor(r.next() * (next - now - 1)) + 1;
        c.clock.now = at;
        const startedAt = new Date(at - 5 * MINUTE);
        const op = r.pick(['backup', 'backup', 'backup', 'verify', 'restore-test'] as const);
        const runId = randomUUID();
        const message = r.chance(0.15) && op === 'backup'
          ? runStart(job.name, runId, startedAt)
          : r.chance(0.1)
            ? heartbeat()
            : run(job.name, runId, {
                operation: op,
                startedAt: startedAt.toISOString(),
                finishedAt: new Date(at).toISOString(),
                durationMs: 5 * MINUTE,
                status: r.pick(['success', 'success', 'success', 'failure', 'warning'] as const),
                ...(r.chance(0.3) ? { retryAt: new Date(at + r.pick([10 * MINUTE, 3 * HOUR])).toISOString(), attempt: 1 } : {}),
              });
        const res = await c.app.inject(a.report({ messages: [a.msg(message, new Date(at))] }));
        assert.equal(res.statusCode, 200, res.body);
      }
      now = next;
      const pass = evaluator.pass(now);
      if (!pass.full) incremental++;
      const full = evaluate(gatherer.gather(tiers, rules), now);
      assert.deepEqual(shape(pass.findings), shape(full), `seed ${seed}, step ${step}, now ${new Date(now).toISOString()}`);
    }
    assert.ok(incremental >= 35, 'the passes compared were incremental');
  });
}

test('a clock stepped back makes the next pass a full one (the stored deadlines are ahead of it)', async () => {
  const a = new TestAgent('pve1');
  const c = testCollector([a]);
  await c.app.inject(a.report({ messages: [a.msg(hello([catalogJob('etc', { schedule: '0 2 * * *' })]))] }));
  const cfg = collectorConfig({});
  const evaluator = new Evaluator({ db: c.db, tiers: tierPolicies(cfg), rules: rulesConfig(cfg), channels: [], reminderMs: DAY, flapMs: 0 });
  const t = c.clock.now + DAY;
  assert.equal(evaluator.pass(t).full, true);
  assert.equal(evaluator.pass(t + MINUTE).full, false);
  assert.equal(evaluator.pass(t - DAY).full, true);
});
