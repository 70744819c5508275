import { RECENT_RUNS } from '../view/overview';
import type { AssetDetailView, CopyRow, DrillRow, Runbook, RunRow, SnapshotRow } from '../view/asset';
import { lineChart, niceBytesMax, niceDurationMax } from './chart';
import { ago, bytes, duration, statusClass, statusText, time, until } from './format';
import { esc, escAttr } from './html';
import { layout, table } from './layout';
import { runStrip } from './overview';

// One asset: can it come back, from where, and how. Logs are fetched on demand, not inlined.

export function renderAsset(v: AssetDetailView): string {
  const now = Date.parse(v.generatedAt);
  const b = v.badge;
  const ok = v.risks.length === 0;
  const name = esc(v.asset);
  const finished = v.series.some((s) => s.points.length > 0);
  const recent = v.runs.filter((r) => r.status !== 'running').slice(0, RECENT_RUNS).reverse();
  const verdict = v.serverJobsOnly
    ? 'Kept by server jobs only (garbage collection, verify, prune, sync): no copies of its own'
    : ok && v.pending?.length
      ? `Not at risk yet: ${esc(v.pending.join('; '))}`
      : ok
        ? 'Recoverable: a fresh off-site copy within RPO'
      : `At risk: ${esc(v.risks.join('; '))}`;
  const main = `<h1>Asset ${name}${v.guestName === null ? '' : ` <small class="guest">${esc(v.guestName)}</small>`}</h1>
<p class="verdict ${ok ? 'ok' : 'bad'}" id="verdict"><span aria-hidden="true">${ok ? '✔' : '✖'}</span> <strong>${verdict}</strong></p>
<ul class="facts">
<li>Tier ${v.tier} · RPO ${duration(v.rpoMs)} · RTO ${duration(v.rtoMs)}</li>
${recent.length ? `<li>Recent backups: ${runStrip(recent.map((r) => ({ status: r.status, job: r.job, at: r.startedAt })))}</li>
` : ''}<li>Newest good copy: ${v.ageMs === null ? 'none' : `${duration(v.ageMs)} old (${v.rpoOk ? '✔ within' : '✖ beyond'} RPO)`}</li>
<li id="badge" class="${b.ok ? 'ok' : 'bad'}"><span class="nowrap">3-2-1</span> ${b.ok ? '✔ met' : '✖ not met'}: ${b.copies} copies, ${b.media.length} media (${esc(b.media.join(', '))}), ${b.offsite} off-site${b.missing.length ? ` — ${esc(b.missing.join(', '))}` : ''}</li>
<li>Open incidents: ${v.openIncidents.length ? v.openIncidents.map((i) => `<a href="/incidents#incident-${i.id}">${esc(i.title)}</a> (${esc(i.severity)}${i.acknowledged ? ', acknowledged' : ''})`).join('; ') : 'none'}</li>
</ul>
<section aria-labelledby="copies-h"><h2 id="copies-h">Copies</h2>
${table('copies', 'Copies', v.copies.map((c) => copyRow(c, now)), 'No copies.')}</section>
${snapshotsSection(v.snapshots)}
<section aria-labelledby="charts-h"><h2 id="charts-h">Duration and size</h2><div class="charts">
${lineChart({ id: 'chart-duration', title: 'Backup duration', format: duration, nice: niceDurationMax, empty: finished ? 'The finished runs reported no duration.' : undefined, series: v.series.map((s) => ({ label: s.label, points: s.points.flatMap((p) => (p.durationMs === null ? [] : [{ t: p.t, v: p.durationMs }])) })) })}
${lineChart({ id: 'chart-size', title: 'Backup size', format: (n) => bytes(Math.round(n)), nice: niceBytesMax, empty: finished ? 'The finished runs reported no size.' : undefined, series: v.series.map((s) => ({ label: s.label, points: s.points.flatMap((p) => (p.bytesTotal === null ? [] : [{ t: p.t, v: p.bytesTotal }])) })) })}
</div></section>
<section aria-labelledby="runs-h"><h2 id="runs-h">Backup runs</h2>
${table('runs', 'Backup runs, newest first', v.runs.map(runRow), 'No backup has run yet.')}</section>
<section aria-labelledby="verify-h"><h2 id="verify-h">Verifications</h2>
${table('verifications', 'Verifications, newest first', v.verifications.map(checkRow), 'No verification has run yet.')}</section>
<section aria-labelledby="drills-h"><h2 id="drills-h">Restore drills</h2>
${table('drills', `Restore drills, newest first (RTO ${duration(v.rtoMs)})`, v.drills.map((d) => drillRow(d, v.rtoMs)), 'No restore drill has run yet.')}</section>
<section aria-labelledby="runbook-h"><h2 id="runbook-h">Restore runbook</h2>
${v.runbooks.length ? v.runbooks.map(runbook).join('\n') : '<p>No copy to restore from.</p>'}</section>`;
  return layout({ title: `Asset ${v.asset}`, section: null, generatedAt: v.generatedAt, json: `/api/v1/assets/${encodeURIComponent(v.asset)}`, main });
}

const VERIFIED: Record<string, [string, string]> = { ok: ['ok', '✔ verified ok'], failed: ['bad', '✖ verification failed'], none: ['warn', '– never verified'] };
const verifiedText = (state: 'ok' | 'failed' | null) => VERIFIED[state ?? 'none'];

function copyRow(c: CopyRow, now: number): string {
  let snap = c.snapshot ? `<code>${esc(c.snapshot.id)}</code>, ${duration(c.snapshot.ageMs)} old` : '–';
  if (c.snapshot && c.snapshot.verified !== undefined) snap += ` <span class="${verifiedText(c.snapshot.verified)[0]}">${verifiedText(c.snapshot.verified)[1]}</span>`;
  const ver = c.verification;
  const count = ver
    ? `${c.snapshots ?? '–'}<br><small>${ver.ok} verified ok, ${ver.failed} failed, ${ver.unverified} never verified${ver.newestOk ? `; newest verified ${esc(ver.newestOk.time.slice(0, 16).replace('T', ' '))} UTC` : ''}</small>`
    : `${c.snapshots ?? '–'}`;
  const counts = c.serverJob ? '<td>– server job, no copy</td>' : `<td class="${c.fresh ? 'ok' : 'bad'}">${c.fresh ? '✔ fresh' : '✖ stale'}</td>`;
  return (
    `<tr><th scope="row">${esc(c.agent)}/${esc(c.job)} → ${esc(c.target.name)} <small>(${esc(c.driver)})</small>${c.chain ? `<br><small class="chain">${esc(c.chain.text)}</small>` : ''}</th>` +
    `<td>${esc(c.target.location)}</td><td>${esc(c.target.media)}</td><td>${snap}</td><td>${count}</td>` +
    `<td>${ago(c.lastSuccessAt, now)}</td><td>${until(c.nextRunAt, now)}</td>${counts}</tr>`
  );
}

/** Each PBS snapshot's verification state, newest first per copy; nothing where no tool tells any. */
function snapshotsSection(rows: readonly SnapshotRow[]): string {
  if (rows.length === 0) return '';
  const body = rows.map((r) => {
    const [cls, text] = verifiedText(r.verified);
    return `<tr><td>${esc(r.agent)}/${esc(r.job)} → ${esc(r.target)}</td><td><code>${esc(r.id)}</code></td><td>${time(r.time)}</td><td class="${cls}">${text}</td></tr>`;
  });
  return `<section aria-labelledby="snapshots-h"><h2 id="snapshots-h">Snapshots and their verification</h2>
${table('snapshots', 'Newest snapshots of each copy and their last verification (a failed one is no good copy)', body, '')}</section>`;
}

function logLink(r: RunRow): string {
  return r.hasLog ? `<a class="log" href="/api/v1/runs/${escAttr(encodeURIComponent(r.runId))}/log" data-run="${escAttr(r.runId)}">Show log</a>` : '–';
}

function runRow(r: RunRow): string {
  const err = `${r.error ? `<br><small>${esc(r.error)}</small>` : ''}${r.note ? `<br><small class="note">${esc(r.note)}</small>` : ''}`;
  return (
    `<tr><td>${time(r.startedAt)}</td><td>${esc(r.agent)}/${esc(r.job)}</td><td class="${statusClass(r.status)}">${statusText(r.status)}${err}</td>` +
    `<td>${duration(r.durationMs)}</td><td>${bytes(r.bytesAdded)} / ${bytes(r.bytesTotal)}</td><td>${r.exitCode ?? '–'}</td><td>${logLink(r)}</td></tr>`
  );
}

function checkRow(r: RunRow): string {
  return `<tr><td>${time(r.startedAt)}</td><td>${esc(r.agent)}/${esc(r.job)}</td><td class="${statusClass(r.status)}">${statusText(r.status)}</td><td>${duration(r.durationMs)}</td><td>${esc(r.error ?? '–')}</td><td>${logLink(r)}</td></tr>`;
}

function drillRow(d: DrillRow, rtoMs: number): string {
  const rto = d.rtoOk === null ? '– unknown' : `${d.rtoOk ? '✔' : '✖'} ${duration(d.durationMs)} / ${duration(rtoMs)}`;
  return (
    `<tr><td>${time(d.startedAt)}</td><td>${esc(d.agent)}/${esc(d.job)}</td><td class="${statusClass(d.status)}">${statusText(d.status)}</td>` +
    `<td class="${d.rtoOk === false ? 'bad' : d.rtoOk ? 'ok' : 'warn'}">${rto}</td><td>${bytes(d.bytesTotal)}</td><td>${logLink(d)}</td></tr>`
  );
}

function runbook(r: Runbook): string {
  const notes = r.notes.length ? `<ul>${r.notes.map((n) => `<li>${esc(n)}</li>`).join('')}</ul>` : '';
  if (r.steps) {
    // A copy of a copy: each restore in order, outermost copy first.
    const steps = r.steps.map((s) => `<li><h4>${esc(s.title)}</h4>${runbookBody(s.commands, s.notes)}</li>`).join('');
    return `<article class="runbook"><h3>${esc(r.title)}</h3>${notes}<ol class="steps">${steps}</ol></article>`;
  }
  const commands = r.commands.length ? `<pre class="commands"><code>${esc(r.commands.join('\n'))}</code></pre>` : '';
  return `<article class="runbook"><h3>${esc(r.title)}</h3><p>From ${esc(r.agent)}/${esc(r.job)} → ${esc(r.target)}</p>${commands}${notes}</article>`;
}

function runbookBody(commands: readonly string[], notes: readonly string[]): string {
  return (commands.length ? `<pre class="commands"><code>${esc(commands.join('\n'))}</code></pre>` : '') + (notes.length ? `<ul>${notes.map((n) => `<li>${esc(n)}</li>`).join('')}</ul>` : '');
}
