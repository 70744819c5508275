// Shell words for the runbook. Every interpolated value is agent-supplied: it must come out as
// one inert word whatever it holds (quotes, `$(…)`, backticks, globs, spaces).

// Words made only of these need no quotes (no globbing, expansion, word splitting or `~`).
const PLAIN = /^[A-Za-z0-9_@%+=:,./-]+$/;

/** `value` as one shell word: as it is when plain, else single-quoted (`'` written as `'\''`). */
export function shellQuote(value: string): string {
  return PLAIN.test(value) ? value : `'${value.replace(/'/g, `'\\''`)}'`;
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
