import { hasHiddenChars } from '../../shared/display-text';

// Shell words for the runbook. Every interpolated value is agent-supplied: it must come out as
// one inert word whatever it holds (quotes, `$(…)`, backticks, globs, spaces), and the command
// must show exactly what it runs (no control, bidi or zero-width character shown raw).

// Words made only of these need no quotes (no globbing, expansion, word splitting or `~`).
const PLAIN = /^[A-Za-z0-9_@%+=:,./-]+$/;

/**
 * `value` as one shell word: as it is when plain, else single-quoted (`'` written as `'\''`).
 * A value holding a control, bidi or other hidden character (newline and tab included) is
 * written in bash's ANSI-C form, `$'…'`, with every byte outside printable ASCII as `\xHH`: the
 * word reads as plain ASCII and bash turns it back into the exact bytes, whatever the locale.
 * No word can carry a NUL (argv and the environment are C strings): that throws.
 */
export function shellQuote(value: string): string {
  if (PLAIN.test(value)) return value;
  if (!hasHiddenChars(value)) return `'${value.replace(/'/g, `'\\''`)}'`;
  if (value.includes('\0')) throw new RangeError('a shell word cannot hold a NUL character');
  return `$'${ansiC(value)}'`;
}

/** Whether any command holds an ANSI-C quoted word, which needs bash (or zsh/ksh), not sh. */
export const needsBash = (commands: readonly string[]) => commands.some((c) => c.includes("$'"));

function ansiC(value: string): string {
  let out = '';
  for (const byte of Buffer.from(value, 'utf8')) {
    if (byte === 0x5c) out += '\\\\';
    else if (byte === 0x27) out += "\\'";
    else if (byte >= 0x20 && byte <= 0x7e) out += String.fromCharCode(byte);
    else out += `\\x${byte.toString(16).padStart(2, '0')}`;
  }
  return out;
}

/** `NAME=value ` assignments for the variables that are set, to put before a command. */
export function envPrefix(vars: Record<string, string | undefined>): string {
  return Object.entries(vars)
    .filter(([, value]) => value)
    .map(([name, value]) => `${name}=${shellQuote(value!)} `)
    .join('');
}

/** Where a restore lands unless the operator chooses otherwise: beside the originals, never over them. */
export const restoreDir = (job: string) => shellQuote(`/restore/${job}`);

/** The dump-file name pattern of the agent's dump directories: `<job>-<YYYYMMDDTHHMMSSZ>.<ext>`. */
export const datedName = (job: string, ext: string) => `${shellQuote(job)}-????????T??????Z.${ext}`;

/**
 * A word naming the newest file of `dir` matching `pattern` (a glob, written unquoted), picked
 * when the command runs: names whose dates sort as text, so the last one is the newest.
 */
export function newestFile(dir: string, pattern: string, filter?: string): string {
  return `"$(ls -1d -- ${shellQuote(dir.replace(/\/+$/, '') || '/')}/${pattern}${filter ? ` | ${filter}` : ''} | tail -n 1)"`;
}

/** A file of a directory, named by the inventory (an absolute id is taken as it is). */
export function fileIn(dir: string, name: string): string {
  return shellQuote(name.startsWith('/') ? name : `${dir.replace(/\/+$/, '')}/${name}`);
}
