import { humanBytes } from '../rules/util';
import { esc, escAttr } from './html';

// Text for times, sizes and states, shared by every page (and the reports). Every state
// carries a symbol and a word, never colour alone. One unit system everywhere: a tier's RPO
// in a heading and an age in a table column read alike ("1d", never "24h" beside it).

const STATUS: Record<string, string> = {
  success: '✔ success',
  warning: '⚠ warning',
  failure: '✖ failure',
  timeout: '✖ timeout',
  skipped: '↷ skipped',
  running: '… running',
};

export const statusText = (status: string | null | undefined): string => (status ? (STATUS[status] ?? status) : '– no run yet');
/** CSS class for a run status: bad, warn or ok. */
export const statusClass = (status: string | null | undefined): string =>
  status === 'failure' || status === 'timeout' ? 'bad' : status === 'warning' || status === 'skipped' ? 'warn' : status ? 'ok' : 'warn';

const SECOND = 1000;
const MINUTE = 60 * SECOND;

/**
 * "35 ms", "4.2 s", "42 s", "3m", "1h 5m", "1d", "2d 3h": under a second in milliseconds (a
 * 35 ms run is not "0s"), under ten seconds with a tenth, then at most two units. Unknown: "–".
 */
export function duration(ms: number | null | undefined): string {
  if (ms == null || !Number.isFinite(ms)) return '–';
  const a = Math.abs(ms);
  if (a < SECOND) return `${Math.round(a)} ms`;
  if (a < 10 * SECOND) {
    const s = Math.round(a / 100) / 10;
    return s < 10 ? `${s.toFixed(1)} s` : '10 s';
  }
  if (a < MINUTE - SECOND / 2) return `${Math.round(a / SECOND)} s`;
  // Whole minutes from here on, rounded once so 59m 59.6s reads "1h", not "60m".
  const m = Math.round(a / MINUTE);
  const d = Math.floor(m / 1440);
  const h = Math.floor((m % 1440) / 60);
  const mm = m % 60;
  if (d > 0) return h ? `${d}d ${h}h` : `${d}d`;
  if (h > 0) return mm ? `${h}h ${mm}m` : `${h}h`;
  return `${mm}m`;
}

/** "512 B", "1.5 GiB"; a size nobody reported is "unknown" (never "0 B"). */
export function bytes(n: number | null | undefined, unknown = 'unknown'): string {
  return n == null || !Number.isFinite(n) ? unknown : humanBytes(n);
}

/** "3h 5m ago", "never". */
export function ago(iso: string | null, now: number): string {
  return iso === null ? 'never' : `${duration(now - Date.parse(iso))} ago`;
}

/** "in 5h", "–". */
export function until(iso: string | null, now: number): string {
  if (iso === null) return '–';
  const ms = Date.parse(iso) - now;
  return ms <= 0 ? 'due now' : `in ${duration(ms)}`;
}

/** A machine-readable time with a short UTC text: "2025-01-01 03:00 UTC". */
export function time(iso: string | null): string {
  if (iso === null) return '–';
  return `<time datetime="${escAttr(iso)}">${esc(iso.slice(0, 16).replace('T', ' '))} UTC</time>`;
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** "30 Nov 2026, 06:14:09 UTC": a time for people (the page footer). */
export function humanTime(iso: string): string {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  const p = (n: number) => String(n).padStart(2, '0');
  return `${d.getUTCDate()} ${MONTHS[d.getUTCMonth()]} ${d.getUTCFullYear()}, ${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())} UTC`;
}

/** The same, marked up: <time datetime="ISO">human</time>. */
export function humanTimeTag(iso: string): string {
  return `<time datetime="${escAttr(iso)}">${esc(humanTime(iso))}</time>`;
}

/** "1 asset", "3 assets". */
export const plural = (count: number, noun: string): string => `${count} ${noun}${count === 1 ? '' : 's'}`;
