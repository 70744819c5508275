import assert from 'node:assert/strict';
import { test } from 'node:test';
import { assetStates } from '../collector/rules/asset-state';
import { copyChain } from '../collector/rules/copy-chain';
import { withDerivedCopies } from '../collector/rules/derived-copies';
import { evaluate } from '../collector/rules';
import type { JobView, SnapshotView, TargetView } from '../collector/rules/types';
import { withVerifiedCopies } from '../collector/rules/verified-copies';
import { DAY, HOUR, MIN, at, input, job, run, inventoryOf } from './helpers/rules-fixtures';

// Copies of copies (issue 13): a link job (`source: { target }`) copying what a target holds
// gives every asset with a copy there a derived copy at the link's target, as fresh as the newest
// source snapshot taken before the link's run started. Tables at the boundaries.

const NOW = at('2026-02-01T12:00:00Z');
const PBS1: TargetView = { name: 'pbs1', location: 'onsite', media: 'pbs' };
const USB: TargetView = { name: 'usb', location: 'onsite', media: 'usb' };
const CLOUD: TargetView = { name: 'cloud', location: 'offsite', media: 'cloud' };

const snaps = (...times: (number | [number, 'ok' | 'failed'])[]): SnapshotView[] =>
  times.map((t, i) => (Array.isArray(t) ? { id: `s${i}`, time: t[0], verified: t[1] } : { id: `s${i}`, time: t }));

/** A guest's backup at pbs1 with these snapshots listed just after the newest; its last success the newest's finish. */
function guest(asset: string, snapshots: SnapshotView[], over: Partial<JobView> = {}): JobView {
  const newest = Math.max(...snapshots.map((s) => s.time));
  return job({
    agent: 'pve1',
    job: `vzdump-${asset.slice(3)}-pbs1`,
    asset,
    tier: 1,
    driver: 'vzdump',
    target: PBS1,
    lastSuccess: newest + 5 * MIN,
    inventory: inventoryOf(snapshots, newest + 6 * MIN),
    ...over,
  });
}

/** A link job: copies what `source` holds to `target`, with good runs starting at these times (10 minutes each). */
function link(name: string, source: string, target: TargetView, starts: number[], over: Partial<JobView> = {}): JobView {
  const runs = starts.map((s) => run({ startedAt: s, durationMs: 10 * MIN })).sort((a, b) => b.startedAt - a.startedAt);
  return job({
    agent: 'pbs',
    job: name,
    asset: 'pbs-datastore',
    tier: 2,
    driver: 'restic',
    target,
    sourceTarget: source,
    schedule: '0 3 * * *',
    lastBackup: runs[0] ?? null,
    lastOutcome: runs[0] ?? null,
    lastSuccess: runs[0]?.finishedAt ?? null,
    recentBackups: runs,
    ...over,
  });
}

const derived = (jobs: JobView[], asset: string) => withDerivedCopies(jobs).filter((j) => j.asset === asset && j.derivedVia);
const derivedAt = (jobs: JobView[], asset: string, target: string) => derived(jobs, asset).find((j) => j.target.name === target)?.lastSuccess ?? null;

const SNAP = NOW - 10 * HOUR;
const OLDER = SNAP - DAY;

const BOUNDARY: [string, number, number | null][] = [
  ['a copying run starting 1 ms after the source snapshot carries it', SNAP + 1, SNAP],
  ['a copying run starting at the snapshot time exactly carries the one before', SNAP, OLDER],
  ['a copying run starting 1 ms before the source snapshot carries the one before', SNAP - 1, OLDER],
  ['a copying run before any source snapshot carries nothing', OLDER - 1, null],
];
for (const [behaviour, start, expected] of BOUNDARY) {
  test(behaviour, () => {
    const jobs = [guest('vm-100', snaps(OLDER, SNAP)), link('cloud-restic', 'pbs1', CLOUD, [start])];
    assert.equal(derivedAt(jobs, 'vm-100', 'cloud'), expected);
  });
}

test('the derived copy is named after the link and its source, carries the hops and the link target, and nothing else of its runs', () => {
  const jobs = [guest('vm-100', snaps(OLDER, SNAP)), link('cloud-restic', 'pbs1', CLOUD, [SNAP + HOUR])];
  const [d] = derived(jobs, 'vm-100');
  assert.equal(d.job, 'cloud-restic via pbs1');
  assert.equal(d.agent, 'pbs');
  assert.equal(d.tier, 1);
  assert.deepEqual(d.target, CLOUD);
  assert.deepEqual(d.derivedVia?.map((h) => `${h.agent}/${h.job}@${h.target.name}`), ['pve1/vzdump-100-pbs1@pbs1', 'pbs/cloud-restic@cloud']);
  assert.equal(d.lastBackup, null);
  assert.deepEqual(d.recentBackups, []);
});

test('a derived off-site copy makes 3-2-1 and counts for the RPO exactly like a direct one', () => {
  const direct = [guest('vm-100', snaps(OLDER, SNAP)), job({ agent: 'pve1', job: 'local', asset: 'vm-100', tier: 1, target: USB, lastSuccess: NOW - HOUR })];
  const before = assetStates(input({ jobs: direct }), NOW).find((s) => s.asset === 'vm-100')!;
  assert.deepEqual(before.copies.missing, ['no off-site copy']);
  const jobs = withDerivedCopies([...direct, link('cloud-restic', 'pbs1', CLOUD, [SNAP + HOUR])]);
  const after = assetStates(input({ jobs }), NOW).find((s) => s.asset === 'vm-100')!;
  assert.equal(after.copies.ok, true);
  assert.equal(after.copies.copies, 4);
  assert.equal(after.copies.offsite, 1);
  assert.deepEqual(after.copies.media.sort(), ['cloud', 'disk', 'pbs', 'usb']);
  // The only copy of an asset: its RPO age is the derived copy's snapshot time.
  const only = withDerivedCopies([guest('vm-101', snaps(SNAP - 2 * DAY)), link('cloud-restic', 'pbs1', CLOUD, [SNAP + HOUR])]).filter((j) => j.job !== 'vzdump-101-pbs1');
  const state = assetStates(input({ jobs: only }), NOW).find((s) => s.asset === 'vm-101')!;
  assert.equal(state.ageMs, NOW - (SNAP - 2 * DAY));
  assert.equal(state.rpoOk, false);
});

test('a snapshot that failed verification at the source is no good copy at the target either: the one before it is copied', () => {
  const jobs = withVerifiedCopies([guest('vm-100', snaps([OLDER, 'ok'], [SNAP, 'failed'])), link('cloud-restic', 'pbs1', CLOUD, [SNAP + HOUR])]);
  assert.equal(derivedAt(jobs, 'vm-100', 'cloud'), OLDER);
});

test('a three-hop chain: each link carries the newest copy that existed at its source when it started (a copy exists once its run finished)', () => {
  const jobs = [
    guest('vm-100', snaps(OLDER, SNAP)),
    link('usb-sync', 'pbs1', USB, [OLDER + HOUR, SNAP + HOUR]),
    // Starts 5 minutes into usb-sync's newest run (10 minutes long): only the older usb copy exists.
    link('cloud-restic', 'usb', CLOUD, [SNAP + HOUR + 5 * MIN]),
  ];
  assert.equal(derivedAt(jobs, 'vm-100', 'usb'), SNAP);
  assert.equal(derivedAt(jobs, 'vm-100', 'cloud'), OLDER);
  // Starting 1 ms after usb-sync's newest run finished: that copy.
  const late = [...jobs.slice(0, 2), link('cloud-restic', 'usb', CLOUD, [SNAP + HOUR + 10 * MIN + 1])];
  assert.equal(derivedAt(late, 'vm-100', 'cloud'), SNAP);
  const [d] = derived(late, 'vm-100').filter((j) => j.target.name === 'cloud');
  assert.deepEqual(d.derivedVia?.map((h) => h.target.name), ['pbs1', 'usb', 'cloud']);
  assert.equal(d.job, 'cloud-restic via usb');
});

const MIDDLE: [string, Partial<JobView>, RegExp][] = [
  ['stale (9 days without a run)', {}, /^usb-sync has not run for 9 days: vm-100 has no fresh copy at usb$/],
  [
    'failed (its newest run failed)',
    { lastOutcome: run({ startedAt: NOW - 2 * HOUR, status: 'failure', error: 'disk gone' }) },
    /^usb-sync failed 2h ago: vm-100 has no fresh copy at usb$/,
  ],
  [
    'failed verification (its newest check failed)',
    { lastVerify: run({ startedAt: NOW - 3 * HOUR, operation: 'verify', status: 'failure' }) },
    /^usb-sync failed verification 3h ago: vm-100 has no fresh copy at usb$/,
  ],
];
for (const [behaviour, over, title] of MIDDLE) {
  test(`a ${behaviour} middle link breaks every copy after it, and the incident names it and the asset`, () => {
    // usb-sync last succeeded 9 days ago (or its check failed); cloud-restic runs daily and is fine.
    const middle = link('usb-sync', 'pbs1', USB, [NOW - 9 * DAY], over);
    const jobs = withDerivedCopies([guest('vm-100', snaps(OLDER, SNAP)), middle, link('cloud-restic', 'usb', CLOUD, [NOW - HOUR])]);
    const cloud = jobs.find((j) => j.asset === 'vm-100' && j.target.name === 'cloud')!;
    const usb = jobs.find((j) => j.asset === 'vm-100' && j.target.name === 'usb')!;
    if (over.lastVerify) {
      assert.equal(usb.lastSuccess, null);
      assert.equal(cloud.lastSuccess, null);
    } else {
      assert.ok(NOW - (usb.lastSuccess as number) > 9 * DAY);
      assert.equal(cloud.lastSuccess, usb.lastSuccess);
    }
    const state = assetStates(input({ jobs }), NOW).find((s) => s.asset === 'vm-100')!;
    assert.deepEqual(state.copies.missing, ['2 of 3 copies', 'no off-site copy']);
    const findings = copyChain(input({ jobs }), NOW);
    // Only the broken link: vm-100 had no fresh copy at usb for cloud-restic to lose.
    assert.deepEqual(findings.map((f) => f.key), ['copy-chain-broken|pbs|usb-sync']);
    assert.match(findings[0].title, title);
    assert.equal(findings[0].severity, 'critical');
  });
}

test('the incident names every asset that lost its fresh off-site copy through the link, most critical tier first', () => {
  const stale = link('cloud-restic', 'pbs1', CLOUD, [NOW - 9 * DAY - 2 * HOUR]);
  const jobs = withDerivedCopies([
    guest('vm-101', snaps(NOW - 5 * HOUR)),
    guest('ct-105', snaps(NOW - 4 * HOUR)),
    guest('vm-100', snaps(NOW - 3 * HOUR)),
    // Tier 3 (RPO 30 days): the 9-day-old copy is still fresh for it.
    guest('vm-300', snaps(NOW - 10 * DAY), { tier: 3 }),
    stale,
  ]);
  const [f] = copyChain(input({ jobs }), NOW);
  assert.equal(f.title, 'cloud-restic has not run for 9 days: ct-105, vm-100 and vm-101 have no fresh off-site copy');
  assert.match(f.detail, /copies what pbs1 holds to cloud \(offsite, cloud\)/);
  assert.equal(f.job, 'cloud-restic');
  assert.equal(f.target, 'cloud');
});

test('per-job rules (missed run, failed run, checks, drills, anomalies) never judge a derived copy: the link is judged itself', () => {
  const l = link('cloud-restic', 'pbs1', CLOUD, [NOW - 3 * DAY], { verifySchedule: '0 4 * * 0', restoreTestSchedule: '0 5 1 * *' });
  const jobs = withDerivedCopies([guest('vm-100', snaps(NOW - 4 * DAY)), l]);
  const findings = evaluate(input({ jobs }), NOW, 'jobs');
  const aboutDerived = findings.filter((f) => f.job?.includes(' via '));
  assert.deepEqual(aboutDerived.map((f) => f.rule), ['rpo-target']);
  assert.ok(findings.some((f) => f.rule === 'missed-run' && f.job === 'cloud-restic'));
});

test('a cycle across agents is a finding naming its path, and the derivation ends', () => {
  const there = link('to-cloud', 'pbs1', CLOUD, [NOW - HOUR]);
  const back = link('back-home', 'cloud', PBS1, [NOW - 30 * MIN], { agent: 'cloudhost' });
  const jobs = withDerivedCopies([guest('vm-100', snaps(NOW - 2 * HOUR)), there, back]);
  assert.equal(derivedAt(jobs, 'vm-100', 'cloud'), NOW - 2 * HOUR);
  const cycle = copyChain(input({ jobs }), NOW).filter((f) => f.rule === 'copy-chain-cycle');
  assert.equal(cycle.length, 1);
  assert.match(cycle[0].title, /^Copies form a cycle: (pbs1 → cloud → pbs1|cloud → pbs1 → cloud)$/);
  assert.match(cycle[0].detail, /pbs\/to-cloud \(pbs1 → cloud\)/);
  assert.match(cycle[0].detail, /cloudhost\/back-home \(cloud → pbs1\)/);
});

test('a link that never succeeded leaves a derived copy without a success (shown stale), and no job with a source leaves the jobs as they are', () => {
  const jobs = withDerivedCopies([guest('vm-100', snaps(SNAP)), link('cloud-restic', 'pbs1', CLOUD, [])]);
  const d = jobs.find((j) => j.derivedVia)!;
  assert.equal(d.lastSuccess, null);
  assert.deepEqual(d.derivedVia?.map((h) => h.job), ['vzdump-100-pbs1', 'cloud-restic']);
  const plain = [guest('vm-100', snaps(SNAP))];
  assert.equal(withDerivedCopies(plain), plain);
});
