import { z } from 'zod';
import type { ProxmoxMatch } from '../checks/schema';
import type { RunOutcome } from '../checks/store';

// A Proxmox VE (8.3+) or PBS webhook notification target's POST, with the body template the
// README gives (shared/REFERENCE-INTEGRATIONS.md §6):
//   {"title":"{{ escape title }}","severity":"{{ severity }}","timestamp":{{ timestamp }},
//    "fields":{{ json fields }},"message":"{{ escape message }}"}
// `fields` is the notification's metadata: type (vzdump, verification, gc, prune, sync…),
// hostname, job-id (scheduled jobs only), datastore (PBS). Severity: info on success, error on
// failure (§§5–6). The template is the user's to edit: every field but `fields.type` is optional.

export const proxmoxBodySchema = z.object({
  title: z.string().max(4096).optional(),
  message: z.string().max(1_000_000).optional(),
  severity: z.string().max(32).optional(),
  timestamp: z.number().optional(),
  // No type: the target's "Test" button (or a template without fields); acknowledged, no run.
  fields: z.record(z.string(), z.unknown()).and(z.object({ type: z.string().min(1).max(64).optional() })).prefault({}),
});
export type ProxmoxNotification = z.output<typeof proxmoxBodySchema>;

const field = (n: ProxmoxNotification, key: string): string | undefined => {
  const v = n.fields[key];
  return typeof v === 'string' ? v : typeof v === 'number' ? String(v) : undefined;
};

/** Whether a check's `proxmox:` fields select this notification (absent fields match anything). */
export function proxmoxMatches(m: ProxmoxMatch, n: ProxmoxNotification): boolean {
  return (
    n.fields.type === m.type &&
    (m.hostname === undefined || field(n, 'hostname') === m.hostname) &&
    (m.jobId === undefined || field(n, 'job-id') === m.jobId) &&
    (m.datastore === undefined || field(n, 'datastore') === m.datastore)
  );
}

// vzdump's plain-text body (pve-manager templates/default/vzdump-body.txt.hbs) ends its table with
// "Total running time: {{duration total-time}}" and "Total size: {{human-bytes total-size}}",
// rendered by proxmox-notify as e.g. "1h 2min 3s" and "1.50 GiB".
const UNIT_MS: Record<string, number> = { w: 604_800_000, d: 86_400_000, h: 3_600_000, min: 60_000, m: 60_000, s: 1000, ms: 1 };
const UNIT_BYTES: Record<string, number> = { B: 1, KiB: 2 ** 10, MiB: 2 ** 20, GiB: 2 ** 30, TiB: 2 ** 40, PiB: 2 ** 50, KB: 1e3, MB: 1e6, GB: 1e9, TB: 1e12, PB: 1e15 };

/** "1h 2min 3.5s" → ms; null when no part reads as a duration. */
export function parseProxmoxDuration(text: string): number | null {
  let total = 0;
  let parts = 0;
  for (const m of text.matchAll(/(\d+(?:\.\d+)?)\s*(ms|min|[wdhms])\b/g)) {
    total += Number(m[1]) * UNIT_MS[m[2]];
    parts++;
  }
  return parts > 0 ? Math.round(total) : null;
}

/** "1.50 GiB" → bytes; null when it does not read as a size. */
export function parseProxmoxSize(text: string): number | null {
  const m = /^(\d+(?:\.\d+)?)\s*(B|[KMGTP]i?B)$/.exec(text.trim());
  return m ? Math.round(Number(m[1]) * UNIT_BYTES[m[2]]) : null;
}

/**
 * The run a notification tells of; null for a severity that reports no job's end (a `notice`
 * such as a tape-load request is not a run). The title and message become the run's log.
 */
export function proxmoxOutcome(n: ProxmoxNotification): RunOutcome | null {
  if (n.fields.type === undefined) return null;
  const severity = (n.severity ?? 'info').toLowerCase();
  const status = severity === 'info' ? 'success' : severity === 'warning' ? 'warning' : severity === 'error' ? 'failure' : null;
  if (status === null) return null;
  const message = n.message ?? '';
  const time = /^Total running time:\s*(.+)$/m.exec(message)?.[1];
  const size = /^Total size:\s*(.+)$/m.exec(message)?.[1];
  const durationMs = time ? parseProxmoxDuration(time) : null;
  const bytesTotal = size ? parseProxmoxSize(size) : null;
  // Every notification is a run of the check itself (its one schedule): a verify or GC check is
  // a maintenance job (schema.ts checkRole), not a verify of some other job.
  const title = n.title ?? `${n.fields.type} ${severity}`;
  const who = [field(n, 'hostname'), field(n, 'job-id'), field(n, 'datastore')].filter(Boolean).join(', ');
  return {
    status,
    exitCode: null,
    log: `${title}${who ? ` (${who})` : ''}\n${message}`,
    ...(status === 'failure' ? { error: `Proxmox reported: ${title}` } : {}),
    ...(durationMs !== null ? { durationMs } : {}),
    ...(bytesTotal !== null ? { bytesTotal } : {}),
  };
}
