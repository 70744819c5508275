import { countCopies } from '../rules/asset-state';
import { leastSquares, projectedFullAt } from '../rules/trend';
import type { JobView } from '../rules/types';
import { DAY_MS } from '../rules/util';

// The period arithmetic of the weekly and monthly reports, pure: how much of the period an
// asset's newest good copy stayed within its RPO, whether 3-2-1 held all through it, and the
// period's failed runs grouped by cause. Times are epoch ms; the period is [from, to].

export interface RpoOverPeriod {
  /** Share of the period (from the asset's first job on) its newest good copy was within the RPO; null: no time to judge. */
  metShare: number | null;
  /** Time of the period spent beyond the RPO (or with no copy at all). */
  outsideMs: number;
  /**
   * The longest the asset went without a new good copy during the period: from the copy before
   * (which may precede the period; the period's start when there was none) to the next one, or
   * to the period's end.
   */
  worstGapMs: number;
}

/**
 * `times`: every good copy's time (any order; those after `to` are ignored). A copy exactly the
 * RPO old still counts (as the RPO rule has it). `since` (the asset's first job) moves the start
 * of a period the asset did not exist for all of.
 */
export function rpoOverPeriod(times: readonly number[], rpoMs: number, from: number, to: number, since = from): RpoOverPeriod {
  const start = Math.max(from, since);
  if (!(to > start)) return { metShare: null, outsideMs: 0, worstGapMs: 0 };
  const sorted = times.filter((t) => Number.isFinite(t) && t <= to).sort((a, b) => a - b);
  let prev: number | null = null;
  let i = 0;
  for (; i < sorted.length && sorted[i] <= start; i++) prev = sorted[i];
  let cur = start;
  let within = 0;
  let worst = 0;
  const segment = (end: number) => {
    // From cur to end the newest copy is `prev`: within the RPO until prev + rpo.
    if (prev !== null) within += Math.max(0, Math.min(end, prev + rpoMs) - cur);
    worst = Math.max(worst, end - (prev ?? start));
  };
  for (; i < sorted.length; i++) {
    segment(sorted[i]);
    prev = sorted[i];
    cur = sorted[i];
  }
  segment(to);
  const span = to - start;
  return { metShare: within / span, outsideMs: span - within, worstGapMs: worst };
}

/** One job's good copies over the period: the job (its target counts for 3-2-1) and its copies' times. */
export interface JobCopies {
  job: JobView;
  times: readonly number[];
}

/**
 * Whether 3-2-1 (countCopies, fresh within the RPO) held at every moment of [from, to]. It can
 * change only when a copy is made or when one grows older than the RPO: judged at those moments.
 */
export function heldThroughPeriod(jobs: readonly JobCopies[], rpoMs: number, from: number, to: number, sourceMedia = 'disk'): boolean {
  const sorted = jobs.map((j) => ({ job: j.job, times: j.times.filter((t) => Number.isFinite(t) && t <= to).sort((a, b) => a - b), next: 0, last: null as number | null }));
  const moments = new Set<number>([from, to]);
  for (const j of sorted) {
    for (const t of j.times) {
      if (t > from) moments.add(t);
      // The first moment the copy is past its RPO.
      if (t + rpoMs + 1 > from && t + rpoMs + 1 <= to) moments.add(t + rpoMs + 1);
    }
  }
  // In time order, each job's newest copy so far advancing with it.
  for (const at of [...moments].sort((a, b) => a - b)) {
    for (const j of sorted) while (j.next < j.times.length && j.times[j.next] <= at) j.last = j.times[j.next++];
    const views = sorted.map(({ job, last }) => ({ ...job, lastSuccess: last }));
    if (!countCopies(views, rpoMs, at, sourceMedia).ok) return false;
  }
  return true;
}

/** A failed run of the period (any operation). */
export interface FailedRun {
  agent: string;
  job: string;
  operation: string;
  status: string;
  error: string | null;
  startedAt: number;
}

export interface FailureGroup {
  /** The error text with its numbers, paths, addresses and ids blanked: what the runs have in common. */
  cause: string;
  count: number;
  /** "agent/job", each once, in the order of their newest failure. */
  jobs: string[];
  /** Operations that failed so (backup, verify, prune, restore-test). */
  operations: string[];
  /** The newest of these failures. */
  lastAt: number;
  /** The newest failure's own text (first line, at most 200 characters). */
  example: string | null;
}

const MAX_CAUSE = 160;

const firstLine = (text: string | null): string | undefined =>
  text
    ?.split(/\r?\n/)
    .map((l) => l.trim())
    .find((l) => l !== '');

/**
 * The cause of a failure, so that the same failure on other runs, hosts or files reads the same:
 * the first line of the error, with URLs, paths, addresses, ids and numbers replaced by
 * placeholders, and whitespace collapsed. A run without an error text: its status.
 */
export function normalizeError(error: string | null, status: string): string {
  const line = firstLine(error);
  if (!line) return status === 'timeout' ? 'timed out' : 'failed without an error text';
  const cause = line
    .replace(/\b[a-z][a-z0-9+.-]*:\/\/\S+/gi, '<url>')
    .replace(/\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b/gi, '<id>')
    .replace(/(^|[\s'"(=:[])(?:~|\.{1,2})?\/[^\s'",;:)\]]*/g, '$1<path>')
    .replace(/\b\d{1,3}(?:\.\d{1,3}){3}(?::\d+)?\b/g, '<addr>')
    .replace(/\[[0-9a-f:]*:[0-9a-f:]*\](?::\d+)?/gi, '<addr>')
    .replace(/\b(?=[0-9a-f]*\d)(?=[0-9a-f]*[a-f])[0-9a-f]{8,}\b/gi, '<id>')
    .replace(/\d+(?:[.,]\d+)*/g, '<n>')
    .replace(/\s+/g, ' ')
    .trim();
  return cause.length > MAX_CAUSE ? `${cause.slice(0, MAX_CAUSE - 1)}…` : cause;
}

/** The failed runs grouped by cause (case aside), the most frequent first, then the newest. */
export function groupFailures(runs: readonly FailedRun[]): FailureGroup[] {
  const groups = new Map<string, FailureGroup>();
  const newestFirst = [...runs].sort((a, b) => b.startedAt - a.startedAt);
  for (const r of newestFirst) {
    const cause = normalizeError(r.error, r.status);
    const key = cause.toLowerCase();
    let g = groups.get(key);
    if (!g) groups.set(key, (g = { cause, count: 0, jobs: [], operations: [], lastAt: r.startedAt, example: exampleOf(r.error) }));
    g.count++;
    const name = `${r.agent}/${r.job}`;
    if (!g.jobs.includes(name)) g.jobs.push(name);
    if (!g.operations.includes(r.operation)) g.operations.push(r.operation);
  }
  return [...groups.values()].sort((a, b) => b.count - a.count || b.lastAt - a.lastAt);
}

function exampleOf(error: string | null): string | null {
  const line = firstLine(error);
  if (!line) return null;
  return line.length > 200 ? `${line.slice(0, 199)}…` : line;
}

/** Usage samples of one filesystem or datastore. */
export interface UsageSamples {
  sizeBytes: number | null;
  usedBytes: number | null;
  /** Past samples (any order). */
  history: readonly { at: number; usedBytes: number }[];
}

export interface CapacityOutlook {
  /** Used now minus used at the period's start (the newest sample at or before it, else the first after); null: no sample to compare. */
  changeBytes: number | null;
  /** The least-squares growth through the period's samples and now, per day; null: fewer than two. */
  growthPerDayBytes: number | null;
  /** When the line through the whole usage history (as the capacity rule draws it) reaches the size; null: not growing, or unknown. */
  projectedFullAt: number | null;
  /** The projected full date falls before the end of the next period (or is past already). */
  fullWithinNextPeriod: boolean;
}

/** A filesystem's or datastore's trend over [from, now] and where it is heading within the next period of `periodMs`. */
export function capacityOutlook(u: UsageSamples, from: number, now: number, periodMs: number): CapacityOutlook {
  if (u.usedBytes === null) return { changeBytes: null, growthPerDayBytes: null, projectedFullAt: null, fullWithinNextPeriod: false };
  const past = u.history.filter((h) => h.at < now);
  const samples = [...past, { at: now, usedBytes: u.usedBytes }];
  const inPeriod = samples.filter((h) => h.at >= from);
  const before = past.filter((h) => h.at <= from).sort((a, b) => b.at - a.at)[0];
  const baseline = before ?? inPeriod.filter((h) => h.at < now).sort((a, b) => a.at - b.at)[0];
  const fit = leastSquares(inPeriod.map((h) => ({ x: h.at, y: h.usedBytes })));
  const fullAt = u.sizeBytes !== null && u.sizeBytes > 0 ? projectedFullAt(samples, u.sizeBytes) : null;
  return {
    changeBytes: baseline ? u.usedBytes - baseline.usedBytes : null,
    growthPerDayBytes: fit ? fit.slope * DAY_MS : null,
    projectedFullAt: fullAt,
    fullWithinNextPeriod: fullAt !== null && fullAt <= now + periodMs,
  };
}
