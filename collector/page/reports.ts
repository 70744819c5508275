import { FLEET_ASSETS } from '../view/overview';
import { assetHeld, CAUSES_SHOWN, drillText, failureJobs, growthText, pct, retentionText, rpoText, trend, usageText, verifyText, type Report } from '../reports';
import { bytes, duration, time } from './format';
import { esc, escAttr } from './html';
import { layout, table } from './layout';

// The weekly and monthly reports (view/report.ts), as tables, and the hosts' disaster-recovery plans.

export function renderReports(reports: Report[], generatedAt: string, hosts: readonly string[] = []): string {
  const plans = hosts.length
    ? `<section aria-labelledby="dr-h"><h2 id="dr-h">If a host died now</h2><p>Each host's disaster-recovery plan: what to restore, from where, with which commands, and how long it should take.</p>
<ul>${hosts.map((h) => `<li><a href="/hosts/${escAttr(encodeURIComponent(h))}/dr-plan">${esc(h)}</a></li>`).join('')}</ul></section>`
    : '';
  const main = `<h1>Reports</h1>\n${reports.map(section).join('\n')}\n${plans}`;
  return layout({ title: 'Reports', section: 'reports', generatedAt, json: '/api/v1/reports/week', main });
}

/** Asset rows on a fleet's report page. */
const FLEET_ROWS = 200;
const mark = (ok: boolean | null) => (ok === null ? '? unknown' : ok ? '✔ yes' : '✖ no');
const cls = (ok: boolean | null) => (ok === null ? 'warn' : ok ? 'ok' : 'bad');

function section(r: Report): string {
  const name = r.period === 'week' ? 'Weekly' : 'Monthly';
  const id = r.period;
  const tiers = r.tiers.map(
    (t) =>
      `<tr><th scope="row">Tier ${t.tier}</th><td>${pct(t.successRate)} (${t.succeeded}/${t.runs})</td><td>${esc(bytes(t.storageBytes))}${trend(t.storageBytes, t.storageBytesBefore)}</td><td>${duration(t.avgDurationMs)} (before: ${duration(t.avgDurationMsBefore)})</td></tr>`,
  );
  // A fleet lists what did not hold, tier 1 first, at most FLEET_ROWS; the JSON lists every asset.
  const fleet = r.assets.length > FLEET_ASSETS;
  const failing = fleet ? r.assets.filter((a) => !assetHeld(a)) : r.assets;
  const listed = fleet ? failing.slice(0, FLEET_ROWS) : failing;
  const assets = listed.map(
    (a) =>
      `<tr><th scope="row"><a href="/assets/${escAttr(encodeURIComponent(a.asset))}">${esc(a.asset)}</a></th><td>${a.tier}</td>` +
      `<td class="${a.rpo.metShare === 1 ? 'ok' : a.rpo.metShare === null ? 'warn' : 'bad'}">${rpoText(a)} (RPO ${duration(a.rpoMs)}); now ${a.rpo.okNow ? '✔ within' : '✖ beyond'}</td>` +
      `<td>${duration(a.rpo.worstGapMs)}</td>` +
      `<td class="${a.retention.state === 'gaps' ? 'bad' : a.retention.state === 'ok' ? 'ok' : 'warn'}">${esc(retentionText(a))}${a.retention.findings.length ? `<ul>${a.retention.findings.map((f) => `<li>${esc(f)}</li>`).join('')}</ul>` : ''}</td>` +
      `<td class="${cls(a.threeTwoOne.now && a.threeTwoOne.throughPeriod !== false)}">${mark(a.threeTwoOne.now)}${a.threeTwoOne.missing.length ? ` (${esc(a.threeTwoOne.missing.join(', '))})` : ''} / ${mark(a.threeTwoOne.throughPeriod)}</td>` +
      `<td class="${a.drills.last?.rtoOk ? 'ok' : 'bad'}">${esc(drillText(a))}</td><td>${esc(verifyText(a))}</td></tr>`,
  );
  const failures = r.failures.slice(0, CAUSES_SHOWN.page).map(
    (g) =>
      `<tr><td>${g.count}</td><th scope="row">${esc(g.cause)}${g.example && g.example !== g.cause ? `<br><small>e.g. ${esc(g.example)}</small>` : ''}</th><td>${esc(failureJobs(g))} (${esc(g.operations.join(', '))})</td><td>${time(new Date(g.lastAt).toISOString())}</td></tr>`,
  );
  const capacity = r.capacity.map(
    (c) =>
      `<tr><td>${esc(c.agent)}</td><th scope="row">${esc(c.name)} <small>(${c.kind})</small></th><td>${esc(usageText(c))}</td>` +
      `<td>${c.changeBytes === null ? '–' : `${c.changeBytes >= 0 ? '+' : '−'}${esc(bytes(Math.abs(c.changeBytes)))}`}, ${esc(growthText(c))}</td>` +
      `<td${c.recommendation ? ' class="bad"' : ''}>${c.projectedFullAt === null ? 'not growing' : time(c.projectedFullAt)}</td></tr>`,
  );
  const advice = r.capacity.filter((c) => c.recommendation);
  const o = r.openIncidents;
  return `<section aria-labelledby="${id}-h"><h2 id="${id}-h">${name} report <small>${esc(r.from.slice(0, 10))} – ${esc(r.to.slice(0, 10))}</small></h2>
${table('tiers', `${name} report by tier`, tiers, 'No jobs.')}
<h3 id="${id}-assets">Assets</h3>
${table('reportAssets', `${name} report by asset`, assets, fleet ? 'Every asset held.' : 'No assets.')}
${fleet ? `<p>${failing.length} of ${r.assets.length} assets did not hold everything (RPO all period, retention, 3-2-1, a restore drill within the RTO)${failing.length > listed.length ? `, the first ${listed.length} listed` : ''}; every asset is in the <a href="/api/v1/reports/${id}">JSON</a>.</p>` : ''}
<h3 id="${id}-failures">Failed runs by cause</h3>
${table('failures', `${name} failed runs by cause`, failures, 'No failed runs.')}
${r.failures.length > failures.length ? `<p>The ${failures.length} most frequent of ${r.failures.length} causes; every cause is in the <a href="/api/v1/reports/${id}">JSON</a>.</p>` : ''}
<h3 id="${id}-capacity">Capacity</h3>
${table('capacity', `${name} capacity`, capacity, 'No usage reported.')}
${advice.length ? `<ul class="facts">${advice.map((c) => `<li class="bad">⚠ ${esc(c.recommendation)}</li>`).join('')}</ul>` : ''}
<ul class="facts"><li>Verifications: ${r.verifications.passed} passed, ${r.verifications.failed} failed</li>
<li>Restore drills: ${r.restoreDrills.passed} passed, ${r.restoreDrills.failed} failed${r.restoreDrills.slowestMs !== null ? `, slowest ${duration(r.restoreDrills.slowestMs)}` : ''}</li>
<li>Open incidents: ${o.critical} critical, ${o.warning} warning, ${o.info} info</li></ul></section>`;
}
