import type { Retention } from './retention-policy';

// GFS retention as restic `forget` and borg `prune` decide it, so Lifeline can show (and check)
// what a policy keeps before a driver runs the real tool. Pure: no clock, no I/O.

export type RetentionSemantics = 'restic' | 'borg';

export interface RetentionDecision {
  /** Newest first; reasons name every rule that kept the snapshot. */
  keep: { id: string; reasons: string[] }[];
  /** Newest first. */
  remove: { id: string }[];
}

export interface RetentionOptions {
  /** 'restic' (default) or 'borg'; they differ when rules overlap or run short (see below). */
  semantics?: RetentionSemantics;
  /** IANA zone the calendar buckets are computed in; default: the host's local zone. */
  timeZone?: string;
}

type Rule = 'last' | 'hourly' | 'daily' | 'weekly' | 'monthly' | 'yearly';

/** The order both tools apply their rules in (borg's order matters, restic's does not). */
const RULES: readonly Rule[] = ['last', 'hourly', 'daily', 'weekly', 'monthly', 'yearly'];

/** Restic's wording for each rule, used for both semantics so reasons read the same everywhere. */
const REASON: Record<Rule, string> = {
  last: 'last snapshot',
  hourly: 'hourly snapshot',
  daily: 'daily snapshot',
  weekly: 'weekly snapshot',
  monthly: 'monthly snapshot',
  yearly: 'yearly snapshot',
};

/** Restic's own reason when the policy is empty. */
export const EMPTY_POLICY_REASON = 'policy is empty';

/** True when some rule keeps at least one snapshot. Callers must refuse to prune otherwise. */
export function hasKeepRule(policy: Retention): boolean {
  return RULES.some((r) => (policy[r] ?? 0) > 0);
}

// Buckets are compared only for equality with the previous snapshot's, so each is a plain
// number computed from the snapshot's local wall-clock time (ms since 1970 as if that wall
// clock were UTC): no Date or Intl call per snapshot. The collector audits thousands of
// inventories per pass.

/** A zone's UTC offset per 15-minute slot (zone transitions fall on such boundaries). */
interface Zone {
  format: Intl.DateTimeFormat;
  offsets: Map<number, number>;
}

const zones = new Map<string, Zone>();
const SLOT_MS = 15 * 60_000;
const HOUR_MS = 3_600_000;
const DAY_MS = 86_400_000;

function zoneFor(timeZone: string | undefined): Zone {
  const key = timeZone ?? '';
  let z = zones.get(key);
  if (!z) {
    // Throws RangeError for an unknown zone, before any decision is made.
    const format = new Intl.DateTimeFormat('en-US', {
      timeZone,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
    });
    zones.set(key, (z = { format, offsets: new Map() }));
  }
  return z;
}

/** The wall-clock time in `zone` at UTC instant `ms`, as ms since 1970 read as UTC. */
function localTime(ms: number, zone: Zone): number {
  const slot = Math.floor(ms / SLOT_MS);
  let offset = zone.offsets.get(slot);
  if (offset === undefined) {
    const f = { year: 0, month: 0, day: 0, hour: 0, minute: 0, second: 0 };
    for (const p of zone.format.formatToParts(new Date(slot * SLOT_MS))) {
      if (p.type in f) f[p.type as keyof typeof f] = Number(p.value);
    }
    offset = Date.UTC(f.year, f.month - 1, f.day, f.hour, f.minute, f.second) - slot * SLOT_MS;
    if (zone.offsets.size > 100_000) zone.offsets.clear();
    zone.offsets.set(slot, offset);
  }
  return ms + offset;
}

/** year * 12 + month (0-11) of a day counted from 1970-01-01 (proleptic Gregorian; H. Hinnant's civil_from_days). */
function monthOf(days: number): number {
  const z = days + 719_468;
  const era = Math.floor(z / 146_097);
  const doe = z - era * 146_097;
  const yoe = Math.floor((doe - Math.floor(doe / 1_460) + Math.floor(doe / 36_524) - Math.floor(doe / 146_096)) / 365);
  const doy = doe - (365 * yoe + Math.floor(yoe / 4) - Math.floor(yoe / 100));
  const mp = Math.floor((5 * doy + 2) / 153); // 0 = March
  const month = mp < 10 ? mp + 2 : mp - 10; // 0 = January
  return (yoe + era * 400 + (month < 2 ? 1 : 0)) * 12 + month;
}

/**
 * The calendar period of a snapshot for a rule, from its local time `t`: equal for snapshots
 * in the same period, different otherwise. `last` is a per-snapshot counter in restic (every
 * snapshot is its own bucket) and the local second in borg (--keep-last is --keep-secondly
 * there: two archives in the same second count once). Weeks are ISO weeks (Monday to Sunday,
 * as Go's Time.ISOWeek and strftime's %G-%V): 1970-01-01 was a Thursday, so day + 3 counts
 * from a Monday.
 */
function bucket(rule: Rule, t: number, index: number, semantics: RetentionSemantics): number {
  switch (rule) {
    case 'last':
      return semantics === 'borg' ? Math.floor(t / 1000) : index;
    case 'hourly':
      return Math.floor(t / HOUR_MS);
    case 'daily':
      return Math.floor(t / DAY_MS);
    case 'weekly':
      return Math.floor((Math.floor(t / DAY_MS) + 3) / 7);
    case 'monthly':
      return monthOf(Math.floor(t / DAY_MS));
    case 'yearly':
      return Math.floor(monthOf(Math.floor(t / DAY_MS)) / 12);
  }
}

/** Newest first: each snapshot's local time and, once kept, the rules that kept it. */
interface Entries {
  local: number[];
  reasons: (string[] | undefined)[];
}

/**
 * Which snapshots a retention policy keeps, decided as restic 0.14 `forget` or borg 1.2
 * `prune` would. Buckets (hour, day, ISO week, month, year) are computed in `timeZone`: restic
 * uses the zone offset stored in each snapshot (the backup host's zone), borg the zone of the
 * host running prune, so pass the zone of that host.
 *
 * Snapshots with equal times keep their input order (both tools sort stably).
 *
 * An empty policy (no count above zero) keeps everything, with reason "policy is empty", as
 * restic does; borg refuses to run such a prune, and so must every caller: see hasKeepRule.
 */
export function planRetention(
  snapshots: readonly { id: string; time: Date }[],
  policy: Retention,
  opts: RetentionOptions = {},
): RetentionDecision {
  const semantics = semanticsOf(opts);
  const zone = zoneFor(opts.timeZone);

  const sorted = snapshots
    .map((s, i) => ({ s, i, time: validTime(s.time.getTime(), s.id) }))
    .sort((a, b) => b.time - a.time || a.i - b.i);

  if (!hasKeepRule(policy)) {
    return {
      keep: sorted.map(({ s }) => ({ id: s.id, reasons: [EMPTY_POLICY_REASON] })),
      remove: [],
    };
  }

  const { reasons } = decide(sorted.map(({ time }) => localTime(time, zone)), policy, semantics);
  const decision: RetentionDecision = { keep: [], remove: [] };
  sorted.forEach(({ s }, k) => {
    const r = reasons[k];
    if (r) decision.keep.push({ id: s.id, reasons: r });
    else decision.remove.push({ id: s.id });
  });
  return decision;
}

/**
 * How many snapshots at these times (ms, any order) the policy keeps: the length of
 * planRetention's `keep`, without building the plan.
 */
export function countKept(times: readonly number[], policy: Retention, opts: RetentionOptions = {}): number {
  const semantics = semanticsOf(opts);
  const zone = zoneFor(opts.timeZone);
  for (const t of times) validTime(t, String(t));
  if (!hasKeepRule(policy)) return times.length;
  // Snapshots with equal times share every bucket, so their order does not change the count.
  const local = times.map((t) => localTime(t, zone)).sort((a, b) => b - a);
  let kept = 0;
  for (const r of decide(local, policy, semantics).reasons) if (r) kept++;
  return kept;
}

/** What an audit of an inventory wants to know, from one sort and one zone walk. */
export interface TimesAudit {
  /** Index (into the times) of the newest snapshot, -1 when there is none. */
  newest: number;
  /** How many of the snapshots the policy keeps (countKept). */
  kept: number;
  /**
   * What the policy would remove of all but the newest (a prune may still be pending after the
   * latest backup): indexes into the times, newest first, as planRetention's `remove`.
   */
  removeAfterNewest: number[];
}

/** The retention audit of snapshots at these times (ms, any order); equal times keep their order. */
export function auditTimes(times: readonly number[], policy: Retention, opts: RetentionOptions = {}): TimesAudit {
  const semantics = semanticsOf(opts);
  const zone = zoneFor(opts.timeZone);
  for (const t of times) validTime(t, String(t));
  const order = times.map((_, i) => i).sort((a, b) => times[b] - times[a] || a - b);
  const newest = order.length > 0 ? order[0] : -1;
  if (!hasKeepRule(policy)) return { newest, kept: times.length, removeAfterNewest: [] };
  const local = order.map((i) => localTime(times[i], zone));
  let kept = 0;
  for (const r of decide(local, policy, semantics).reasons) if (r) kept++;
  const older = decide(local.slice(1), policy, semantics).reasons;
  const removeAfterNewest: number[] = [];
  for (let k = 0; k < older.length; k++) if (!older[k]) removeAfterNewest.push(order[k + 1]);
  return { newest, kept, removeAfterNewest };
}

function semanticsOf(opts: RetentionOptions): RetentionSemantics {
  const semantics = opts.semantics ?? 'restic';
  if (semantics !== 'restic' && semantics !== 'borg') {
    throw new TypeError(`unknown retention semantics: ${String(semantics)}`);
  }
  return semantics;
}

function validTime(time: number, id: string): number {
  if (!Number.isFinite(time)) throw new RangeError(`snapshot ${id} has an invalid time`);
  return time;
}

/** The rules applied to snapshots at these local times (newest first). */
function decide(local: number[], policy: Retention, semantics: RetentionSemantics): Entries {
  const entries: Entries = { local, reasons: new Array<string[] | undefined>(local.length) };
  if (semantics === 'restic') applyRestic(entries, policy);
  else applyBorg(entries, policy);
  return entries;
}

const addReason = (e: Entries, k: number, reason: string) => {
  const r = e.reasons[k];
  if (r) r.push(reason);
  else e.reasons[k] = [reason];
};

/**
 * restic 0.14 ApplyPolicy: walk newest → oldest; every rule with count left keeps a snapshot
 * whose bucket differs from the bucket that rule kept last. Rules count independently, so one
 * snapshot can use up a count of several rules at once (and each rule can walk on its own;
 * walking them in RULES order keeps each snapshot's reasons in restic's order).
 *
 * Newer restic (0.15+) also keeps the OLDEST snapshot for every rule that still has count
 * left, even if its bucket was already kept ("val != b.Last || nr == len(list)-1"), with the
 * same reason string. 0.14, the version we test against, does not; with 0.15+ a policy that
 * is not yet full keeps one more snapshot (the oldest) than this plan says.
 */
function applyRestic(e: Entries, policy: Retention): void {
  for (const rule of RULES) {
    let count = policy[rule] ?? 0;
    let last = Number.NaN;
    for (let k = 0; k < e.local.length && count > 0; k++) {
      const val = bucket(rule, e.local[k], k, 'restic');
      if (val !== last) {
        last = val;
        count--;
        addReason(e, k, REASON[rule]);
      }
    }
  }
}

/**
 * borg 1.2 prune_split, rule by rule (last = secondly, hourly, daily, weekly, monthly, yearly):
 * walk newest → oldest; the first archive of each new period counts for the rule only if no
 * earlier rule kept it already, but the period is used up either way. So rules do not share
 * snapshots as in restic: --keep-last 2 --keep-daily 2 keeps up to 4 archives. If a rule ends
 * short of its count, it also keeps the oldest archive (unless already kept): "daily[oldest]".
 * Each kept archive has exactly one reason: the first rule that kept it.
 */
function applyBorg(e: Entries, policy: Retention): void {
  for (const rule of RULES) {
    const n = policy[rule] ?? 0;
    if (n <= 0) continue;
    let kept = 0;
    let last: number | undefined;
    let cur = -1;
    for (let k = 0; k < e.local.length; k++) {
      cur = k;
      const period = bucket(rule, e.local[k], k, 'borg');
      if (period === last) continue;
      last = period;
      if (e.reasons[k]) continue;
      addReason(e, k, REASON[rule]);
      if (++kept === n) break;
    }
    if (cur >= 0 && kept < n && !e.reasons[cur]) addReason(e, cur, `oldest ${REASON[rule]}`);
  }
}
