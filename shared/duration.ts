// Durations in config are human strings ("90s", "1h30m", "7d") or plain seconds.
const UNIT_MS: Record<string, number> = {
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
  w: 7 * 86_400_000,
};

const DURATION_RE = /^(\d+(?:\.\d+)?)(ms|s|m|h|d|w)/;

/** Parses "1h30m", "45s", "500ms", "7d" or a number of seconds; returns milliseconds or null. */
export function parseDuration(input: string | number): number | null {
  if (typeof input === 'number') return Number.isFinite(input) && input >= 0 ? Math.round(input * 1000) : null;
  let rest = input.trim();
  if (rest === '') return null;
  if (/^\d+(\.\d+)?$/.test(rest)) return Math.round(Number(rest) * 1000);
  let total = 0;
  while (rest.length > 0) {
    const m = DURATION_RE.exec(rest);
    if (!m) return null;
    total += Number(m[1]) * UNIT_MS[m[2]];
    rest = rest.slice(m[0].length);
  }
  return Math.round(total);
}

/** Short human form for logs and the status page: 3723000 → "1h2m3s". */
export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)}ms`;
  let s = Math.round(ms / 1000);
  const parts: string[] = [];
  for (const [unit, size] of [['d', 86400], ['h', 3600], ['m', 60]] as const) {
    if (s >= size) {
      parts.push(`${Math.floor(s / size)}${unit}`);
      s %= size;
    }
  }
  if (s > 0 || parts.length === 0) parts.push(`${s}s`);
  return parts.join('');
}
