import { humanBytes, humanDuration } from '../rules/util';
import { esc, escAttr } from './html';

// Text for times, sizes and states. Every state carries a symbol and a word, never colour alone.

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

export const duration = (ms: number | null | undefined): string => (ms == null ? '–' : humanDuration(ms));
export const bytes = (n: number | null | undefined): string => (n == null ? '–' : humanBytes(n));

/** "3h 5m ago", "never". */
export function ago(iso: string | null, now: number): string {
  return iso === null ? 'never' : `${humanDuration(now - Date.parse(iso))} ago`;
}

/** "in 5h", "–". */
export function until(iso: string | null, now: number): string {
  if (iso === null) return '–';
  const ms = Date.parse(iso) - now;
  return ms <= 0 ? 'due now' : `in ${humanDuration(ms)}`;
}

/** A machine-readable time with a short UTC text: "2025-01-01 03:00 UTC". */
export function time(iso: string | null): string {
  if (iso === null) return '–';
  return `<time datetime="${escAttr(iso)}">${esc(iso.slice(0, 16).replace('T', ' '))} UTC</time>`;
}
