import { auditTimes, countKept, hasKeepRule, type RetentionSemantics, type TimesAudit } from '../../shared/retention';
import { pruneSemanticsOf } from '../../shared/prune-semantics';
import type { Retention } from '../../shared/retention-policy';
import { memoByObject } from '../memo';
import type { EvaluationInput, Finding, JobView, NextCheckAt } from './types';
import { DAY_MS, isCopyJob, jobFinding, localDateTime, nextDue } from './util';

const HOUR_MS = 3_600_000;
/** Bound on simulated runs per job, so a "* * * * *" job cannot stall evaluation. */
const MAX_SIMULATED_RUNS = 1_500;

/** How the job's driver prunes (shared/prune-semantics.ts); null for a driver this collector does not know. */
export function semanticsFor(driver: string): RetentionSemantics | null {
  return pruneSemanticsOf(driver);
}

/**
 * The snapshot times the schedule should have produced from `from` to `until` (inclusive),
 * newest window only: far enough back to fill every rule of the policy.
 */
export function expectedSnapshotTimes(job: JobView, from: number, until: number): number[] {
  const p = job.retention;
  const first = nextDue(job.schedule, until - 1, job.timezone);
  const second = first === null ? null : nextDue(job.schedule, first, job.timezone);
  const interval = first !== null && second !== null ? second - first : DAY_MS;
  const span = Math.max(
    ((p.last ?? 0) + 1) * interval,
    ((p.hourly ?? 0) + 1) * HOUR_MS,
    ((p.daily ?? 0) + 1) * DAY_MS,
    ((p.weekly ?? 0) + 1) * 7 * DAY_MS,
    ((p.monthly ?? 0) + 1) * 31 * DAY_MS,
    ((p.yearly ?? 0) + 1) * 366 * DAY_MS,
  );
  const times: number[] = [];
  if (first === null) return times;
  // Start late enough that the cap keeps the newest runs: a shorter walk only lowers the
  // expectation (a policy keeps no more of the newest runs than of all of them), so it errs
  // towards silence, never towards a false alarm.
  const start = Math.max(from, until - span, until - MAX_SIMULATED_RUNS * interval);
  // nextRun remembers its answers, so jobs sharing a schedule walk it once between them.
  let t = nextDue(job.schedule, start - 1, job.timezone);
  while (t !== null && t <= until && times.length < MAX_SIMULATED_RUNS) {
    times.push(t);
    t = nextDue(job.schedule, t, job.timezone);
  }
  return times;
}

// The expectation depends on the schedule, zone, policy and the window only, and jobs share
// those (tier defaults): memoized by those inputs, so a pass over thousands of jobs walks each
// schedule once per distinct window, and plans each distinct walk once. Pure: same inputs, same
// answer; the memos only remember it.
const expectedMemo = new Map<string, number>();
const walkMemo = new Map<string, number>();
const policyKey = memoByObject((policy: Retention) => JSON.stringify(policy));

function expectedKept(job: JobView, until: number, semantics: RetentionSemantics, tz: string): number {
  const base = `${job.schedule}\0${tz}\0${semantics}\0${policyKey(job.retention)}`;
  const windowKey = `${base}\0${job.knownSince}\0${until}`;
  let n = walkMemo.get(windowKey);
  if (n !== undefined) return n;
  const times = expectedSnapshotTimes(job, job.knownSince, until);
  const key = `${base}\0${times[0] ?? ''}\0${times.length}`;
  n = expectedMemo.get(key);
  if (n === undefined) {
    if (expectedMemo.size > 50_000) expectedMemo.clear();
    n = countKept(times, job.retention, { semantics, timeZone: tz });
    expectedMemo.set(key, n);
  }
  if (walkMemo.size > 50_000) walkMemo.clear();
  walkMemo.set(windowKey, n);
  return n;
}

// The audit of one inventory under one policy depends on nothing else: remembered per parsed
// inventory (the gatherer hands the same array again while the inventory is unchanged) with the
// policy it was made for, so a pass re-plans only the inventories that changed. Pure: the memo
// only remembers answers.
const audits = new WeakMap<readonly number[], { key: string; audit: TimesAudit }>();

function auditInventory(times: readonly number[], policy: Retention, semantics: RetentionSemantics, tz: string): TimesAudit {
  const key = `${semantics}\0${tz}\0${policyKey(policy)}`;
  const known = audits.get(times);
  if (known?.key === key) return known.audit;
  const audit = auditTimes(times, policy, { semantics, timeZone: tz });
  audits.set(times, { key, audit });
  return audit;
}

/**
 * From the job's inventory:
 * - 'retention-short': the policy keeps fewer of the existing snapshots than it would keep of
 *   the snapshots the schedule should have produced since the job became known (runs due
 *   within the grace before the inventory was taken are not expected yet);
 * - 'retention-not-pruned': leaving out the newest snapshot (a prune may still be pending after
 *   the latest backup), the policy would still remove some: prune is not running.
 * Server (maintenance) jobs keep no snapshots of their own: skipped.
 */
/** The audit's window ends at min(now, the inventory's time) − grace: it moves only while the inventory is ahead of now. */
export const retentionAuditCheckAt: NextCheckAt = (job, _input, now) => (job.inventory && job.inventory.updatedAt > now ? now + 1 : Infinity);

export function retentionAudit(input: EvaluationInput, now: number): Finding[] {
  const out: Finding[] = [];
  for (const job of input.jobs) {
    const inv = job.inventory;
    if (!inv || !hasKeepRule(job.retention) || !isCopyJob(job)) continue;
    const semantics = semanticsFor(job.driver);
    if (semantics === null) {
      out.push(
        jobFinding('retention-unknown-semantics', job, {
          title: `${job.job} on ${job.agent}: retention not audited`,
          detail:
            `This collector does not know how driver "${job.driver}" prunes (restic's rules or borg's), so the snapshots at ${job.target.name} are not audited against the policy. ` +
            'Upgrade the collector to the version of the agent.',
          since: inv.updatedAt,
        }),
      );
      continue;
    }
    const tz = job.timezone;
    const { newest: n, kept, removeAfterNewest: remove } = auditInventory(inv.times, job.retention, semantics, tz);
    const newest = n < 0 ? null : inv.times[n];
    const until = Math.min(now, inv.updatedAt) - input.config.graceMs;
    const expected = expectedKept(job, until, semantics, tz);
    if (kept >= expected && remove.length === 0) continue;
    const policyText = Object.entries(job.retention)
      .filter(([, n]) => (n ?? 0) > 0)
      .map(([k, n]) => `${k}:${n}`)
      .join(' ');
    if (kept < expected) {
      out.push(
        jobFinding('retention-short', job, {
          title: `${job.job} on ${job.agent} has ${kept} of ${expected} expected snapshots`,
          detail:
            `Policy ${policyText} over schedule "${job.schedule}" should keep ${expected} snapshots at ${job.target.name} by now; ` +
            `the inventory of ${localDateTime(inv.updatedAt, tz)} has ${inv.times.length}, of which the policy keeps ${kept}. ` +
            `Newest: ${newest !== null ? localDateTime(newest, tz) : 'none'}. Look for failed runs or snapshots deleted outside the policy.`,
          since: inv.updatedAt,
        }),
      );
    }

    if (remove.length > 0) {
      const ids = remove.slice(0, 3).map((i) => inv.ids()[i]);
      const prune = job.lastPrune;
      out.push(
        jobFinding('retention-not-pruned', job, {
          title: `${job.job} on ${job.agent} keeps ${remove.length} snapshots its policy removes`,
          detail:
            `Policy ${policyText} would remove ${remove.length} snapshots at ${job.target.name} (e.g. ${ids.join(', ')}): prune is not running. ` +
            (prune
              ? `The last prune started ${localDateTime(prune.startedAt, tz)} (${prune.status}${prune.error ? `: ${prune.error}` : ''}).`
              : 'No prune has ever been reported.'),
          since: newest!,
        }),
      );
    }
  }
  return out;
}
