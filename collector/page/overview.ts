import type { AgentRow, AssetRow, DatastoreRow, OverviewView, PbsRow, ProxmoxRow, ServerJobRow, TierSection } from '../view/overview';
import { ago, bytes, duration, statusClass, statusText, time, until } from './format';
import { esc, escAttr } from './html';
import { layout, table } from './layout';

// The overview: the verdict first, then each tier's assets, then the agents. Rows are kept
// terse (1,000 assets must stay under 200 KB); the asset page has the detail.

export function renderOverview(v: OverviewView): string {
  const now = Date.parse(v.generatedAt);
  const c = v.counts;
  const inc = c.openIncidents;
  const main = `<h1>Backup status</h1>
<p class="verdict ${v.verdict.ok ? 'ok' : 'bad'}" id="verdict"><span aria-hidden="true">${v.verdict.ok ? '✔' : '✖'}</span> <strong>${esc(v.verdict.text)}</strong></p>
<ul class="counts"><li>${n(c.assets, 'asset')}</li><li>${v.verdict.atRisk} at risk</li><li>${n(c.jobs, 'job')}</li><li>${n(c.agents, 'agent')}</li><li><a href="/incidents">${inc.critical} critical, ${inc.warning} warning, ${inc.info} info incidents</a></li></ul>
${v.tiers.map((t) => tierSection(t, now)).join('\n')}
${proxmoxSection(v.proxmox)}${pbsSection(v.pbs, now)}<section aria-labelledby="agents-h"><h2 id="agents-h">Agents</h2>
${table('agents', 'Agents', v.agents.map((a) => agentRow(a, now)), 'No agent is configured or enrolled yet.')}</section>`;
  return layout({ title: 'Backup status', section: 'overview', generatedAt: v.generatedAt, json: '/api/v1/overview', main });
}

const n = (count: number, noun: string) => `${count} ${noun}${count === 1 ? '' : 's'}`;

function tierSection(t: TierSection, now: number): string {
  const head = `Tier ${t.tier} <small>RPO ${duration(t.rpoMs)} · RTO ${duration(t.rtoMs)}</small>`;
  if (t.assets.length === 0) return `<section aria-labelledby="tier${t.tier}"><h2 id="tier${t.tier}">${head}</h2><p>No assets in this tier.</p></section>`;
  return `<section aria-labelledby="tier${t.tier}"><h2 id="tier${t.tier}">${head}</h2>
${table('assets', `Tier ${t.tier} assets`, t.assets.map((a) => assetRow(a, now)), '')}</section>`;
}

function assetRow(a: AssetRow, now: number): string {
  const risky = a.risks.length > 0;
  // Terse on purpose (1,000 rows): symbol + word/number in every cell, colour only for trouble.
  const age = a.ageMs === null ? '✖ none' : `${a.rpoOk ? '✔' : '✖'} ${duration(a.ageMs)} / ${duration(a.rpoMs)}`;
  const b = a.badge;
  const r = a.lastRun;
  const last = r ? `${statusText(r.status)} ${ago(r.at, now)}` : '– none';
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
    const left = [r.templates ? n(r.templates, 'template') : '', r.excluded ? `${r.excluded} excluded` : ''].filter(Boolean).join(', ') || '–';
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
  return `<tr><th scope="row">${esc(a.name)}</th><td>${esc(a.hostname ?? '–')}</td><td>${esc(a.version ?? '–')}</td>${seen}<td>${disks ? `<ul class="disks">${disks}</ul>` : '–'}</td></tr>`;
}
