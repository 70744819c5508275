import assert from 'node:assert/strict';
import { test } from 'node:test';
import { renderReports } from '../collector/page/reports';
import { reportMarkdown, type AssetReport, type Report } from '../collector/reports';

const asset = (n: number, held: boolean): AssetReport => ({
  asset: `asset-${String(n).padStart(4, '0')}`,
  tier: 1,
  rpoMs: 86_400_000,
  rtoMs: 14_400_000,
  rpo: { metShare: held ? 1 : 0.5, outsideMs: 0, worstGapMs: 86_400_000, okNow: true, newestAt: null },
  retention: { state: 'ok', findings: [] },
  threeTwoOne: { now: true, missing: [], throughPeriod: true },
  drills: { passed: 1, failed: 0, last: { job: 'j', at: '2025-01-14T00:00:00.000Z', status: 'success', durationMs: 35, rtoOk: true } },
  verifications: { passed: 0, failed: 0, last: null },
});
const report = (assets: AssetReport[]): Report => ({
  period: 'week',
  from: '2025-01-08T12:00:00.000Z',
  to: '2025-01-15T12:00:00.000Z',
  tiers: [],
  verifications: { passed: 0, failed: 0 },
  restoreDrills: { passed: 0, failed: 0, slowestMs: null },
  openIncidents: { critical: 0, warning: 0, info: 0, titles: [] },
  assets,
  failures: [],
  capacity: [],
});
const rows = (html: string) => (html.match(/<a href="\/assets\/asset-/g) ?? []).length;

test('the reports page lists every asset of a homelab, and of a fleet what did not hold (at most 200 rows)', () => {
  const homelab = renderReports([report([asset(1, true), asset(2, false)])], '2025-01-15T12:00:00.000Z', ['pve1']);
  assert.equal(rows(homelab), 2);
  assert.match(homelab, /35 ms within the 4h RTO/); // a sub-second drill in ms
  assert.match(homelab, /href="\/hosts\/pve1\/dr-plan"/);
  const fleet = renderReports([report(Array.from({ length: 400 }, (_, n) => asset(n, n % 2 === 0)))], '2025-01-15T12:00:00.000Z');
  assert.equal(rows(fleet), 200);
  assert.match(fleet, /200 of 400 assets did not hold everything/);
  assert.doesNotMatch(fleet, /the first \d+ listed/);
  const worse = renderReports([report(Array.from({ length: 400 }, (_, n) => asset(n, n % 4 === 0)))], '2025-01-15T12:00:00.000Z');
  assert.equal(rows(worse), 200);
  assert.match(worse, /300 of 400 assets did not hold everything \(RPO all period, retention, 3-2-1, a restore drill within the RTO\), the first 200 listed/);
});

test('a report cut short (the notification) lists what did not hold first', () => {
  const md = reportMarkdown(report([asset(1, true), asset(2, true), asset(3, false)]), 2);
  assert.match(md, /\| asset-0003 \|[^\n]*\n\| asset-0001 \|[^\n]*\n… and 1 more assets: see the reports page\./);
});

test('failure causes: the 20 most frequent in the Markdown, 100 on the page, every one in the JSON', () => {
  const failures = Array.from({ length: 120 }, (_, n) => ({ cause: `cause ${n}`, count: 120 - n, jobs: ['pve1/db'], operations: ['backup'], lastAt: 0, example: null }));
  const r = { ...report([]), failures };
  const md = reportMarkdown(r);
  assert.match(md, /- 101× cause 19 —[^\n]*\n… and 100 more causes: see the reports page\./);
  const page = renderReports([r], '2025-01-15T12:00:00.000Z');
  assert.equal((page.match(/<th scope="row">cause \d+/g) ?? []).length, 100);
  assert.match(page, /The 100 most frequent of 120 causes/);
});
