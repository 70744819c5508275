// Text from agents reaches people: on the pages, in notifications, in /metrics, in restore
// commands, on a terminal. Some characters show nothing yet change what is read: controls (ESC
// drives a terminal, BEL rings it, NUL cuts a C string short), bidirectional overrides and
// isolates (U+202E makes "gpj.exe" read "exe.jpg"), zero-width and other format characters,
// line and paragraph separators. This module is the one place that says which characters those
// are and how each kind of output shows them; every output of agent text goes through it.

/**
 * Cc (C0 controls, DEL, C1 controls), Cf (every bidi control, zero-width characters, word
 * joiner, BOM, soft hyphen, tag characters…), Zl and Zp (U+2028, U+2029), and lone surrogates.
 */
const HIDDEN_CLASS = '\\p{Cc}\\p{Cf}\\p{Zl}\\p{Zp}\\p{Cs}';
const HIDDEN = new RegExp(`[${HIDDEN_CLASS}]`, 'u');
const HIDDEN_RUNS = new RegExp(`[${HIDDEN_CLASS}]+`, 'gu');
/** The same without newline and tab, which multi-line text (a log tail, a list of commands) keeps. */
const HIDDEN_NOT_LAYOUT = new RegExp(`(?![\\n\\t])[${HIDDEN_CLASS}]`, 'u');
const HIDDEN_NOT_LAYOUT_RUNS = new RegExp(`(?:(?![\\n\\t])[${HIDDEN_CLASS}])+`, 'gu');
const HIDDEN_CHARS = new RegExp(`[${HIDDEN_CLASS}]`, 'gu');

export interface TextMode {
  /** Keep newlines and tabs (multi-line text); otherwise they are shown like the other controls. */
  multiline?: boolean;
}

/** Whether `text` holds a character that would be hidden or would rearrange what is shown. */
export function hasHiddenChars(text: string, mode: TextMode = {}): boolean {
  return (mode.multiline ? HIDDEN_NOT_LAYOUT : HIDDEN).test(text);
}

/**
 * The visible stand-in of one such character: its Unicode control picture for C0 controls and
 * DEL (␀ ␇ ␛ ␡), else its code point as `\u202E` (`\u{E0041}` beyond the BMP).
 */
export function visibleChar(ch: string): string {
  const cp = ch.codePointAt(0)!;
  if (cp < 0x20) return String.fromCharCode(0x2400 + cp);
  if (cp === 0x7f) return '\u2421';
  const hex = cp.toString(16).toUpperCase();
  return cp > 0xffff ? `\\u{${hex}}` : `\\u${hex.padStart(4, '0')}`;
}

const C0 = 'NUL SOH STX ETX EOT ENQ ACK BEL BS HT LF VT FF CR SO SI DLE DC1 DC2 DC3 DC4 NAK SYN ETB CAN EM SUB ESC FS GS RS US'.split(' ');
const NAMES: Record<number, string> = {
  0x7f: 'DEL control character',
  0xad: 'SOFT HYPHEN',
  0x61c: 'ARABIC LETTER MARK',
  0x200b: 'ZERO WIDTH SPACE',
  0x200c: 'ZERO WIDTH NON-JOINER',
  0x200d: 'ZERO WIDTH JOINER',
  0x200e: 'LEFT-TO-RIGHT MARK',
  0x200f: 'RIGHT-TO-LEFT MARK',
  0x2028: 'LINE SEPARATOR',
  0x2029: 'PARAGRAPH SEPARATOR',
  0x202a: 'LEFT-TO-RIGHT EMBEDDING',
  0x202b: 'RIGHT-TO-LEFT EMBEDDING',
  0x202c: 'POP DIRECTIONAL FORMATTING',
  0x202d: 'LEFT-TO-RIGHT OVERRIDE',
  0x202e: 'RIGHT-TO-LEFT OVERRIDE',
  0x2060: 'WORD JOINER',
  0x2066: 'LEFT-TO-RIGHT ISOLATE',
  0x2067: 'RIGHT-TO-LEFT ISOLATE',
  0x2068: 'FIRST STRONG ISOLATE',
  0x2069: 'POP DIRECTIONAL ISOLATE',
  0xfeff: 'ZERO WIDTH NO-BREAK SPACE',
};

/** "U+202E RIGHT-TO-LEFT OVERRIDE", "U+001B ESC control character": what a reader is told it is. */
export function describeChar(ch: string): string {
  const cp = ch.codePointAt(0)!;
  const code = `U+${cp.toString(16).toUpperCase().padStart(4, '0')}`;
  if (cp < 0x20) return `${code} ${C0[cp]} control character`;
  if (cp >= 0x80 && cp <= 0x9f) return `${code} C1 control character`;
  if (cp >= 0xd800 && cp <= 0xdfff) return `${code} unpaired surrogate`;
  return `${code} ${NAMES[cp] ?? 'invisible format character'}`;
}

/**
 * `text` with every hidden character replaced by its visible stand-in (see visibleChar). Plain
 * text for any output: a terminal, a notification title, a label value, an HTML attribute.
 * Applying it twice changes nothing.
 */
export function visibleText(text: string, mode: TextMode = {}): string {
  return text.replace(mode.multiline ? HIDDEN_NOT_LAYOUT_RUNS : HIDDEN_RUNS, (run) => visibleRun(run));
}

function visibleRun(run: string): string {
  let out = '';
  for (const ch of run) out += visibleChar(ch);
  return out;
}

/**
 * `text` cut into its plain parts and its runs of hidden characters, each run given with its
 * visible form and what it holds: for outputs that mark them (the pages' <mark> elements).
 */
export function mapHidden(text: string, mode: TextMode, plain: (part: string) => string, hidden: (run: { visible: string; names: string[] }) => string): string {
  const re = mode.multiline ? HIDDEN_NOT_LAYOUT_RUNS : HIDDEN_RUNS;
  let out = '';
  let at = 0;
  for (const m of text.matchAll(re)) {
    out += plain(text.slice(at, m.index));
    const names = [...new Set(Array.from(m[0], describeChar))];
    out += hidden({ visible: visibleRun(m[0]), names });
    at = m.index + m[0].length;
  }
  return out + plain(text.slice(at));
}

// ---- Markdown ----

const MD_ENTITIES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;' };

/**
 * Agent text for insertion into Markdown (a notification body, a report line, a table cell): on
 * one line, its hidden characters visible, HTML's `<`, `>`, `&` as entities (Markdown passes
 * raw HTML through), the inline metacharacters and table pipes backslash-escaped, and a leading
 * block marker (heading, list, quote, rule) escaped so it starts nothing.
 */
export function markdownText(text: string): string {
  const flat = visibleText(text.replace(/\r\n|[\r\n\t]/g, ' '));
  return flat
    .replace(/[\\`*_[\]|~]/g, '\\$&')
    .replace(/[&<>]/g, (c) => MD_ENTITIES[c])
    .replace(/^(\s*)(?:([#+=-])|(\d+)([.)]))/, (_, space: string, mark?: string, num?: string, dot?: string) =>
      mark ? `${space}\\${mark}` : `${space}${num}\\${dot}`,
    );
}

// ---- JSON ----

/**
 * JSON.stringify with every hidden character written as a `\uXXXX` escape: the same data, but
 * text that shows nothing odd when a person reads the JSON itself (JSON.stringify already
 * escapes C0 controls and lone surrogates, not DEL, C1, bidi controls or separators).
 */
export function jsonEscapingHidden(value: unknown): string {
  return JSON.stringify(value).replace(HIDDEN_CHARS, (ch) => {
    let out = '';
    for (let i = 0; i < ch.length; i++) out += `\\u${ch.charCodeAt(i).toString(16).padStart(4, '0')}`;
    return out;
  });
}
