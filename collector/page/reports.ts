import type { Report } from '../reports';
import { bytes, duration } from './format';
import { esc } from './html';
import { layout, table } from './layout';

// The weekly and monthly reports (collector/reports.ts), as tables.

const pct = (x: number | null) => (x === null ? '–' : `${(x * 100).toFixed(1)} %`);
const trend = (now: number, before: number) => (before === 0 ? '' : ` (${now >= before ? '+' : ''}${(((now - before) / before) * 100).toFixed(1)} %)`);

export function renderReports(reports: Report[], generatedAt: string): string {
  const main = `<h1>Reports</h1>\n${reports.map(section).join('\n')}`;
  return layout({ title: 'Reports', section: 'reports', generatedAt, json: '/api/v1/reports/week', main });
}

function section(r: Report): string {
  const name = r.period === 'week' ? 'Weekly' : 'Monthly';
  const rows = r.tiers.map(
    (t) =>
      `<tr><th scope="row">Tier ${t.tier}</th><td>${pct(t.successRate)} (${t.succeeded}/${t.runs})</td><td>${bytes(t.storageBytes)}${trend(t.storageBytes, t.storageBytesBefore)}</td><td>${duration(t.avgDurationMs)} (before: ${duration(t.avgDurationMsBefore)})</td></tr>`,
  );
  const o = r.openIncidents;
  return `<section aria-labelledby="${r.period}-h"><h2 id="${r.period}-h">${name} report <small>${esc(r.from.slice(0, 10))} – ${esc(r.to.slice(0, 10))}</small></h2>
${table('tiers', `${name} report by tier`, rows, 'No jobs.')}
<ul class="facts"><li>Verifications: ${r.verifications.passed} passed, ${r.verifications.failed} failed</li>
<li>Restore drills: ${r.restoreDrills.passed} passed, ${r.restoreDrills.failed} failed${r.restoreDrills.slowestMs !== null ? `, slowest ${duration(r.restoreDrills.slowestMs)}` : ''}</li>
<li>Open incidents: ${o.critical} critical, ${o.warning} warning, ${o.info} info</li></ul></section>`;
}
