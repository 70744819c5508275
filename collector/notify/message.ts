import { markdownText, visibleText } from '../../shared/display-text';
import type { IncidentRow } from '../incidents/types';
import type { NotificationMessage, NotifyEvent } from './types';

// How an incident reads on a phone. Pure: the text depends on the incident and `now` only.

export interface MessageOptions {
  /** The status page URL, used as the notification's click target. */
  publicUrl?: string;
}

const PREFIX: Record<Exclude<NotifyEvent, 'report'>, string> = { open: '', reminder: 'Still failing: ', resolved: 'Resolved: ' };

/**
 * The title is plain text, the body Markdown. Titles and details quote agent text (errors,
 * mounts, devices): the title gets its hidden characters made visible, every agent-derived
 * string in the body is escaped for Markdown (shared/display-text.ts).
 */
export function incidentMessage(incident: IncidentRow, event: Exclude<NotifyEvent, 'report'>, now: number, opts: MessageOptions = {}): NotificationMessage {
  const md = markdownText;
  const where = incident.asset ? `[${incident.asset}] ` : '';
  const lines: string[] = [md(incident.detail), ''];
  if (incident.asset) lines.push(`**Asset:** ${md(incident.asset)} (tier ${incident.tier})`);
  if (incident.agent || incident.job) lines.push(`**Job:** ${md([incident.agent, incident.job].filter(Boolean).join(' / '))}`);
  if (incident.target) lines.push(`**Target:** ${md(incident.target)}`);
  lines.push(`**Since:** ${new Date(incident.since).toISOString()} (${formatAge(now - incident.since)} ago)`);
  if (event === 'resolved') lines.push(`**Resolved:** after ${formatAge(now - incident.since)}`);
  if (incident.ackedBy) lines.push(`**Acknowledged by:** ${md(incident.ackedBy)}`);
  const tags = [incident.rule];
  if (incident.asset) tags.push(incident.asset);
  tags.push(`tier${incident.tier}`);
  const m: NotificationMessage = {
    event,
    severity: incident.severity,
    title: visibleText(`${PREFIX[event]}${where}${incident.title}`),
    body: lines.join('\n').trim(),
    tags,
    tier: incident.tier,
  };
  if (incident.asset) m.asset = incident.asset;
  if (opts.publicUrl) m.clickUrl = opts.publicUrl;
  return m;
}

/** "3d 4h", "2h 5m", "45m", "30s". */
export function formatAge(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  const d = Math.floor(s / 86400);
  const h = Math.floor((s % 86400) / 3600);
  const m = Math.floor((s % 3600) / 60);
  if (d > 0) return h ? `${d}d ${h}h` : `${d}d`;
  if (h > 0) return m ? `${h}h ${m}m` : `${h}h`;
  if (m > 0) return `${m}m`;
  return `${s}s`;
}
