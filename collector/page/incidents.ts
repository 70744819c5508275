import type { IncidentItem, IncidentsView } from '../view/incidents';
import { time } from './format';
import { esc, escAttr } from './html';
import { layout, table } from './layout';

// Incidents with acknowledge and mute. The actions call the admin API with the token typed
// here: /static/app.js sends it in the Authorization header and never stores it. The field sits
// in a form (browsers expect a password field in one); it has no name, so submitting it with
// Enter never puts the token in a URL, and the script stops that submit anyway.

const SEVERITY: Record<string, string> = { critical: '✖ critical', warning: '⚠ warning', info: 'ℹ info' };
const sevClass = (s: string) => (s === 'critical' ? 'bad' : s === 'warning' ? 'warn' : 'ok');

export function renderIncidents(v: IncidentsView): string {
  const main = `<h1>Incidents</h1>
<section aria-labelledby="admin-h" class="admin"><h2 id="admin-h">Admin actions</h2>
<form id="admin-form" action="/incidents" method="get"><p><label for="admin-token">Admin token</label> <input id="admin-token" type="password" autocomplete="off" spellcheck="false"></p>
<p><small>Sent with each action below and never stored. Acknowledging and muting need JavaScript.</small></p></form>
<p id="action-result" role="status" aria-live="polite"></p></section>
<section aria-labelledby="open-h"><h2 id="open-h">Open (${v.open.length})</h2>
${table('open', 'Open incidents, most severe first', v.open.map(openRow), 'No open incidents.')}</section>
<section aria-labelledby="mutes-h"><h2 id="mutes-h">Mutes in force</h2>
${table('mutes', 'Mutes in force', v.mutes.map((m) => `<tr><th scope="row">${esc(m.asset ?? 'everything')}</th><td>${time(m.until)}</td><td>${esc(m.reason || '–')}</td><td><button type="button" class="act" data-action="unmute" data-id="${m.id}">Unmute</button></td></tr>`), 'Nothing is muted.')}</section>
<section aria-labelledby="resolved-h"><h2 id="resolved-h">Resolved in the last 7 days</h2>
${table('resolved', 'Resolved incidents, newest first', v.resolved.map(resolvedRow), 'None.')}</section>`;
  return layout({ title: 'Incidents', section: 'incidents', generatedAt: v.generatedAt, json: '/api/v1/incidents?state=all', main });
}

function where(i: IncidentItem): string {
  const asset = i.asset ? `<a href="/assets/${escAttr(encodeURIComponent(i.asset))}">${esc(i.asset)}</a>` : '–';
  return `${asset}${i.job ? `<br><small>${esc(i.agent ?? '')}/${esc(i.job)}</small>` : i.agent ? `<br><small>${esc(i.agent)}</small>` : ''}`;
}

function openRow(i: IncidentItem): string {
  const state = [i.acknowledged ? `✔ acknowledged${i.ackedBy ? ` by ${esc(i.ackedBy)}` : ''}` : '● unacknowledged', i.muted ? '🔕 muted' : ''].filter(Boolean).join('<br>');
  const ack = i.acknowledged ? '' : `<button type="button" class="act" data-action="ack" data-id="${i.id}">Acknowledge</button>`;
  const mute = i.asset
    ? ` <button type="button" class="act" data-action="mute" data-asset="${escAttr(i.asset)}" data-hours="24">Mute ${esc(i.asset)} for 24 h</button>`
    : '';
  return (
    `<tr id="incident-${i.id}"><td class="${sevClass(i.severity)}">${SEVERITY[i.severity]}</td><th scope="row">${esc(i.title)}<br><small>${esc(i.detail)}</small></th>` +
    `<td>${where(i)}</td><td>${time(i.since)}</td><td>${state}</td><td>${ack}${mute}</td></tr>`
  );
}

function resolvedRow(i: IncidentItem): string {
  return `<tr><td class="${sevClass(i.severity)}">${SEVERITY[i.severity]}</td><th scope="row">${esc(i.title)}</th><td>${where(i)}</td><td>${time(i.openedAt)}</td><td>${time(i.resolvedAt)}</td></tr>`;
}
