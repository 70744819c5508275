import type { AgentRow, AssetRow, DatastoreRow, FleetView, OverviewQuery, OverviewView, PbsRow, ProxmoxRow, RecentRun, ServerJobRow, TierSection } from '../view/overview';
import { ago, bytes, duration, plural, statusClass, statusText, time, until } from './format';
import { esc, escAttr } from './html';
import { layout, table } from './layout';

// The overview: the verdict first, then each tier's assets, then the agents. Rows are kept
// terse; the asset page has the detail. A fleet (past FLEET_ASSETS assets, or filtered) leads
// with every asset at risk, then counts per tier, then one page of the healthy rest.

export function renderOverview(v: OverviewView): string {
  const now = Date.parse(v.generatedAt);
  const c = v.counts;
  const inc = c.openIncidents;
  const body = v.fleet ? fleetSections(v.fleet, now) : tierSections(v.tiers, now);
  const agentsNote = v.fleet
    ? `<p>${plural(v.agents.length, 'agent')} shown of ${v.fleet.agents.matching} matching (${v.fleet.agents.silent} silent), silent ones first.</p>\n`
    : '';
  const main = `<h1>Backup status</h1>
<p class="verdict ${v.verdict.ok ? 'ok' : 'bad'}" id="verdict"><span aria-hidden="true">${v.verdict.ok ? '✔' : '✖'}</span> <strong>${esc(v.verdict.text)}</strong></p>
<ul class="counts"><li>${plural(c.assets, 'asset')}</li><li>${v.verdict.atRisk} at risk</li><li>${plural(c.jobs, 'job')}</li><li>${plural(c.agents, 'agent')}</li><li><a href="/incidents">${inc.critical} critical, ${inc.warning} warning, ${inc.info} info incidents</a></li></ul>
${body}
${proxmoxSection(v.proxmox)}${pbsSection(v.pbs, now)}<section aria-labelledby="agents-h"><h2 id="agents-h">Agents</h2>
${agentsNote}${table('agents', 'Agents', v.agents.map((a) => agentRow(a, now)), v.fleet ? 'No agent matches the filter.' : 'No agent is configured or enrolled yet.')}</section>`;
  return layout({ title: 'Backup status', section: 'overview', generatedAt: v.generatedAt, json: '/api/v1/overview', main });
}

const objectives = (t: { rpoMs: number; rtoMs: number }) => `RPO ${duration(t.rpoMs)} · RTO ${duration(t.rtoMs)}`;

/** A section per tier with assets; the tiers without any share one line. */
function tierSections(tiers: readonly TierSection[], now: number): string {
  const empty = tiers.filter((t) => t.assets.length === 0);
  const none = empty.length
    ? `<p class="no-assets">No assets in ${list(empty.map((t) => `tier ${t.tier} <small>(${objectives(t)})</small>`))}.</p>`
    : '';
  return tiers
    .filter((t) => t.assets.length > 0)
    .map(
      (t) => `<section aria-labelledby="tier${t.tier}"><h2 id="tier${t.tier}">Tier ${t.tier} <small>${objectives(t)}</small></h2>
${table('assets', `Tier ${t.tier} assets`, t.assets.map((a) => assetRow(a, now)), '')}</section>`,
    )
    .concat(none ? [none] : [])
    .join('\n');
}

/** "a", "a or b", "a, b or c". */
const list = (items: string[]) => (items.length < 2 ? items.join('') : `${items.slice(0, -1).join(', ')} or ${items[items.length - 1]}`);

function fleetSections(f: FleetView, now: number): string {
  const q = f.query;
  const tiers = f.tiers.map(
    (t) => `<tr><th scope="row">Tier ${t.tier}</th><td>${objectives(t)}</td><td>${t.assets}</td>${cell(t.atRisk ? 'bad' : '', `${t.atRisk ? '✖' : '✔'} ${t.atRisk}`)}<td>${t.assets - t.atRisk}</td></tr>`,
  );
  const h = f.healthy;
  return `${filterForm(q)}
<section aria-labelledby="risk-h"><h2 id="risk-h">At risk (${f.atRisk.length}${isFiltered(q) ? ' matching' : ''})</h2>
${table('fleet', 'Assets at risk, by tier and name', f.atRisk.map((a) => fleetRow(a, now)), isFiltered(q) ? 'No asset at risk matches the filter.' : 'No asset is at risk.')}</section>
<section aria-labelledby="tiers-h"><h2 id="tiers-h">Tiers</h2>
${table('tierSummary', 'Assets per tier', tiers, '')}</section>
<section aria-labelledby="healthy-h"><h2 id="healthy-h">Healthy (${h.matching}${isFiltered(q) ? ' matching' : ''}) <small>page ${h.page} of ${h.pages}</small></h2>
${table('fleet', `Healthy assets, page ${h.page} of ${h.pages}`, h.rows.map((a) => fleetRow(a, now)), 'No healthy asset matches the filter.')}
${pager(q, h.page, h.pages)}</section>`;
}

const isFiltered = (q: OverviewQuery) => q.tier !== null || q.agent !== '' || q.name !== '';

/** A plain GET form: the filter works without JavaScript, and its URL can be shared. */
function filterForm(q: OverviewQuery): string {
  const tiers = ['', '1', '2', '3', '4']
    .map((t) => `<option value="${t}"${String(q.tier ?? '') === t ? ' selected' : ''}>${t === '' ? 'all' : `tier ${t}`}</option>`)
    .join('');
  return `<form class="filter" method="get" action="/" role="search" aria-label="Filter assets">
<label>Tier <select name="tier">${tiers}</select></label>
<label>Agent <input name="agent" value="${escAttr(q.agent)}" autocomplete="off" spellcheck="false"></label>
<label>Asset <input name="name" value="${escAttr(q.name)}" autocomplete="off" spellcheck="false"></label>
<button type="submit">Filter</button>${isFiltered(q) ? ' <a href="/">Show all</a>' : ''}</form>`;
}

/** The URL of the overview with this filter at this page. */
export function overviewHref(q: OverviewQuery, page: number): string {
  const p = new URLSearchParams();
  if (q.tier !== null) p.set('tier', String(q.tier));
  if (q.agent) p.set('agent', q.agent);
  if (q.name) p.set('name', q.name);
  if (page > 1) p.set('page', String(page));
  const s = p.toString();
  return s ? `/?${s}` : '/';
}

function pager(q: OverviewQuery, page: number, pages: number): string {
  if (pages <= 1) return '';
  const link = (to: number, text: string, rel: string) => `<a href="${escAttr(overviewHref(q, to))}" rel="${rel}">${text}</a>`;
  const prev = page > 1 ? link(page - 1, '← previous page', 'prev') : '';
  const next = page < pages ? link(page + 1, 'next page →', 'next') : '';
  return `<nav class="pager" aria-label="Pages of healthy assets">${[prev, `page ${page} of ${pages}`, next].filter(Boolean).join(' · ')}</nav>`;
}

/** Terser than the homelab row (a fleet lists every asset at risk): no next run, no strip. */
function fleetRow(a: AssetRow, now: number): string {
  const risky = a.risks.length > 0;
  const age = a.ageMs === null ? '✖ none' : `${a.rpoOk ? '✔' : '✖'} ${duration(a.ageMs)} / ${duration(a.rpoMs)}`;
  const b = a.badge;
  const r = a.lastRun;
  const why = risky ? `<br><small>${esc(a.risks.join('; '))}</small>` : '';
  return (
    `<tr${risky ? ' class="risk"' : ''}><th scope="row"><a href="/assets/${escAttr(encodeURIComponent(a.asset))}">${esc(a.asset)}</a>${why}</th><td>${a.tier}</td>` +
    `${cell(a.rpoOk ? '' : 'bad', age)}${cell(b.ok ? '' : 'bad', `${b.ok ? '✔' : '✖'} ${b.copies}/${b.media.length}/${b.offsite}`)}` +
    `${cell(r ? trouble(statusClass(r.status)) : 'warn', r ? `${statusText(r.status)} ${ago(r.at, now)}` : '– none')}<td>${a.openIncidents}</td></tr>`
  );
}

const MARKS: Record<string, [string, string]> = { success: ['ok', '✔'], warning: ['warn', '⚠'], failure: ['bad', '✖'], timeout: ['bad', '✖'], skipped: ['skip', '↷'] };

/** The recent runs as marks, oldest first: a symbol and a colour each, and one label for screen readers. */
export function runStrip(recent: readonly RecentRun[]): string {
  if (recent.length === 0) return '';
  const counts = new Map<string, number>();
  for (const r of recent) counts.set(r.status, (counts.get(r.status) ?? 0) + 1);
  const label = `Last ${plural(recent.length, 'run')}, oldest first: ${recent.map((r) => r.status).join(', ')}`;
  const marks = recent.map((r) => {
    const [cls, sym] = MARKS[r.status] ?? ['skip', '?'];
    return `<i class="m-${cls}">${sym}</i>`;
  });
  return `<span class="strip" role="img" aria-label="${escAttr(label)}">${marks.join('')}</span>`;
}

function assetRow(a: AssetRow, now: number): string {
  const risky = a.risks.length > 0;
  // Terse on purpose (1,000 rows): symbol + word/number in every cell, colour only for trouble.
  const age = a.ageMs === null ? '✖ none' : `${a.rpoOk ? '✔' : '✖'} ${duration(a.ageMs)} / ${duration(a.rpoMs)}`;
  const b = a.badge;
  const r = a.lastRun;
  const last = `${r ? `${statusText(r.status)} ${ago(r.at, now)}` : '– none'}${a.recent?.length ? `<br>${runStrip(a.recent)}` : ''}`;
  const why = risky ? `<br><small>${esc(a.risks.join('; '))}</small>` : '';
  const guest = a.guestName === null ? '' : ` <small class="guest">${esc(a.guestName)}</small>`;
  return (
    `<tr${risky ? ' class="risk"' : ''}><th scope="row"><a href="/assets/${escAttr(encodeURIComponent(a.asset))}">${esc(a.asset)}</a>${guest}${why}</th>` +
    `${cell(a.rpoOk ? '' : 'bad', age)}${cell(b.ok ? '' : 'bad', `${b.ok ? '✔' : '✖'} ${b.copies}/${b.media.length}/${b.offsite}`)}` +
    `${cell(r ? trouble(statusClass(r.status)) : 'warn', last)}<td>${until(a.nextRunAt, now)}</td><td>${a.openIncidents}</td></tr>`
  );
}

const cell = (cls: string, text: string) => (cls ? `<td class="${cls}">${text}</td>` : `<td>${text}</td>`);
const trouble = (cls: string) => (cls === 'ok' ? '' : cls);

/** The coverage audit per Proxmox VE agent; nothing at all without one. */
function proxmoxSection(rows: readonly ProxmoxRow[]): string {
  if (rows.length === 0) return '';
  const share = (part: number, total: number) => cell(part < total ? 'bad' : '', `${part < total ? '✖' : '✔'} ${part} of ${total}`);
  const body = rows.map((r) => {
    const left = [r.templates ? plural(r.templates, 'template') : '', r.excluded ? `${r.excluded} excluded` : ''].filter(Boolean).join(', ') || '–';
    const snaps = r.staleSnapshots ? `⚠ ${r.staleSnapshots} stale` : '✔ none stale';
    const undated = r.undatedSnapshots ? `, ${r.undatedSnapshots} without a time` : '';
    return (
      `<tr><th scope="row">${esc(r.agent)}</th><td>${esc(r.node)}</td><td>${r.total}</td>${share(r.tiered, r.total)}${share(r.covered, r.total)}` +
      `<td>${left}</td>${cell(r.staleSnapshots ? 'warn' : '', `${snaps}${undated}`)}</tr>`
    );
  });
  return `<section aria-labelledby="proxmox-h"><h2 id="proxmox-h">Proxmox VE guests</h2>
${table('proxmox', 'Proxmox VE guests per agent: with a tier and backed up by an enabled job', body, '')}</section>
`;
}

/** Per agent on a Proxmox Backup Server: its datastores and server jobs; nothing at all without one. */
function pbsSection(rows: readonly PbsRow[], now: number): string {
  if (rows.length === 0) return '';
  const agents = rows.map((r, i) => {
    const id = `pbs-${i}-h`;
    return `<h3 id="${id}">${esc(r.agent)}${r.updatedAt ? ` <small>reported ${ago(r.updatedAt, now)}</small>` : ''}</h3>
${table('datastores', `Datastores on ${r.agent}`, r.datastores.map((d) => datastoreRow(d, now)), 'No datastore reported yet.')}
${table('serverJobs', `Server jobs on ${r.agent}`, r.jobs.map((j) => serverJobRow(j, now)), 'No server job reported.')}`;
  });
  return `<section aria-labelledby="pbs-h"><h2 id="pbs-h">Proxmox Backup Server</h2>
${agents.join('\n')}</section>
`;
}

function datastoreRow(d: DatastoreRow, now: number): string {
  const usage =
    d.usedPct === null || d.totalBytes === null
      ? '–'
      : `<meter value="${(d.usedPct / 100).toFixed(3)}" high="0.8" aria-label="${escAttr(d.name)} used"></meter> ${d.usedPct} % of ${bytes(d.totalBytes)}`;
  const full = d.estimatedFullAt === null ? '– no estimate' : `${time(d.estimatedFullAt)} (${until(d.estimatedFullAt, now)})`;
  const gc =
    d.gc === null || d.gc.startedAt === null
      ? '– never'
      : `${ago(d.gc.startedAt, now)}: ${bytes(d.gc.removedBytes)} removed, ${bytes(d.gc.pendingBytes)} pending`;
  const state = d.error !== null
    ? cell('bad', `✖ PBS cannot read it: ${esc(d.error)}`)
    : d.maintenance !== null
      ? cell('warn', `⚠ maintenance: ${esc(d.maintenance)}`)
      : '<td>✔ available</td>';
  return `<tr><th scope="row">${esc(d.name)} <small>→ ${esc(d.target)}</small></th><td>${usage}</td><td>${full}</td>${cell(d.gc?.startedAt ? '' : 'warn', gc)}${state}</tr>`;
}

function serverJobRow(j: ServerJobRow, now: number): string {
  const r = j.lastRun;
  const last = r ? `${statusText(r.status)} ${ago(r.at, now)}${r.error ? `<br><small>${esc(r.error)}</small>` : ''}` : '– none';
  return (
    `<tr><th scope="row"><a href="/assets/${escAttr(encodeURIComponent(j.asset))}">${esc(j.job)}</a></th><td>${esc(j.driver)}</td><td>${esc(j.schedule || '–')}</td>` +
    `${cell(r ? trouble(statusClass(r.status)) : 'warn', last)}<td>${until(j.nextRunAt, now)}</td></tr>`
  );
}

function agentRow(a: AgentRow, now: number): string {
  const seen = a.lastSeen === null ? '<td class="warn">– never</td>' : cell(a.silent ? 'bad' : '', `${a.silent ? '✖ silent, ' : '✔ '}${ago(a.lastSeen, now)}`);
  const disks = a.filesystems
    .map((f) => `<li>${esc(f.mount)} <meter value="${(f.usedPct / 100).toFixed(3)}" high="0.8" aria-label="${escAttr(f.mount)} used"></meter> ${f.usedPct} % of ${bytes(f.sizeBytes)}</li>`)
    .join('');
  // Each host's name leads to its disaster-recovery plan ("if this host died now").
  const plan = `<a href="/hosts/${escAttr(encodeURIComponent(a.name))}/dr-plan" title="Disaster-recovery plan of ${escAttr(a.name)}">${esc(a.name)}</a>`;
  return `<tr><th scope="row">${plan}</th><td>${esc(a.hostname ?? '–')}</td><td>${esc(a.version ?? '–')}</td>${seen}<td>${disks ? `<ul class="disks">${disks}</ul>` : '–'}</td></tr>`;
}
