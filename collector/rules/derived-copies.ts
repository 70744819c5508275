import { findCopyCycle, type CopyEdge } from '../../shared/copy-cycle';
import type { ChainHop, JobView, Tier } from './types';
import { isCopyJob, isDerived, isGood, isFailed } from './util';

// Copies of copies. A link job (`source: { target: S }`, e.g. restic over a PBS datastore) copies
// what target S holds to its own target T: every asset with a good copy at S gets a derived copy
// at T, as fresh as the newest copy at S taken before the link's run started — never fresher
// than what was copied. Chains of any length: T may be a source too. Derived copies are JobViews
// of the asset (with `derivedVia`), so RPO, 3-2-1, the page, the API and the metrics count them
// like direct ones. Pure: applied once where the evaluator gathers the jobs, after the
// verification adjustment (a failed snapshot at S is copied, but is no good copy at T either).

/** One good copy of an asset at a target: what it holds (`time`, what the RPO ages) and when it could be copied on. */
export interface CopyEntry {
  /** The asset's state it holds: a snapshot's time, or a backup's finish. */
  time: number;
  /** When it existed at the target: the snapshot's time, or the copying run's finish. */
  availableAt: number;
  /** The hops it came through, the asset's own job first. */
  via: readonly ChainHop[];
}

const hop = (j: JobView): ChainHop => ({ agent: j.agent, job: j.job, driver: j.driver, target: j.target });

/** The links: copy jobs with a source target, none derived. */
export const linkJobs = (jobs: readonly JobView[]): JobView[] => jobs.filter((j) => j.sourceTarget !== undefined && isCopyJob(j) && !isDerived(j));

/**
 * Why a link carries no copies now, or null when it does: its newest verification failed (what it
 * wrote may be unreadable), or it never succeeded (its last success was taken back by verification too).
 */
export function linkBroken(link: JobView): 'verify-failed' | 'never' | null {
  if (link.lastVerify && isFailed(link.lastVerify)) return 'verify-failed';
  return link.lastSuccess === null ? 'never' : null;
}

/**
 * The link's good runs as [start, finish], newest first: finished backups with status success
 * or warning that started at or before its (verification-adjusted) last success. None while it is broken.
 */
export function linkRuns(link: JobView): { startedAt: number; finishedAt: number }[] {
  if (linkBroken(link)) return [];
  const last = link.lastSuccess as number;
  const runs = [...link.recentBackups].filter((b) => isGood(b) && b.finishedAt !== null && b.startedAt <= last).map((b) => ({ startedAt: b.startedAt, finishedAt: b.finishedAt as number }));
  // Older than the kept history (20 runs): its finish is all we know; counted as its start too.
  return runs.length ? runs : [{ startedAt: last, finishedAt: last }];
}

/**
 * The good copies one direct job holds at its target: its listed snapshots (those verification did
 * not fail) up to its adjusted last success, and the good backups finished since the listing;
 * without a listing, its good backups. Nothing when it never succeeded.
 */
export function directEntries(j: JobView): CopyEntry[] {
  const last = j.lastSuccess;
  if (last === null) return [];
  const via = [hop(j)];
  const out: CopyEntry[] = [];
  const inv = j.inventory;
  const listedUntil = inv && inv.times.length ? inv.updatedAt : -Infinity;
  if (inv && inv.times.length) {
    const states = inv.verified();
    inv.times.forEach((t, i) => {
      if (t <= last && states?.[i] !== 'failed') out.push({ time: t, availableAt: t, via });
    });
  }
  for (const b of j.recentBackups) {
    if (isGood(b) && b.finishedAt !== null && b.finishedAt > listedUntil && b.finishedAt <= last) out.push({ time: b.finishedAt, availableAt: b.finishedAt, via });
  }
  if (out.length === 0 && !(inv && inv.times.length)) out.push({ time: last, availableAt: last, via });
  return out;
}

/** What the link's runs copied of the entries at its source: per run, the newest entry there before the run started. */
export function copiedThrough(link: JobView, source: readonly CopyEntry[]): CopyEntry[] {
  const out: CopyEntry[] = [];
  for (const run of linkRuns(link)) {
    let best: CopyEntry | null = null;
    // Strictly before: a snapshot taken as the copy starts is not in it.
    for (const e of source) if (e.availableAt < run.startedAt && (best === null || e.time > best.time)) best = e;
    if (best) out.push({ time: best.time, availableAt: run.finishedAt, via: [...best.via, hop(link)] });
  }
  return out;
}

/** The synthetic job name of a derived copy: "cloud-restic via pbs1". */
export const derivedName = (link: Pick<JobView, 'job' | 'sourceTarget'>): string => `${link.job} via ${link.sourceTarget}`;

/** Cycles among the links across agents, as a path (the first cycle found) and the link jobs on it; null when none. */
export function linkCycle(jobs: readonly JobView[]): { path: string[]; links: JobView[] } | null {
  const edges: CopyEdge<JobView>[] = linkJobs(jobs).map((j) => ({ from: j.sourceTarget as string, to: j.target.name, what: j }));
  const c = findCopyCycle(edges);
  return c && { path: c.path, links: c.edges.map((e) => e.what) };
}

/**
 * The jobs with the derived copies appended: per asset with a copy at a link's source (directly or
 * derived), one derived JobView per link (`${link} via ${source}`), its last success the newest
 * copied entry (null: the link carries none of the asset's copies — broken, or never ran after
 * one existed). A cycle among the links (agents' configs refuse their own; several agents may
 * still close one) is cut where a chain would revisit a target. Returns the same array when no
 * job has a source.
 */
export function withDerivedCopies(jobs: JobView[]): JobView[] {
  const links = linkJobs(jobs);
  if (links.length === 0) return jobs;
  const into = new Map<string, JobView[]>();
  for (const l of links) into.set(l.target.name, [...(into.get(l.target.name) ?? []), l]);
  const sources = new Set(links.map((l) => l.sourceTarget as string));
  const direct = new Map<string, JobView[]>();
  for (const j of jobs) {
    if (!isCopyJob(j) || isDerived(j)) continue;
    direct.set(j.asset, [...(direct.get(j.asset) ?? []), j]);
  }
  const out = [...jobs];
  for (const [asset, own] of direct) {
    // Only assets with a copy where some link copies from: the rest have no chain.
    if (!own.some((j) => sources.has(j.target.name))) continue;
    const tier = Math.min(...own.map((j) => j.tier)) as Tier;
    const memo = new Map<string, CopyEntry[]>();
    const entriesAt = (target: string, path: readonly string[]): CopyEntry[] => {
      const known = memo.get(target);
      if (known) return known;
      const entries = own.filter((j) => j.target.name === target).flatMap(directEntries);
      for (const l of into.get(target) ?? []) {
        const from = l.sourceTarget as string;
        if (l.asset === asset || path.includes(from)) continue;
        entries.push(...copiedThrough(l, entriesAt(from, [...path, target])));
      }
      memo.set(target, entries);
      return entries;
    };
    // Every link the asset's copies reach, with the hops there (for a link that carries none yet).
    const reach = new Map<string, readonly ChainHop[]>();
    const queue: string[] = [];
    for (const j of own) if (!reach.has(j.target.name)) (reach.set(j.target.name, [hop(j)]), queue.push(j.target.name));
    for (let t = queue.shift(); t !== undefined; t = queue.shift()) {
      for (const l of links) {
        if (l.sourceTarget !== t || l.asset === asset || reach.has(l.target.name)) continue;
        reach.set(l.target.name, [...(reach.get(t) as readonly ChainHop[]), hop(l)]);
        queue.push(l.target.name);
      }
    }
    for (const l of links) {
      const from = l.sourceTarget as string;
      const path = reach.get(from);
      if (l.asset === asset || !path) continue;
      const copied = copiedThrough(l, entriesAt(from, [l.target.name]));
      const newest = copied.reduce<CopyEntry | null>((b, e) => (b === null || e.time > b.time ? e : b), null);
      out.push(derivedView(asset, tier, l, newest?.time ?? null, newest?.via ?? [...path, hop(l)]));
    }
  }
  return out;
}

function derivedView(asset: string, tier: Tier, link: JobView, lastSuccess: number | null, via: readonly ChainHop[]): JobView {
  return {
    agent: link.agent,
    job: derivedName(link),
    asset,
    tier,
    driver: link.driver,
    derivedVia: via,
    target: link.target,
    schedule: link.schedule,
    timezone: link.timezone,
    timeoutMs: 0,
    retention: {},
    verifySchedule: null,
    restoreTestSchedule: null,
    knownSince: link.knownSince,
    lastBackup: null,
    lastSuccess,
    lastOutcome: null,
    recentBackups: [],
    lastVerify: null,
    lastRestoreTest: null,
    lastPrune: null,
    inventory: null,
  };
}
