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

interface LocalFields {
  year: number;
  month: number;
  day: number;
  hour: number;
  minute: number;
  second: number;
}

const formatters = new Map<string, Intl.DateTimeFormat>();

function formatterFor(timeZone: string | undefined): Intl.DateTimeFormat {
  const key = timeZone ?? '';
  let f = formatters.get(key);
  if (!f) {
    // Throws RangeError for an unknown zone, before any decision is made.
    f = new Intl.DateTimeFormat('en-US', {
      timeZone,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
    });
    formatters.set(key, f);
  }
  return f;
}

// formatToParts is slow and the collector audits thousands of inventories per pass: keep the
// zone's UTC offset per 15-minute slot (zone transitions fall on such boundaries) and derive
// the local fields with plain arithmetic.
const SLOT_MS = 15 * 60_000;
const offsets = new WeakMap<Intl.DateTimeFormat, Map<number, number>>();

function localFields(t: Date, f: Intl.DateTimeFormat): LocalFields {
  let byFormatter = offsets.get(f);
  if (!byFormatter) offsets.set(f, (byFormatter = new Map()));
  const ms = t.getTime();
  const slot = Math.floor(ms / SLOT_MS);
  let offset = byFormatter.get(slot);
  if (offset === undefined) {
    const p = formattedFields(new Date(slot * SLOT_MS), f);
    offset = Date.UTC(p.year, p.month - 1, p.day, p.hour, p.minute, p.second) - slot * SLOT_MS;
    if (byFormatter.size > 100_000) byFormatter.clear();
    byFormatter.set(slot, offset);
  }
  const l = new Date(ms + offset);
  return { year: l.getUTCFullYear(), month: l.getUTCMonth() + 1, day: l.getUTCDate(), hour: l.getUTCHours(), minute: l.getUTCMinutes(), second: l.getUTCSeconds() };
}

function formattedFields(t: Date, f: Intl.DateTimeFormat): LocalFields {
  const out: LocalFields = { year: 0, month: 0, day: 0, hour: 0, minute: 0, second: 0 };
  for (const p of f.formatToParts(t)) {
    if (p.type in out) out[p.type as keyof LocalFields] = Number(p.value);
  }
  return out;
}

/** ISO 8601 week-numbering year and week (Go's Time.ISOWeek, strftime's %G-%V). */
function isoWeek(year: number, month: number, day: number): { year: number; week: number } {
  const d = new Date(Date.UTC(year, month - 1, day));
  const weekday = d.getUTCDay() || 7; // Monday 1 … Sunday 7
  d.setUTCDate(d.getUTCDate() + 4 - weekday); // the Thursday of this week decides the year
  const isoYear = d.getUTCFullYear();
  const week = Math.floor((d.getTime() - Date.UTC(isoYear, 0, 1)) / 86_400_000 / 7) + 1;
  return { year: isoYear, week };
}

/**
 * The calendar period of a snapshot for a rule, in local time. `last` is a per-snapshot
 * counter in restic (every snapshot is its own bucket) and the local second in borg
 * (--keep-last is --keep-secondly there: two archives in the same second count once).
 */
function bucket(rule: Rule, l: LocalFields, index: number, semantics: RetentionSemantics): number {
  switch (rule) {
    case 'last':
      return semantics === 'borg'
        ? ((((l.year * 100 + l.month) * 100 + l.day) * 100 + l.hour) * 100 + l.minute) * 100 + l.second
        : index;
    case 'hourly':
      return ((l.year * 100 + l.month) * 100 + l.day) * 100 + l.hour;
    case 'daily':
      return (l.year * 100 + l.month) * 100 + l.day;
    case 'weekly': {
      const w = isoWeek(l.year, l.month, l.day);
      return w.year * 100 + w.week;
    }
    case 'monthly':
      return l.year * 100 + l.month;
    case 'yearly':
      return l.year;
  }
}

interface Entry {
  id: string;
  time: number;
  buckets: Record<Rule, number>;
  reasons: string[];
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
  const semantics = opts.semantics ?? 'restic';
  if (semantics !== 'restic' && semantics !== 'borg') {
    throw new TypeError(`unknown retention semantics: ${String(semantics)}`);
  }
  const fmt = formatterFor(opts.timeZone);

  const sorted = snapshots
    .map((s, i) => {
      const time = s.time.getTime();
      if (!Number.isFinite(time)) throw new RangeError(`snapshot ${s.id} has an invalid time`);
      return { s, i, time };
    })
    .sort((a, b) => b.time - a.time || a.i - b.i);

  if (!hasKeepRule(policy)) {
    return {
      keep: sorted.map(({ s }) => ({ id: s.id, reasons: [EMPTY_POLICY_REASON] })),
      remove: [],
    };
  }

  const entries: Entry[] = sorted.map(({ s, time }, index) => {
    const l = localFields(s.time, fmt);
    const buckets = {} as Record<Rule, number>;
    for (const rule of RULES) buckets[rule] = bucket(rule, l, index, semantics);
    return { id: s.id, time, buckets, reasons: [] };
  });

  if (semantics === 'restic') applyRestic(entries, policy);
  else applyBorg(entries, policy);

  const decision: RetentionDecision = { keep: [], remove: [] };
  for (const e of entries) {
    if (e.reasons.length > 0) decision.keep.push({ id: e.id, reasons: e.reasons });
    else decision.remove.push({ id: e.id });
  }
  return decision;
}

/**
 * restic 0.14 ApplyPolicy: walk newest → oldest; every rule with count left keeps a snapshot
 * whose bucket differs from the bucket that rule kept last. Rules count independently, so one
 * snapshot can use up a count of several rules at once.
 *
 * Newer restic (0.15+) also keeps the OLDEST snapshot for every rule that still has count
 * left, even if its bucket was already kept ("val != b.Last || nr == len(list)-1"), with the
 * same reason string. 0.14, the version we test against, does not; with 0.15+ a policy that
 * is not yet full keeps one more snapshot (the oldest) than this plan says.
 */
function applyRestic(entries: Entry[], policy: Retention): void {
  const state = RULES.map((rule) => ({ rule, count: policy[rule] ?? 0, last: Number.NaN }));
  for (const e of entries) {
    for (const st of state) {
      if (st.count <= 0) continue;
      const val = e.buckets[st.rule];
      if (val !== st.last) {
        st.last = val;
        st.count--;
        e.reasons.push(REASON[st.rule]);
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
function applyBorg(entries: Entry[], policy: Retention): void {
  for (const rule of RULES) {
    const n = policy[rule] ?? 0;
    if (n <= 0) continue;
    let kept = 0;
    let last: number | undefined;
    let cur: Entry | undefined;
    for (const e of entries) {
      cur = e;
      const period = e.buckets[rule];
      if (period === last) continue;
      last = period;
      if (e.reasons.length > 0) continue;
      e.reasons.push(REASON[rule]);
      if (++kept === n) break;
    }
    if (cur && kept < n && cur.reasons.length === 0) cur.reasons.push(`oldest ${REASON[rule]}`);
  }
}
