import assert from 'node:assert/strict';
import { test } from 'node:test';
import { niceBytesMax, niceDurationMax, timeAxisLabels, yTicks } from '../collector/page/chart';
import { duration } from '../collector/page/format';
import { overviewHref, renderOverview, runStrip } from '../collector/page/overview';
import { collectorConfig, tierPolicies } from '../collector/config';
import type { EvaluationInput, JobView } from '../collector/rules/types';
import { DEFAULT_RULES_CONFIG } from '../collector/rules/types';
import { FLEET_ASSETS, NO_FILTER, PAGE_ROWS, overviewView, parseOverviewQuery, recentRuns, shownFilesystems } from '../collector/view/overview';
import { job as fixtureJob } from './helpers/rules-fixtures';

// The page's pure parts as tables: chart axes, the disk list's filter, the run strip and the
// fleet view's selection (every asset at risk, always; the healthy rest paged and filtered).

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const NOW = Date.parse('2026-11-30T06:00:00Z');
const tiers = tierPolicies(collectorConfig());

test('time axis labels differ at both ends whatever the span', () => {
  const t = (iso: string) => Date.parse(iso);
  const table: [string, string, string[]][] = [
    ['2026-11-30T06:00:00Z', '2026-11-30T06:00:00Z', ['2026-11-30 06:00']],
    ['2026-11-30T06:00:00Z', '2026-11-30T06:05:00Z', ['2026-11-30 06:00', '06:05']],
    ['2026-11-30T06:00:01Z', '2026-11-30T06:00:41Z', ['2026-11-30 06:00:01', '06:00:41']],
    ['2026-11-29T22:00:00Z', '2026-11-30T06:00:00Z', ['11-29 22:00', '11-30 06:00']],
    ['2026-11-01T02:00:00Z', '2026-11-30T02:00:00Z', ['2026-11-01', '2026-11-30']],
  ];
  for (const [a, b, labels] of table) {
    assert.deepEqual(timeAxisLabels(t(a), t(b)), labels, `${a} – ${b}`);
    if (labels.length === 2) assert.notEqual(labels[0], labels[1]);
  }
});

test('the y axis rounds its top up and never repeats a label', () => {
  const table: [number, number, string[]][] = [
    [62, 100, ['0 ms', '50 ms', '100 ms']],
    [35, 40, ['0 ms', '20 ms', '40 ms']],
    [1, 2, ['0 ms', '1 ms', '2 ms']],
    [45_000, 60_000, ['0 ms', '30 s', '1m']],
    [5 * 60_000, 10 * 60_000, ['0 ms', '5m', '10m']],
    [3 * HOUR, 4 * HOUR, ['0 ms', '2h', '4h']],
  ];
  for (const [vmax, top, labels] of table) {
    assert.equal(niceDurationMax(vmax), top, String(vmax));
    assert.deepEqual(yTicks(top, duration).map((t) => t.label), labels, String(vmax));
  }
  assert.equal(niceBytesMax(3 * 2 ** 30), 4 * 2 ** 30);
  assert.deepEqual(yTicks(0.2, () => '0.0s').map((t) => t.label), ['0.0s'], 'one label when every tick reads alike');
});

test('the disk list drops pseudo and container filesystems', () => {
  const mounts: [string, number, boolean][] = [
    ['/', 1e9, true], ['/srv', 1e12, true], ['/mnt/backup', 5e11, true], ['/run/media/usb', 6e10, true],
    ['/proc', 0, false], ['/sys/fs/cgroup', 1, false], ['/dev/shm', 6e7, false], ['/run', 1e8, false], ['/run/lock', 5e6, false],
    ['/snap/core20/2015', 6.7e7, false], ['/var/lib/docker/overlay2/abc/merged', 1e11, false], ['/var/lib/containers/storage/overlay', 1e11, false],
    ['/data', 0, false], ['/snapshots', 1e9, true], ['/device', 1e9, true], ['/tmp/small', 4096, true],
  ];
  const shown = shownFilesystems(mounts.map(([mount, sizeBytes]) => ({ mount, sizeBytes })));
  assert.deepEqual(shown.map((f) => f.mount), mounts.filter(([, , keep]) => keep).map(([m]) => m));
});

test('the run strip: symbol and colour per run, oldest first, one label', () => {
  const html = runStrip([
    { status: 'success', job: 'a', at: '2026-11-30T01:00:00Z' },
    { status: 'failure', job: 'a', at: '2026-11-30T02:00:00Z' },
    { status: 'skipped', job: 'a', at: '2026-11-30T03:00:00Z' },
  ]);
  assert.equal(html, '<span class="strip" role="img" aria-label="Last 3 runs, oldest first: success, failure, skipped"><i class="m-ok">✔</i><i class="m-bad">✖</i><i class="m-skip">↷</i></span>');
  assert.equal(runStrip([]), '');
  const runs = (job: string, hours: number[]) => fixtureJob({ job, recentBackups: hours.map((h) => ({ status: h % 2 ? 'failure' : 'success', startedAt: NOW - h * HOUR, finishedAt: NOW - h * HOUR + 1000, durationMs: 1000, bytesAdded: null, bytesTotal: null })) });
  const recent = recentRuns([runs('a', [1, 3, 5, 7, 9, 11, 13]), runs('b', [2, 4, 6, 8, 10, 12])]);
  assert.equal(recent.length, 10);
  assert.deepEqual(recent.map((r) => r.job).join(''), 'bababababa', 'both jobs interleaved by time (b at 10h ago is the oldest of the newest ten)');
  assert.ok(recent[0].at < recent[9].at, 'oldest first');
});

test('the overview query: read leniently, written back minimally', () => {
  const table: [Record<string, unknown>, object][] = [
    [{}, NO_FILTER],
    [{ tier: '2', agent: ' pve1 ', name: 'db', page: '3' }, { tier: 2, agent: 'pve1', name: 'db', page: 3 }],
    [{ tier: '9', page: '-1' }, NO_FILTER],
    [{ tier: ['1'], page: 'x' }, NO_FILTER],
  ];
  for (const [q, want] of table) assert.deepEqual(parseOverviewQuery(q), want, JSON.stringify(q));
  assert.equal(overviewHref(NO_FILTER, 1), '/');
  assert.equal(overviewHref({ tier: 1, agent: 'a b', name: '', page: 1 }, 2), '/?tier=1&agent=a+b&page=2');
});

/** n assets on `agents` agents, each with an off-site and a local copy; every `riskEvery`th asset's off-site copy is stale. */
function fleet(n: number, riskEvery: number, agents = 10): EvaluationInput {
  const jobs: JobView[] = [];
  for (let i = 0; i < n; i++) {
    const asset = `asset-${String(i).padStart(5, '0')}`;
    const agent = `agent-${i % agents}`;
    const tier = ((i % 4) + 1) as 1 | 2 | 3 | 4;
    const base = { agent, asset, tier, timezone: 'UTC', knownSince: NOW - 30 * DAY, recentBackups: [] };
    jobs.push(fixtureJob({ ...base, job: `${asset}-usb`, target: { name: 'usb', location: 'onsite', media: 'usb' }, lastSuccess: NOW - HOUR }));
    jobs.push(fixtureJob({ ...base, job: `${asset}-cloud`, target: { name: 'b2', location: 'offsite', media: 'cloud' }, lastSuccess: i % riskEvery === 0 ? NOW - 100 * DAY : NOW - HOUR }));
  }
  return { jobs, agents: [], tiers, config: DEFAULT_RULES_CONFIG };
}

test('a homelab keeps the per-tier view; past FLEET_ASSETS the page lists every asset at risk and pages the rest', () => {
  const small = overviewView({ evaluation: fleet(40, 10), agents: [], openIncidents: [] }, NOW, NO_FILTER);
  assert.equal(small.fleet, undefined, 'tens of assets: the homelab view');
  assert.equal(small.tiers.reduce((n, t) => n + t.assets.length, 0), 40);

  const n = FLEET_ASSETS * 4;
  const big = overviewView({ evaluation: fleet(n, 7), agents: [], openIncidents: [] }, NOW, { ...NO_FILTER, page: 2 });
  const f = big.fleet!;
  const atRisk = Math.ceil(n / 7);
  assert.equal(f.atRisk.length, atRisk, 'every asset at risk, whatever the page');
  assert.equal(big.verdict.atRisk, atRisk);
  assert.equal(f.healthy.matching, n - atRisk);
  assert.equal(f.healthy.rows.length, PAGE_ROWS);
  assert.equal(f.healthy.pages, Math.ceil((n - atRisk) / PAGE_ROWS));
  assert.equal(f.healthy.page, 2);
  assert.ok(f.healthy.rows.every((r) => r.risks.length === 0));
  assert.deepEqual(f.tiers.map((t) => t.assets), [n / 4, n / 4, n / 4, n / 4]);
  assert.ok(big.tiers.every((t) => t.assets.length === 0), 'no full tier lists at fleet scale');

  const filteredView = overviewView({ evaluation: fleet(n, 7), agents: [], openIncidents: [] }, NOW, { tier: 1, agent: 'agent-3', name: '', page: 99 });
  const ff = filteredView.fleet!;
  assert.ok([...ff.atRisk, ...ff.healthy.rows].every((r) => r.tier === 1 && r.agents.includes('agent-3')));
  assert.equal(ff.healthy.page, ff.healthy.pages, 'a page past the end shows the last one');
  const byName = overviewView({ evaluation: fleet(40, 10), agents: [], openIncidents: [] }, NOW, { ...NO_FILTER, name: 'ASSET-0001' });
  assert.deepEqual([...byName.fleet!.atRisk, ...byName.fleet!.healthy.rows].map((r) => r.asset).sort(), Array.from({ length: 10 }, (_, i) => `asset-0001${i}`));

  const html = renderOverview(big);
  assert.match(html, /<form class="filter" method="get" action="\/" role="search"/);
  assert.match(html, /<a href="\/\?page=3" rel="next">next page →<\/a>/);
  assert.match(html, /<a href="\/" rel="prev">← previous page<\/a>/);
});

test('tiers without assets share one line', () => {
  const evaluation = fleet(3, 100, 1);
  const html = renderOverview(overviewView({ evaluation: { ...evaluation, jobs: evaluation.jobs.filter((j) => j.tier === 1) }, agents: [], openIncidents: [] }, NOW, NO_FILTER));
  assert.equal(html.match(/No assets in/g)?.length, 1);
  assert.match(html, /No assets in tier 2 <small>\(RPO 7d · RTO 1d\)<\/small>, tier 3 <small>[^<]+<\/small> or tier 4 <small>/);
});

test('a copy job never run and seen less than an RPO ago is pending: no risk, and the verdict says what it awaits', () => {
  const rpo = tiers[1].rpoMs;
  const base = { asset: 'db', tier: 1 as const, timezone: 'UTC', recentBackups: [], lastBackup: null, lastOutcome: null };
  const local = fixtureJob({ ...base, job: 'local', target: { name: 'usb', location: 'onsite', media: 'usb' }, knownSince: NOW - 60_000, lastSuccess: NOW - 30_000, lastOutcome: null });
  const cloud = (knownFor: number) => fixtureJob({ ...base, job: 'cloud', target: { name: 'b2', location: 'offsite', media: 'cloud' }, knownSince: NOW - knownFor, lastSuccess: null });
  const view = (jobs: JobView[]) => overviewView({ evaluation: { jobs, agents: [], tiers, config: DEFAULT_RULES_CONFIG }, agents: [], openIncidents: [] }, NOW);
  const table: [string, JobView[], boolean, string][] = [
    ['off-site job new', [local, cloud(60_000)], true, 'No asset at risk; 1 of 1 asset awaiting a first copy: db (first off-site copy pending)'],
    ['off-site job older than the RPO, never run', [local, cloud(rpo + 1)], false, '1 of 1 asset at risk: db (no off-site copy within RPO)'],
    ['both new, none run', [{ ...local, lastSuccess: null }, cloud(60_000)], true, 'No asset at risk; 1 of 1 asset awaiting a first copy: db (first backup pending; first off-site copy pending)'],
  ];
  for (const [what, jobs, ok, text] of table) {
    const v = view(jobs);
    assert.equal(v.verdict.ok, ok, what);
    assert.equal(v.verdict.text, text, what);
  }
});
