import { visibleText } from '../../shared/display-text';

// Label values from agents are untrusted: names are already bounded by the protocol (NAME_RE,
// at most 64 characters), mounts are free text. These caps keep one agent from blowing up the
// series count of every Prometheus that scrapes the collector.

export interface SeriesLimits {
  /** Longest mount label kept; longer ones are cut and end in "…". */
  mountLength: number;
  /** Filesystems per agent beyond which series are dropped. */
  filesystemsPerAgent: number;
  /** Series per family beyond which series are dropped. */
  seriesPerFamily: number;
}

export const SERIES_LIMITS: Readonly<SeriesLimits> = Object.freeze({ mountLength: 128, filesystemsPerAgent: 64, seriesPerFamily: 10_000 });

/** `value` cut to at most `max` UTF-16 units, never splitting a surrogate pair. */
export function boundLabel(value: string, max: number): string {
  if (value.length <= max) return value;
  let end = max - 1;
  const last = value.charCodeAt(end - 1);
  if (last >= 0xd800 && last <= 0xdbff) end--; // a high surrogate without its partner
  return `${value.slice(0, end)}…`;
}

/**
 * An agent-supplied label value as Prometheus shows it: control, bidi and other hidden
 * characters as visible stand-ins (␛, \u202E; shared/display-text.ts), so neither Grafana nor a
 * terminal reading the exposition is driven or reordered by them. Newlines stay: the text
 * format escapes them. Quotes and backslashes are the exposition writer's to escape.
 */
export const labelText = (value: string): string => visibleText(value, { multiline: true });
