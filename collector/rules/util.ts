import { nextRunMs, previousRunMs } from '../../shared/schedule';
import { groupBy } from '../group-by';
import { memoByObject } from '../memo';
import type { EvaluationInput, Finding, JobView, RuleName, RunView, Tier } from './types';
import { severityFor } from './severity';

export const DAY_MS = 86_400_000;

/** Stable finding key: rule and the names it is about, joined by "|". */
export function findingKey(rule: RuleName, ...parts: string[]): string {
  return [rule, ...parts].join('|');
}

/** A finding about one job, with key, severity and names filled in. */
export function jobFinding(
  rule: RuleName,
  job: JobView,
  f: { title: string; detail: string; since: number; tier?: Tier },
): Finding {
  return {
    key: findingKey(rule, job.agent, job.job),
    rule,
    severity: severityFor(rule, f.tier ?? job.tier),
    agent: job.agent,
    job: job.job,
    asset: job.asset,
    target: job.target.name,
    title: f.title,
    detail: f.detail,
    since: f.since,
  };
}

export function median(values: readonly number[]): number | null {
  if (values.length === 0) return null;
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

export const isGood = (r: Pick<RunView, 'status'>): boolean => r.status === 'success' || r.status === 'warning';
export const isFailed = (r: Pick<RunView, 'status'>): boolean => r.status === 'failure' || r.status === 'timeout';

/** nextRun as epoch ms; null when the schedule never fires again or cannot be parsed. */
export function nextDue(schedule: string, after: number, timezone: string): number | null {
  try {
    return nextRunMs(schedule, after, timezone);
  } catch {
    return null; // an unparseable schedule is the agent's config error, reported there
  }
}

/** previousRun as epoch ms; null when none within the lookback or the schedule is invalid. */
export function previousDue(schedule: string, at: number, timezone: string): number | null {
  try {
    return previousRunMs(schedule, at, timezone);
  } catch {
    return null;
  }
}

const formatters = new Map<string, Intl.DateTimeFormat>();

function localParts(ms: number, timeZone: string): Record<string, string> {
  let f = formatters.get(timeZone);
  if (!f) {
    try {
      f = new Intl.DateTimeFormat('en-CA', {
        timeZone,
        hourCycle: 'h23',
        year: 'numeric',
        month: '2-digit',
        day: '2-digit',
        hour: '2-digit',
        minute: '2-digit',
      });
    } catch {
      f = new Intl.DateTimeFormat('en-CA', { timeZone: 'UTC', hourCycle: 'h23', year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit' });
    }
    formatters.set(timeZone, f);
  }
  const out: Record<string, string> = {};
  for (const p of f.formatToParts(new Date(ms))) out[p.type] = p.value;
  return out;
}

/** "02:00" in the given zone. */
export function localTime(ms: number, timeZone: string): string {
  const p = localParts(ms, timeZone);
  return `${p.hour}:${p.minute}`;
}

/** "2026-03-29 03:00 Europe/Berlin". */
export function localDateTime(ms: number, timeZone = 'UTC'): string {
  const p = localParts(ms, timeZone);
  return `${p.year}-${p.month}-${p.day} ${p.hour}:${p.minute} ${timeZone}`;
}

/** "3d 4h", "2h 5m", "45s". */
export function humanDuration(ms: number): string {
  const s = Math.round(Math.abs(ms) / 1000);
  const d = Math.floor(s / 86_400);
  const h = Math.floor((s % 86_400) / 3600);
  const m = Math.floor((s % 3600) / 60);
  if (d > 0) return h ? `${d}d ${h}h` : `${d}d`;
  if (h > 0) return m ? `${h}h ${m}m` : `${h}h`;
  if (m > 0) return `${m}m`;
  return `${s}s`;
}

export function humanBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  let v = n;
  let i = 0;
  while (Math.abs(v) >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${i === 0 ? v : v.toFixed(1)} ${units[i]}`;
}

/** "last success 2026-03-28 02:05 Europe/Berlin (1d 2h ago)" or "never succeeded". */
export function lastSuccessText(job: JobView, now: number): string {
  return job.lastSuccess === null
    ? 'it has never succeeded'
    : `last success ${localDateTime(job.lastSuccess, job.timezone)} (${humanDuration(now - job.lastSuccess)} ago)`;
}

/** The asset's tier: from input.assets if listed, else the most critical tier among its jobs. */
export function assetTier(input: EvaluationInput, asset: string): Tier {
  const listed = input.assets?.find((a) => a.asset === asset);
  if (listed) return listed.tier;
  return tierIndex(input.jobs).byAsset.get(asset) ?? 4;
}

// The most critical tier per asset and per agent, built once per job list: asking per asset
// or agent by scanning every job made a pass quadratic in the number of jobs.
const tierIndex = memoByObject((jobs: readonly JobView[]) => {
  const idx = { byAsset: new Map<string, Tier>(), byAgent: new Map<string, Tier>() };
  for (const j of jobs) {
    if (j.tier < (idx.byAsset.get(j.asset) ?? 5)) idx.byAsset.set(j.asset, j.tier);
    // A derived copy is the link's agent's job only by name: its tier is the asset's.
    if (j.tier < (idx.byAgent.get(j.agent) ?? 5) && !j.derivedVia) idx.byAgent.set(j.agent, j.tier);
  }
  return idx;
});

/** The most critical tier of the jobs an agent runs (2 when it runs none we know of). */
export function agentTier(input: EvaluationInput, agent: string): Tier {
  return tierIndex(input.jobs).byAgent.get(agent) ?? 2;
}

/** A job that makes copies of its asset (not a server job keeping a target healthy). */
export const isCopyJob = (j: Pick<JobView, 'role'>): boolean => j.role !== 'maintenance';

/** A copy derived through a chain (rules/derived-copies.ts): no runs of its own to judge. */
export const isDerived = (j: Pick<JobView, 'derivedVia'>): boolean => j.derivedVia !== undefined;

/**
 * The jobs that make copies (what the RPO, 3-2-1 and asset rules count), by asset in first-seen
 * order; built once per job list: those rules and the asset states each walk them on every pass.
 */
export const copiesByAsset: (jobs: readonly JobView[]) => ReadonlyMap<string, readonly JobView[]> = memoByObject((jobs) =>
  groupBy(jobs.filter(isCopyJob), (j) => j.asset),
);
