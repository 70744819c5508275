import { readlinkSync } from 'node:fs';
import { Cron } from 'croner';

// One schedule language for the agent (when to run) and the collector (when a run is due), so
// both sides always agree. Standard 5-field cron (6 fields: seconds first), plus croner's "#n"
// (nth weekday: "SUN#1" is the first Sunday) and "L", plus a few readable aliases.
const ALIASES: Record<string, string> = {
  '@hourly': '0 * * * *',
  '@daily': '0 0 * * *',
  '@weekly': '0 0 * * 0',
  '@monthly': '0 0 1 * *',
  '@quarterly': '0 0 1 1,4,7,10 *',
  '@yearly': '0 0 1 1 *',
};

const EVERY_RE = /^every\s+(\d+)\s*(m|min|minutes?|h|hours?)$/i;

/** Turns an alias or "every 5m" into a plain cron expression; cron expressions pass through. */
export function normalizeSchedule(schedule: string): string {
  const s = schedule.trim().replace(/\s+/g, ' ');
  const alias = ALIASES[s] ?? ALIASES[`@${s}`];
  if (alias) return alias;
  const every = EVERY_RE.exec(s);
  if (every) {
    const n = Number(every[1]);
    return every[2].toLowerCase().startsWith('h') ? `0 */${n} * * *` : `*/${n} * * * *`;
  }
  return s;
}

/**
 * A croner job for the schedule; without `fire` it is only used to compute times. Legacy (OR)
 * day-of-month/day-of-week logic, like Vixie cron, so crontab lines mean what users expect.
 */
export function cronFor(schedule: string, timezone?: string, fire?: () => void): Cron {
  const options = { timezone, legacyMode: true, mode: '5-or-6-parts' as const, catch: true };
  return fire ? new Cron(normalizeSchedule(schedule), options, fire) : new Cron(normalizeSchedule(schedule), { ...options, paused: true });
}

// Parsing a pattern costs far more than asking for a time, and croner needs ~50–120 µs per
// answer: the collector asks for thousands of due times per evaluation over a handful of
// distinct schedules (and walks them for the retention audit), so compiled schedules and their
// answers are kept, looked up by zone then schedule (no key strings built per question).
interface Compiled {
  cron: Cron;
  next: Map<number, number | null>;
  previous: Map<number, number | null>;
}
const compiled = new Map<string, Map<string, Compiled>>();
let compiledCount = 0;
const MAX_ANSWERS = 100_000;

function compile(schedule: string, timezone?: string): Compiled {
  let byZone = compiled.get(timezone ?? '');
  if (!byZone) compiled.set(timezone ?? '', (byZone = new Map()));
  let c = byZone.get(schedule);
  if (!c) {
    if (compiledCount >= 1000) {
      compiled.clear();
      compiled.set(timezone ?? '', (byZone = new Map()));
      compiledCount = 0;
    }
    c = { cron: cronFor(schedule, timezone), next: new Map(), previous: new Map() };
    byZone.set(schedule, c);
    compiledCount++;
  }
  return c;
}

function remember(answers: Map<number, number | null>, at: number, t: number | null): void {
  if (answers.size >= MAX_ANSWERS) answers.clear();
  answers.set(at, t);
}

/** Returns a reason when the schedule cannot be parsed, or null when it is valid. */
export function scheduleError(schedule: string, timezone?: string): string | null {
  try {
    const c = compile(schedule, timezone);
    if (c.cron.nextRun(new Date(0)) === null) return 'never fires';
    return null;
  } catch (err) {
    return (err as Error).message;
  }
}

/** nextRun as epoch ms (null: never fires again); throws when the schedule cannot be parsed. */
export function nextRunMs(schedule: string, after: number, timezone?: string): number | null {
  const c = compile(schedule, timezone);
  let t = c.next.get(after);
  if (t === undefined) remember(c.next, after, (t = c.cron.nextRun(new Date(after))?.getTime() ?? null));
  return t;
}

/** The first fire time strictly after `after`, in the given IANA zone (host local zone by default). */
export function nextRun(schedule: string, after: Date, timezone?: string): Date | null {
  const t = nextRunMs(schedule, after.getTime(), timezone);
  return t === null ? null : new Date(t);
}

/** previousRun as epoch ms; throws when the schedule cannot be parsed. */
export function previousRunMs(schedule: string, at: number, timezone?: string, lookbackMs = 400 * 86_400_000): number | null {
  const c = compile(schedule, timezone);
  let prev = c.previous.get(at);
  if (prev === undefined) remember(c.previous, at, (prev = c.cron.previousRuns(1, new Date(at + 1))[0]?.getTime() ?? null));
  return prev !== null && at - prev <= lookbackMs ? prev : null;
}

/** The latest fire time at or before `at`, searched within `lookbackMs`. */
export function previousRun(schedule: string, at: Date, timezone?: string, lookbackMs = 400 * 86_400_000): Date | null {
  const t = previousRunMs(schedule, at.getTime(), timezone, lookbackMs);
  return t === null ? null : new Date(t);
}

/**
 * The host's IANA time zone, sent to the collector so it computes due times in the agent's
 * zone. Read from TZ or /etc/localtime first: asking Intl loads ICU's zone data, which costs
 * a resident daemon ~8 MB.
 */
export function localTimeZone(): string {
  const tz = process.env.TZ?.replace(/^:/, '');
  if (tz) return tz;
  try {
    const zone = /zoneinfo\/(.+)$/.exec(readlinkSync('/etc/localtime'))?.[1];
    if (zone) return zone;
  } catch {
    // not a symlink (or absent): ask Intl below
  }
  return Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC';
}
