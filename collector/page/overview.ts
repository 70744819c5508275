import type { StatusReport } from '../status';
import { esc } from './html';

const STATUS_LABEL: Record<string, string> = {
  success: '✔ success',
  warning: '⚠ warning',
  failure: '✖ failure',
  timeout: '✖ timeout',
  skipped: '↷ skipped',
  running: '… running',
};

function ago(iso: string | null, now: number): string {
  if (!iso) return 'never';
  const s = Math.max(0, Math.round((now - Date.parse(iso)) / 1000));
  if (s < 90) return `${s}s ago`;
  if (s < 5400) return `${Math.round(s / 60)} min ago`;
  if (s < 129_600) return `${Math.round(s / 3600)} h ago`;
  return `${Math.round(s / 86_400)} d ago`;
}

/** The status page: server-rendered, readable without JavaScript, refreshed every 30 s. */
export function renderOverview(status: StatusReport): string {
  const now = Date.parse(status.generatedAt);
  const agents = status.agents
    .map((a) => `<tr><td>${esc(a.name)}</td><td>${esc(a.hostname ?? '')}</td><td>${esc(a.version ?? '')}</td><td>${esc(ago(a.lastSeen, now))}</td></tr>`)
    .join('');
  const jobs = [...status.jobs]
    .sort((a, b) => a.tier - b.tier || a.asset.localeCompare(b.asset) || a.name.localeCompare(b.name))
    .map((j) => {
      const st = j.lastRun?.status ?? 'never';
      return `<tr class="st-${esc(st)}"><td>${esc(j.tier)}</td><td>${esc(j.asset)}</td><td>${esc(j.agent)} / ${esc(j.name)}</td><td>${esc(j.target.name)} (${esc(j.target.location)}, ${esc(j.target.media)})</td><td>${esc(STATUS_LABEL[st] ?? 'no run yet')}</td><td>${esc(ago(j.lastRun?.finishedAt ?? j.lastRun?.startedAt ?? null, now))}</td></tr>`;
    })
    .join('');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="refresh" content="30"><title>Lifeline — backup status</title>
<style>
body{font:15px/1.4 system-ui,sans-serif;margin:1rem;color:#111;background:#fff}
table{border-collapse:collapse;width:100%;margin-bottom:1.5rem}th,td{text-align:left;padding:.35rem .5rem;border-bottom:1px solid #ddd}
.st-failure td,.st-timeout td{background:#fde8e8}.st-warning td{background:#fff6db}
@media (max-width:600px){td,th{font-size:13px;padding:.25rem}}
</style></head><body>
<h1>Lifeline</h1>
<p>Generated ${esc(status.generatedAt)} · <a href="/api/v1/status">JSON</a></p>
<h2>Jobs</h2>
<table><thead><tr><th scope="col">Tier</th><th scope="col">Asset</th><th scope="col">Agent / job</th><th scope="col">Target</th><th scope="col">Last run</th><th scope="col">When</th></tr></thead>
<tbody>${jobs || '<tr><td colspan="6">No jobs reported yet.</td></tr>'}</tbody></table>
<h2>Agents</h2>
<table><thead><tr><th scope="col">Agent</th><th scope="col">Host</th><th scope="col">Version</th><th scope="col">Last seen</th></tr></thead>
<tbody>${agents || '<tr><td colspan="4">No agent has reported yet.</td></tr>'}</tbody></table>
</body></html>`;
}
