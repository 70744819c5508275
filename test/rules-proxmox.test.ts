import assert from 'node:assert/strict';
import { test } from 'node:test';
import { guestCoverage } from '../collector/rules/guest-coverage';
import { evaluate, HOST_RULES, RULES } from '../collector/rules/index';
import { coverageCounts, guestNames, judgedGuests, largestGapMs } from '../collector/rules/proxmox';
import { staleSnapshot } from '../collector/rules/stale-snapshot';
import { storageUndeclared } from '../collector/rules/storage-undeclared';
import type { EvaluationInput, GuestView, ProxmoxView, PveJobView, PveStorageView } from '../collector/rules/types';
import { DAY, HOUR, MIN, at, input, job, tiers } from './helpers/rules-fixtures';

// The Proxmox VE coverage audit as tables at its boundaries. The views are what the gatherer
// makes of an agent's 'proxmox' message (shared/protocol.ts proxmoxSchema).

const NOW = at('2026-02-01T12:00:00Z');
const SEEN = at('2026-02-01T11:00:00Z');

const guest = (over: Partial<GuestView> = {}): GuestView => ({
  vmid: 100,
  type: 'qemu',
  name: 'web01',
  node: 'pve1',
  tags: [],
  template: false,
  tier: 1,
  tierFrom: 'pool',
  pool: 'tier-1',
  excluded: false,
  snapshots: [],
  ...over,
});
const pveJob = (over: Partial<PveJobView> = {}): PveJobView => ({
  id: 'backup-daily',
  enabled: true,
  schedule: '02:00',
  cron: '0 2 * * *',
  storage: 'pbs1',
  vmids: [100],
  ...over,
});
const storage = (over: Partial<PveStorageView> = {}): PveStorageView => ({ id: 'pbs1', type: 'pbs', content: 'backup', shared: true, declared: true, ...over });
const view = (over: Partial<ProxmoxView> = {}): ProxmoxView => ({
  agent: 'pve1',
  timezone: 'UTC',
  node: 'pve1',
  guests: [guest()],
  backupJobs: [pveJob()],
  storages: [storage()],
  updatedAt: SEEN,
  ...over,
});
const pve = (v: Partial<ProxmoxView>, over: Partial<EvaluationInput> = {}) => input({ proxmox: [view(v)], ...over });
const summary = (findings: { rule: string; severity: string; key: string }[]) => findings.map((f) => `${f.rule} ${f.severity} ${f.key}`);

// ---- guest-untiered ----

const UNTIERED: [string, Partial<GuestView>, string[]][] = [
  ['a guest in a tier pool has a tier', { tier: 1, tierFrom: 'pool' }, []],
  ['a guest with a tier tag has a tier', { tier: 2, tierFrom: 'tag', pool: undefined, tags: ['tier-2'] }, []],
  ['a guest with a tier in agent.yaml has a tier', { tier: 3, tierFrom: 'config', pool: undefined }, []],
  ['a guest in no tier pool, tag or config entry is untiered', { tier: null, tierFrom: null, pool: undefined }, ['guest-untiered warning guest-untiered|pve1|vm-100']],
  ['an untiered guest agent.yaml excludes is left out', { tier: null, tierFrom: null, excluded: true }, []],
  ['an untiered template is left out', { tier: null, tierFrom: null, template: true }, []],
  ['an untiered container is ct-<vmid>', { tier: null, tierFrom: null, type: 'lxc', vmid: 105 }, ['guest-untiered warning guest-untiered|pve1|ct-105']],
];
for (const [behaviour, g, expected] of UNTIERED) {
  test(behaviour, () => {
    const findings = guestCoverage(pve({ guests: [guest(g)], backupJobs: [pveJob({ vmids: [100, 105] })] }), NOW);
    assert.deepEqual(summary(findings), expected);
  });
}

test('an untiered guest is named "vm-100 (web01)", says whether it is backed up and how to give it a tier', () => {
  const [f] = guestCoverage(pve({ guests: [guest({ tier: null, tierFrom: null })], backupJobs: [] }), NOW);
  assert.equal(f.title, 'vm-100 (web01) on pve1 has no tier');
  assert.equal(f.asset, 'vm-100');
  assert.match(f.detail, /No enabled backup job covers it either/);
  assert.match(f.detail, /proxmox\.tiers: \{ 100: N \}/);
  assert.equal(f.since, SEEN);
  const [nameless] = guestCoverage(pve({ guests: [guest({ tier: null, tierFrom: null, name: undefined })] }), NOW);
  assert.equal(nameless.title, 'vm-100 on pve1 has no tier');
  assert.match(nameless.detail, /It is backed up/);
});

// ---- guest-not-covered ----

const NOT_COVERED: [string, Partial<GuestView>, PveJobView[], string[]][] = [
  ['a tiered guest an enabled job covers is covered', {}, [pveJob()], []],
  ['a tier 1 guest only a disabled job covers is not covered: critical', {}, [pveJob({ enabled: false })], ['guest-not-covered critical guest-not-covered|pve1|vm-100']],
  ['a tier 2 guest no job covers is critical', { tier: 2 }, [pveJob({ vmids: [101] })], ['guest-not-covered critical guest-not-covered|pve1|vm-100']],
  ['a tier 3 guest no job covers is a warning', { tier: 3 }, [], ['guest-not-covered warning guest-not-covered|pve1|vm-100']],
  ['a tier 4 guest no job covers is info', { tier: 4 }, [], ['guest-not-covered info guest-not-covered|pve1|vm-100']],
  ['an excluded guest no job covers is left out', { excluded: true }, [], []],
  ['a template no job covers is left out', { template: true }, [], []],
  ['an untiered guest no job covers is only untiered', { tier: null, tierFrom: null }, [], ['guest-untiered warning guest-untiered|pve1|vm-100']],
];
for (const [behaviour, g, jobs, expected] of NOT_COVERED) {
  test(behaviour, () => {
    assert.deepEqual(summary(guestCoverage(pve({ guests: [guest(g)], backupJobs: jobs }), NOW)), expected);
  });
}

test('a guest only disabled jobs cover is said so, with the job and why Proxmox does not list it', () => {
  const [f] = guestCoverage(pve({ backupJobs: [pveJob({ id: 'backup-weekly', enabled: false, schedule: 'sat 03:00' })] }), NOW);
  assert.equal(f.title, 'vm-100 (web01) on pve1 is not backed up by any enabled job');
  assert.match(f.detail, /Only the disabled backup job backup-weekly \(sat 03:00\) includes it: enable it/);
  assert.match(f.detail, /counts disabled jobs/);
  assert.equal(f.tier, 1);
  const [none] = guestCoverage(pve({ backupJobs: [] }), NOW);
  assert.doesNotMatch(none.detail, /disabled/);
  assert.match(none.detail, /Add it to a backup job/);
});

test("a job an agent runs for the guest's asset with another driver covers it; a vzdump catalog job stands for its Proxmox job", () => {
  const own = job({ asset: 'vm-100', job: 'vm100-dump', driver: 'command', schedule: '0 1 * * *', timezone: 'UTC' });
  assert.deepEqual(guestCoverage(pve({ backupJobs: [] }, { jobs: [own] }), NOW), []);
  const mirror = job({ asset: 'vm-100', job: 'vzdump-100-pbs1', driver: 'vzdump' });
  assert.deepEqual(summary(guestCoverage(pve({ backupJobs: [] }, { jobs: [mirror] }), NOW)), ['guest-not-covered critical guest-not-covered|pve1|vm-100']);
});

// ---- guest-schedule-too-slow ----

const rpo = (tier: 1 | 2 | 3 | 4, rpoMs: number) => ({ ...tiers(), [tier]: { ...tiers()[tier], rpoMs } });

const SLOW: [string, { tier?: 1 | 2 | 3 | 4; jobs: Partial<PveJobView>[]; rpoMs?: number; timezone?: string; now?: number }, string[]][] = [
  ['a daily job for a 24 h RPO runs exactly at the RPO: fine', { jobs: [{ cron: '0 2 * * *' }] }, []],
  ['a daily job for an RPO 1 min shorter is 1 min too slow', { jobs: [{ cron: '0 2 * * *' }], rpoMs: 24 * HOUR - MIN }, ['guest-schedule-too-slow warning guest-schedule-too-slow|pve1|vm-100']],
  ['a weekly job for a tier 2 guest (7 d) is fine', { tier: 2, jobs: [{ cron: '0 3 * * 0' }] }, []],
  ['a weekly job for a tier 1 guest is too slow', { jobs: [{ cron: '0 3 * * 0' }] }, ['guest-schedule-too-slow warning guest-schedule-too-slow|pve1|vm-100']],
  ['a weekly job too slow for tier 3 would be info', { tier: 3, jobs: [{ cron: '0 3 * * 0' }], rpoMs: 6 * DAY }, ['guest-schedule-too-slow info guest-schedule-too-slow|pve1|vm-100']],
  ['the fastest covering job counts: weekly and daily for a tier 1 guest is fine', { jobs: [{ id: 'w', cron: '0 3 * * 0' }, { id: 'd', cron: '30 1 * * *' }] }, []],
  ['a disabled daily job does not make a weekly one fast enough', { jobs: [{ id: 'w', cron: '0 3 * * 0' }, { id: 'd', cron: '30 1 * * *', enabled: false }] }, ['guest-schedule-too-slow warning guest-schedule-too-slow|pve1|vm-100']],
  ['weekdays only leaves a 3-day gap over the weekend', { tier: 2, jobs: [{ cron: '0 2 * * 1-5' }], rpoMs: 3 * DAY - 1 }, ['guest-schedule-too-slow warning guest-schedule-too-slow|pve1|vm-100']],
  ['a monthly job on the 1st leaves up to 31 days: too slow for 30 d', { tier: 3, jobs: [{ cron: '0 4 1 * *' }] }, ['guest-schedule-too-slow info guest-schedule-too-slow|pve1|vm-100']],
  ['a monthly job on the 1st is fine for 31 d', { tier: 3, jobs: [{ cron: '0 4 1 * *' }], rpoMs: 31 * DAY }, []],
  ['a job without a cron form cannot be checked: info, never guessed', { jobs: [{ cron: null, schedule: 'mon..fri 02:00/3' }] }, ['guest-schedule-too-slow info guest-schedule-too-slow|pve1|vm-100']],
  ['a cron the collector cannot read cannot be checked either', { jobs: [{ cron: 'not a cron' }] }, ['guest-schedule-too-slow info guest-schedule-too-slow|pve1|vm-100']],
  ['an unconvertible job beside a fast enough one leaves nothing to say', { jobs: [{ id: 'x', cron: null }, { id: 'd', cron: '0 2 * * *' }] }, []],
  ['an unconvertible job beside a too slow one cannot be checked', { jobs: [{ id: 'x', cron: null }, { id: 'w', cron: '0 3 * * 0' }] }, ['guest-schedule-too-slow info guest-schedule-too-slow|pve1|vm-100']],
  // Europe/Berlin leaves summer time on 2026-10-25 (25 h day) and enters it on 2026-03-29 (23 h day, 02:00 skipped).
  ['a daily 02:00 job stays within 24 h across the autumn DST change', { jobs: [{ cron: '0 2 * * *' }], timezone: 'Europe/Berlin', now: at('2026-10-22T12:00:00Z') }, []],
  ['a daily 02:00 job stays within 24 h across the spring DST change', { jobs: [{ cron: '0 2 * * *' }], timezone: 'Europe/Berlin', now: at('2026-03-26T12:00:00Z') }, []],
];
for (const [behaviour, c, expected] of SLOW) {
  test(behaviour, () => {
    const tier = c.tier ?? 1;
    const i = pve(
      { guests: [guest({ tier })], backupJobs: c.jobs.map((j) => pveJob(j)), timezone: c.timezone ?? 'UTC' },
      c.rpoMs === undefined ? {} : { tiers: rpo(tier, c.rpoMs) },
    );
    assert.deepEqual(summary(guestCoverage(i, c.now ?? NOW)), expected);
  });
}

test('a too slow schedule names the fastest job, its gap and the RPO', () => {
  const [f] = guestCoverage(pve({ backupJobs: [pveJob({ id: 'backup-weekly', schedule: 'sun 03:00', cron: '0 3 * * 0' })] }), NOW);
  assert.equal(f.title, 'vm-100 (web01) on pve1 is backed up less often than its 1d RPO');
  assert.match(f.detail, /^backup job backup-weekly \("sun 03:00"\) leaves up to 7d between two runs, more than the tier 1 RPO of 1d/);
});

test('a schedule without a cron form is said to be unknown, naming the job', () => {
  const [f] = guestCoverage(pve({ backupJobs: [pveJob({ id: 'backup-odd', schedule: 'mon..fri 02:00/3', cron: null })] }), NOW);
  assert.equal(f.severity, 'info');
  assert.equal(f.title, 'vm-100 (web01) on pve1: backup schedule cannot be checked against its 1d RPO');
  assert.match(f.detail, /backup job backup-odd \("mon\.\.fri 02:00\/3"\) has no cron form/);
});

test('an agent job covering the guest is checked on its own schedule and zone', () => {
  const own = job({ asset: 'vm-100', job: 'vm100-dump', driver: 'command', schedule: '@weekly', timezone: 'UTC' });
  const [f] = guestCoverage(pve({ backupJobs: [] }, { jobs: [own] }), NOW);
  assert.match(f.detail, /^vm100-dump on pve1 \("@weekly"\) leaves up to 7d/);
});

test('largestGapMs: the largest gap over 8 fires, a year for monthly schedules; null when it cannot tell', () => {
  assert.equal(largestGapMs('*/15 * * * *', 'UTC', NOW), 15 * MIN);
  assert.equal(largestGapMs('0 3 * * 0', 'UTC', NOW), 7 * DAY);
  // From February: 8 monthly fires end in September; the year reaches the 31-day months after.
  assert.equal(largestGapMs('0 4 1 * *', 'UTC', NOW), 31 * DAY);
  assert.equal(largestGapMs('0 5 1 1,4,7,10 *', 'UTC', NOW), 92 * DAY);
  assert.equal(largestGapMs('nonsense', 'UTC', NOW), null);
});

// ---- storage-undeclared ----

const UNDECLARED: [string, { jobs?: Partial<PveJobView>[]; storages?: Partial<PveStorageView>[]; guests?: Partial<GuestView>[] }, string[]][] = [
  ['a storage declared as a target is fine', { storages: [{ declared: true }] }, []],
  ['a storage an enabled job writes to, not declared, is reported', { storages: [{ declared: false }] }, ['storage-undeclared warning storage-undeclared|pve1|pbs1']],
  ['an agent that does not say what it declares is not judged', { storages: [{ declared: undefined }] }, []],
  ['a storage only a disabled job writes to is not reported', { jobs: [{ enabled: false }], storages: [{ declared: false }] }, []],
  ['a job on the default storage (none named) is not judged', { jobs: [{ storage: null }], storages: [{ declared: false }] }, []],
  ['an undeclared storage holding only tier 4 guests is info', { storages: [{ declared: false }], guests: [{ tier: 4 }] }, ['storage-undeclared info storage-undeclared|pve1|pbs1']],
];
for (const [behaviour, c, expected] of UNDECLARED) {
  test(behaviour, () => {
    const i = pve({
      backupJobs: (c.jobs ?? [{}]).map((j) => pveJob(j)),
      storages: (c.storages ?? [{}]).map((s) => storage(s)),
      guests: (c.guests ?? [{}]).map((g) => guest(g)),
    });
    assert.deepEqual(summary(storageUndeclared(i)), expected);
  });
}

test('an undeclared storage tells how to declare it, with the media its type suggests', () => {
  const [f] = storageUndeclared(pve({ storages: [storage({ id: 'nas-backup', type: 'nfs', declared: false })], backupJobs: [pveJob({ storage: 'nas-backup' })] }));
  assert.equal(f.title, 'Backup storage nas-backup on pve1 is not declared as a target');
  assert.equal(f.target, 'nas-backup');
  assert.match(f.detail, /Declare it under targets: - \{ name: nas-backup, location: onsite\|offsite, media: nas \}/);
  assert.match(f.detail, /3-2-1/);
});

// ---- stale-snapshot ----

const MAX = 7 * DAY;
const STALE: [string, { name: string; time: number | null }[], string[]][] = [
  ['a snapshot exactly snapshotMaxAge old is not stale', [{ name: 'pre-upgrade', time: NOW - MAX }], []],
  ['a snapshot 1 ms older is stale', [{ name: 'pre-upgrade', time: NOW - MAX - 1 }], ['stale-snapshot warning stale-snapshot|pve1|vm-100']],
  ['a snapshot with no time is not raised', [{ name: 'mystery', time: null }], []],
  ['a fresh snapshot is fine', [{ name: 'today', time: NOW - HOUR }], []],
];
for (const [behaviour, snapshots, expected] of STALE) {
  test(behaviour, () => {
    assert.deepEqual(summary(staleSnapshot(pve({ guests: [guest({ snapshots })] }), NOW)), expected);
  });
}

test('a stale snapshot finding starts when the oldest went stale, lists them and names the undated ones', () => {
  const old = NOW - 30 * DAY;
  const snapshots = [
    { name: 'mystery', time: null },
    { name: 'before-pg16', time: old, description: 'pg 15 → 16\nsecond line' },
    { name: 'before-kernel', time: NOW - 8 * DAY },
  ];
  const [f] = staleSnapshot(pve({ guests: [guest({ snapshots })] }), NOW);
  assert.equal(f.title, 'vm-100 (web01) on pve1 has 2 snapshots older than 7d');
  assert.equal(f.since, old + MAX);
  assert.match(f.detail, /^before-pg16 \(2026-01-02 12:00 UTC, 30d old: pg 15 → 16\), before-kernel/);
  assert.match(f.detail, /qm delsnapshot 100 before-pg16\./);
  assert.match(f.detail, /mystery has no time in Proxmox: check it by hand\./);
});

test('rules.snapshotMaxAge sets the age; a container is told pct delsnapshot', () => {
  const g = guest({ type: 'lxc', vmid: 105, tier: 3, snapshots: [{ name: 'test', time: NOW - DAY - 1 }] });
  const i = pve({ guests: [g] }, { config: { ...input().config, snapshotMaxAgeMs: DAY } });
  const [f] = staleSnapshot(i, NOW);
  assert.equal(f.key, 'stale-snapshot|pve1|ct-105');
  assert.equal(f.severity, 'info');
  assert.equal(f.title, 'ct-105 (web01) on pve1 has a snapshot older than 1d: test');
  assert.match(f.detail, /pct delsnapshot 105 test\./);
});

// ---- one guest, one judge; counts; registration ----

test('in a cluster each guest is judged once, by the agent on its node', () => {
  const onPve2 = guest({ node: 'pve2', tier: null, tierFrom: null });
  const i = input({ proxmox: [view({ guests: [onPve2] }), view({ agent: 'pve2', node: 'pve2', guests: [onPve2] })] });
  assert.deepEqual(summary(guestCoverage(i, NOW)), ['guest-untiered warning guest-untiered|pve2|vm-100']);
  // A guest on a node without an agent: the first agent by name speaks for it.
  const onPve3 = guest({ node: 'pve3', vmid: 300, name: 'db' });
  const j = input({ proxmox: [view({ agent: 'pve2', node: 'pve2', guests: [onPve3] }), view({ guests: [onPve3] })] });
  assert.deepEqual(judgedGuests(j).map((g) => g.view.agent), ['pve1']);
  assert.deepEqual([...guestNames(j)], [['vm-300', 'db']]);
});

test('coverage counts leave templates and excluded guests out, and count stale and undated snapshots', () => {
  const i = pve({
    guests: [
      guest({ vmid: 100 }),
      guest({ vmid: 101, tier: null, tierFrom: null }),
      guest({ vmid: 102, tier: 2, snapshots: [{ name: 'old', time: NOW - 8 * DAY }, { name: 'x', time: null }] }),
      guest({ vmid: 103, template: true }),
      guest({ vmid: 104, excluded: true }),
    ],
    backupJobs: [pveJob({ vmids: [100, 101, 103, 104] }), pveJob({ id: 'off', enabled: false, vmids: [102] })],
  });
  assert.deepEqual(coverageCounts(i, NOW), [
    { agent: 'pve1', node: 'pve1', total: 3, tiered: 2, covered: 2, templates: 1, excluded: 1, staleSnapshots: 1, undatedSnapshots: 1, updatedAt: SEEN },
  ]);
});

test('the Proxmox rules are host rules: they run on every pass, over every agent', () => {
  for (const name of ['guest-coverage', 'storage-undeclared', 'stale-snapshot']) {
    assert.ok(RULES[name], name);
    assert.ok(HOST_RULES.includes(name), name);
  }
  const i = pve({ guests: [guest({ tier: null, tierFrom: null }), guest({ vmid: 101, snapshots: [{ name: 's', time: NOW - 30 * DAY }] })], backupJobs: [] });
  assert.deepEqual(evaluate(i, NOW, 'host').map((f) => f.rule), ['guest-not-covered', 'guest-untiered', 'stale-snapshot']);
  assert.deepEqual(evaluate(i, NOW, 'jobs'), []);
  assert.deepEqual(evaluate(input(), NOW, 'host'), [], 'no Proxmox view, nothing to say');
});
