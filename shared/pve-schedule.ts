// Proxmox VE calendar events (backup job `schedule`, e.g. `sat 02:00`, `mon..fri 21:30`,
// `*-*-* 01:30`, `*/15`) as the cron expressions shared/schedule.ts reads, so the collector
// expects a vzdump job's runs when PVE's scheduler starts them. The grammar is the one of
// proxmox-time's CalendarEvent (pve-docs calendar-events.adoc):
//
//   [WEEKDAY[..WEEKDAY][,…]] [[YEARS-]MONTHS-DAYS] [[HOURS:]MINUTES[:SECONDS]] [UTC]
//
// Quirks kept: a time without ":" is minutes (`*/15`, `0` = every hour at :00, not midnight);
// no time at all is 00:00; `*` and `*/N` in a field mean every value / every N from the first;
// weekdays AND days of the month must both match (cron ORs them, so only the `#n` form —
// `sat *-1..7` = the first Saturday — is expressible); names are matched case-insensitively,
// the special words (`daily`, `weekly`…) only as written.
//
// null when the event has no cron equivalent: years, UTC (the collector reads a job's cron in
// the agent's zone), days and weekdays combined other than a whole week of the month, or
// anything that does not parse.

type Item = { start: number; end?: number; step?: number };
/** Empty: every value. */
type Field = Item[];

interface CalendarEvent {
  weekdays: Set<number> | null; // 0 = Sunday … 6 = Saturday, as cron counts
  years: Field;
  months: Field;
  days: Field;
  hours: Field;
  minutes: Field;
  seconds: Field;
}

const ZERO: Field = [{ start: 0 }];
const SPECIAL: Record<string, Partial<CalendarEvent>> = {
  minutely: { seconds: ZERO },
  hourly: { minutes: ZERO, seconds: ZERO },
  daily: { hours: ZERO, minutes: ZERO, seconds: ZERO },
  weekly: { weekdays: new Set([1]), hours: ZERO, minutes: ZERO, seconds: ZERO },
  monthly: { days: [{ start: 1 }], hours: ZERO, minutes: ZERO, seconds: ZERO },
  yearly: { months: [{ start: 1 }], days: [{ start: 1 }], hours: ZERO, minutes: ZERO, seconds: ZERO },
  annually: { months: [{ start: 1 }], days: [{ start: 1 }], hours: ZERO, minutes: ZERO, seconds: ZERO },
  quarterly: { months: [1, 4, 7, 10].map((start) => ({ start })), days: [{ start: 1 }], hours: ZERO, minutes: ZERO, seconds: ZERO },
  semiannually: { months: [{ start: 1 }, { start: 7 }], days: [{ start: 1 }], hours: ZERO, minutes: ZERO, seconds: ZERO },
  'semi-annually': { months: [{ start: 1 }, { start: 7 }], days: [{ start: 1 }], hours: ZERO, minutes: ZERO, seconds: ZERO },
};

const WEEKDAYS: Record<string, number> = {
  mon: 1, monday: 1, tue: 2, tuesday: 2, wed: 3, wednesday: 3, thu: 4, thursday: 4,
  fri: 5, friday: 5, sat: 6, saturday: 6, sun: 0, sunday: 0,
};
// Ranges run Monday → Sunday (`fri..mon` wraps over the weekend).
const WEEK_ORDER = [1, 2, 3, 4, 5, 6, 0];

class ParseError extends Error {}

/** A cursor over the text; each parse step either consumes or throws and leaves it unchanged. */
class Cursor {
  constructor(
    readonly text: string,
    public pos = 0,
  ) {}
  get rest(): string {
    return this.text.slice(this.pos);
  }
  eat(s: string): boolean {
    if (!this.rest.startsWith(s)) return false;
    this.pos += s.length;
    return true;
  }
  match(re: RegExp): string | null {
    const m = re.exec(this.rest);
    if (!m || m.index !== 0) return null;
    this.pos += m[0].length;
    return m[0];
  }
  spaces(): void {
    this.match(/^ */);
  }
  /** Runs `step`; on failure rewinds and returns null. */
  attempt<T>(step: () => T): T | null {
    const at = this.pos;
    try {
      return step();
    } catch (err) {
      if (!(err instanceof ParseError)) throw err;
      this.pos = at;
      return null;
    }
  }
}

function number(c: Cursor, max: number): number {
  const digits = c.match(/^\d+/);
  if (digits === null) throw new ParseError('expected a number');
  const n = Number(digits);
  if (n >= max) throw new ParseError(`value ${n} too large`);
  return n;
}

function item(c: Cursor, max: number): Item {
  const start = number(c, max);
  let end: number | undefined;
  if (c.eat('..')) {
    end = number(c, max);
    if (start > end) throw new ParseError('range start is bigger than end');
  }
  if (c.eat('/')) return { start, end, step: number(c, max) };
  return end === undefined ? { start } : { start, end };
}

// `*`, `*/N` (every N from `first`), or a comma list of values, ranges and repetitions.
function field(c: Cursor, first: number, max: number): Field {
  if (c.eat('*')) {
    const at = c.pos;
    if (c.eat('/')) {
      const step = c.attempt(() => number(c, max));
      if (step !== null && step > 0) return [{ start: first, step }];
      c.pos = at;
    }
    return [];
  }
  const items = [item(c, max)];
  while (c.rest.startsWith(',')) {
    const next = c.attempt(() => {
      c.eat(',');
      return item(c, max);
    });
    if (next === null) break;
    items.push(next);
  }
  return items;
}

function weekdayName(c: Cursor): number {
  const word = c.match(/^[A-Za-z]+/);
  const day = word === null ? undefined : WEEKDAYS[word.toLowerCase()];
  if (day === undefined) throw new ParseError(`unknown weekday ${JSON.stringify(word)}`);
  return day;
}

function weekdays(c: Cursor): Set<number> {
  const out = new Set<number>();
  do {
    const from = weekdayName(c);
    if (c.eat('..')) {
      const to = weekdayName(c);
      let i = WEEK_ORDER.indexOf(from);
      for (;;) {
        out.add(WEEK_ORDER[i]);
        if (WEEK_ORDER[i] === to) break;
        i = (i + 1) % 7;
      }
    } else out.add(from);
  } while (c.eat(','));
  return out;
}

function dateSpec(c: Cursor): Pick<CalendarEvent, 'years' | 'months' | 'days'> {
  const full = c.attempt(() => {
    const years = field(c, 0, 2200);
    if (!c.eat('-')) throw new ParseError('expected "-"');
    const months = field(c, 1, 13);
    if (!c.eat('-')) throw new ParseError('expected "-"');
    return { years, months, days: field(c, 1, 32) };
  });
  if (full) return full;
  const months = field(c, 1, 13);
  if (!c.eat('-')) throw new ParseError('expected "-"');
  return { years: [], months, days: field(c, 1, 32) };
}

function timeSpec(c: Cursor): Pick<CalendarEvent, 'hours' | 'minutes' | 'seconds'> {
  const hours = c.attempt(() => {
    const h = field(c, 0, 24);
    if (!c.eat(':')) throw new ParseError('expected ":"');
    return h;
  });
  const minutes = field(c, 0, 60);
  const seconds = c.attempt(() => {
    if (!c.eat(':')) throw new ParseError('expected ":"');
    return field(c, 0, 60);
  });
  return { hours: hours ?? [], minutes, seconds: seconds ?? ZERO };
}

/** Parses a PVE calendar event; null when PVE would refuse it too. */
export function parsePveCalendarEvent(text: string): (CalendarEvent & { utc: boolean }) | null {
  let s = text.trim();
  let utc = false;
  if (s.endsWith('UTC')) {
    utc = true;
    s = s.slice(0, -3).trimEnd();
  }
  const base: CalendarEvent = { weekdays: null, years: [], months: [], days: [], hours: [], minutes: [], seconds: [] };
  const special = SPECIAL[s];
  if (special) return { ...base, ...special, utc };
  const c = new Cursor(s);
  try {
    let has = false;
    const event = { ...base, utc };
    if (/^[A-Za-z]/.test(s)) {
      event.weekdays = weekdays(c);
      c.spaces();
      has = true;
    }
    const date = c.attempt(() => dateSpec(c));
    if (date) {
      Object.assign(event, date);
      c.spaces();
      has = true;
    }
    const time = c.attempt(() => timeSpec(c));
    if (time) {
      Object.assign(event, time);
      has = true;
    } else Object.assign(event, { hours: ZERO, minutes: ZERO, seconds: ZERO });
    if (!has || c.rest !== '') return null;
    return event;
  } catch (err) {
    if (err instanceof ParseError) return null;
    throw err;
  }
}

/** One field in cron words; null when a value is outside cron's range for it. */
function cronField(f: Field, min: number, max: number): string | null {
  if (f.length === 0) return '*';
  const parts: string[] = [];
  for (const { start, end, step } of f) {
    if (start < min || start > max) return null;
    const last = Math.min(end ?? max, max);
    // A repetition of 0 matches its start only (proxmox-time's DateTimeValue::contains).
    if (step === undefined || step === 0) parts.push(end === undefined ? `${start}` : `${start}-${last}`);
    else if (start === min && end === undefined) parts.push(`*/${step}`);
    else parts.push(`${start}-${last}/${step}`);
  }
  return parts.join(',');
}

/** Weekdays as a cron list, runs of consecutive days as ranges (`1-5`, `0,6`). */
function cronWeekdays(days: Set<number>): string {
  const sorted = [...days].sort((a, b) => a - b);
  const parts: string[] = [];
  for (let i = 0; i < sorted.length; ) {
    let j = i;
    while (j + 1 < sorted.length && sorted[j + 1] === sorted[j] + 1) j++;
    parts.push(j - i >= 2 ? `${sorted[i]}-${sorted[j]}` : sorted.slice(i, j + 1).join(','));
    i = j + 1;
  }
  return parts.join(',');
}

const NTH_WEEK: Record<string, number> = { '1-7': 1, '8-14': 2, '15-21': 3, '22-28': 4 };

/**
 * The PVE calendar event as a 5-field cron expression (6 fields, seconds first, when it fires
 * on other seconds than :00), or null when cron cannot say the same thing.
 */
export function pveScheduleToCron(schedule: string): string | null {
  const e = parsePveCalendarEvent(schedule);
  if (!e || e.utc || e.years.length > 0) return null;
  const seconds = cronField(e.seconds, 0, 59);
  const minutes = cronField(e.minutes, 0, 59);
  const hours = cronField(e.hours, 0, 23);
  const months = cronField(e.months, 1, 12);
  let days = cronField(e.days, 1, 31);
  if (seconds === null || minutes === null || hours === null || months === null || days === null) return null;
  let dow = '*';
  if (e.weekdays && e.weekdays.size < 7) {
    dow = cronWeekdays(e.weekdays);
    if (days !== '*') {
      // Both must match in PVE; cron would fire on either. A whole week of the month and one
      // weekday is croner's "nth weekday of the month".
      const nth = NTH_WEEK[days];
      if (nth === undefined || e.weekdays.size !== 1) return null;
      dow = `${dow}#${nth}`;
      days = '*';
    }
  }
  const cron = `${minutes} ${hours} ${days} ${months} ${dow}`;
  return seconds === '0' ? cron : `${seconds} ${cron}`;
}
