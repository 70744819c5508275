import { readFileSync } from 'node:fs';
import type { z as Z } from 'zod';
import { parseSize } from '../../shared/size';
import { lineSplitter } from './paths-lines';
import { rcloneLog, type RcloneLog } from './rclone-log';
import { factsFrom, withoutPassword } from './restore-facts';
import { outcomeFromProcess, type Driver, type DriverContext, type OperationOutcome, type SnapshotInfo, type Zod } from './types';

// An off-site copy of a local repository or folder with `rclone copy|sync SOURCE DESTINATION`.
// rclone keeps no history, so the inventory is one entry, "current": the destination as it is.
// Nothing to prune (prune the source repository with its own job).
const options = (z: Zod) => {
  const location = z
    .string()
    .refine((s) => s.startsWith('/') || /^:?[\w.\- ]+(,[^:]*)?:/.test(s), 'expected an absolute path or remote:path');
  return z
    .object({
      source: location,
      destination: location,
      mode: z.enum(['copy', 'sync']).default('copy'),
      // rclone.conf holds the remotes' credentials: passed as RCLONE_CONFIG, its secrets redacted.
      configFile: z.string().refine((p) => p.startsWith('/'), 'expected an absolute path').optional(),
      bwlimit: z.string().min(1).optional(),
      checkers: z.int().positive().optional(),
      transfers: z.int().positive().optional(),
      /** Global flags for every rclone command of this job (`--fast-list`, `--s3-…`, `--exclude`). */
      // YAML reads `[--retries, 1]` as a string and a number; both are meant as arguments.
      extraArgs: z.array(z.union([z.string(), z.number()]).transform(String)).default([]),
      /** How much of the destination a restore drill downloads (rclone --max-transfer). */
      restoreSample: z.union([z.string(), z.number()]).default('256MiB').refine((v) => (parseSize(v) ?? 0) > 0, 'expected a size such as 256MiB'),
    })
    .strict();
};

type RcloneOptions = Z.output<ReturnType<typeof options>>;
type Ctx = DriverContext<RcloneOptions>;

// Exit codes (REFERENCE.md): 9 = nothing transferred, only with --error-on-no-transfer: the copy
// is up to date, a success. 8 = --max-transfer reached: expected when sampling a restore.
const NOTHING_TRANSFERRED = 9;
const MAX_TRANSFER_REACHED = 8;
const DIRECTORY_NOT_FOUND = 3;

// Values of rclone.conf keys like these are credentials (obscured passwords are reversible).
const SECRET_KEY = /pass|secret|token|key|credentials|auth/i;

/**
 * A location without credentials: a connection string's secret parameters
 * (`:sftp,host=h,pass=x:dir` → `:sftp,host=h:dir`) and a URL's password are left out.
 */
export function publicLocation(location: string): string {
  const m = /^(:?[\w.\- ]+)(,[^:]*)(:.*)$/.exec(location);
  const stripped = m ? m[1] + m[2].split(',').filter((p) => !SECRET_KEY.test(p.split('=')[0])).join(',') + m[3] : location;
  return withoutPassword(stripped);
}

function envFor(ctx: Ctx): NodeJS.ProcessEnv {
  const file = ctx.options.configFile;
  if (!file) return ctx.env;
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    const m = /^\s*([\w-]+)\s*=\s*(.+?)\s*$/.exec(line);
    if (m && SECRET_KEY.test(m[1])) ctx.secret(m[2]);
  }
  return { ...ctx.env, RCLONE_CONFIG: file };
}

/** Flags for every command: JSON log, one final stats line, never a password prompt. */
function common(ctx: Ctx): string[] {
  const o = ctx.options;
  return [
    '--use-json-log', '--stats-log-level', 'NOTICE', '--stats-one-line', '--ask-password=false',
    ...(o.bwlimit ? ['--bwlimit', o.bwlimit] : []),
    ...(o.checkers ? ['--checkers', String(o.checkers)] : []),
    ...(o.transfers ? ['--transfers', String(o.transfers)] : []),
    ...o.extraArgs,
  ];
}

async function rclone(ctx: Ctx, args: string[], onStdout?: (chunk: Buffer) => void): Promise<{ outcome: OperationOutcome; log: RcloneLog }> {
  const log = rcloneLog();
  const result = await ctx.exec(['rclone', ...args, ...common(ctx)], {
    env: envFor(ctx),
    onStderr: log.push,
    ...(onStdout ? { onStdout, tailStdout: false } : {}),
  });
  return { outcome: outcomeFromProcess(result), log };
}

function failed(outcome: OperationOutcome, log: RcloneLog, what: string): OperationOutcome {
  return { ...outcome, status: outcome.status === 'success' ? 'failure' : outcome.status, error: `${what}: ${log.message() ?? outcome.error ?? 'rclone reported errors'}` };
}

/**
 * `rclone check A B --combined -`: one line per file, `= path` when identical, `*` differs,
 * `-`/`+` missing on one side, `!` error. Counts them; the first differences go to the log.
 */
async function check(ctx: Ctx, a: string, b: string, oneWay: boolean): Promise<OperationOutcome> {
  const meaning: Record<string, string> = { '*': 'differs', '+': `is missing in ${b}`, '-': `is missing in ${a}`, '!': 'could not be read' };
  let same = 0;
  const differ: string[] = [];
  const lines = lineSplitter((line) => {
    if (line.startsWith('= ')) same++;
    else if (line.trim()) {
      differ.push(`${line.slice(2)} ${meaning[line[0]] ?? line[0]}`);
      if (differ.length <= 10) ctx.tail.line(`[lifeline] check: ${differ[differ.length - 1]}`);
    }
  });
  const { outcome, log } = await rclone(ctx, ['check', a, b, '--combined', '-', ...(oneWay ? ['--one-way'] : [])], lines.push);
  lines.end();
  if (outcome.status === 'success' && differ.length === 0) return { ...outcome, files: same };
  if (differ.length) return { status: 'failure', exitCode: outcome.exitCode, files: same, error: `${differ.length} difference(s) between ${a} and ${b}, first: ${differ[0]}` };
  return failed(outcome, log, 'rclone check');
}

export const rcloneDriver: Driver<RcloneOptions> = {
  name: 'rclone',
  options,
  secretFiles: (o) => (o.configFile ? [{ key: 'configFile', path: o.configFile }] : []),
  restoreFacts: (o) =>
    factsFrom('rclone', { destination: publicLocation(o.destination), source: publicLocation(o.source), configFile: o.configFile, mode: o.mode }),

  async backup(ctx) {
    const o = ctx.options;
    const { outcome, log } = await rclone(ctx, [o.mode, o.source, o.destination]);
    const stats = log.stats();
    const numbers = { bytesAdded: stats?.bytes, files: stats?.transfers };
    const upToDate = outcome.exitCode === NOTHING_TRANSFERRED && !stats?.errors;
    if ((outcome.status === 'success' || upToDate) && !stats?.errors && !stats?.fatalError) {
      return { status: 'success', exitCode: outcome.exitCode, ...numbers };
    }
    return { ...failed(outcome, log, `rclone ${o.mode}`), ...numbers };
  },

  // Copy mode leaves files deleted at the source in place: only the source's files must match.
  async verify(ctx) {
    return check(ctx, ctx.options.source, ctx.options.destination, ctx.options.mode === 'copy');
  },

  // One entry for the destination as a whole: its newest file's time and its total size.
  async inventory(ctx) {
    let bytes = 0;
    let newest = 0;
    const lines = lineSplitter((line) => {
      const json = line.replace(/,$/, '');
      if (!json.startsWith('{')) return; // the array's own brackets
      try {
        const f = JSON.parse(json) as { Size?: unknown; ModTime?: unknown };
        if (typeof f.Size === 'number' && f.Size > 0) bytes += f.Size;
        const t = typeof f.ModTime === 'string' ? Date.parse(f.ModTime) : NaN;
        if (t > newest) newest = t;
      } catch {
        // A line that is not one file: ignored.
      }
    });
    const { outcome, log } = await rclone(ctx, ['lsjson', '-R', '--files-only', ctx.options.destination], lines.push);
    lines.end();
    if (outcome.exitCode === DIRECTORY_NOT_FOUND) return [];
    if (outcome.status !== 'success') throw new Error(failed(outcome, log, 'rclone lsjson').error);
    const current: SnapshotInfo[] = newest > 0 ? [{ id: 'current', time: new Date(newest).toISOString(), bytes }] : [];
    return current;
  },

  // Downloads a sample of the destination (up to restoreSample bytes of whole files) into
  // scratch, then checks every downloaded file against the destination.
  async restoreTest(ctx) {
    const o = ctx.options;
    const scratch = ctx.scratchDir;
    const limit = `${parseSize(o.restoreSample)}B`;
    const { outcome, log } = await rclone(ctx, ['copy', o.destination, scratch, '--max-transfer', limit, '--cutoff-mode', 'soft']);
    const stats = log.stats();
    if (outcome.status !== 'success' && outcome.exitCode !== MAX_TRANSFER_REACHED) return failed(outcome, log, 'rclone copy (restore)');
    if (!stats?.transfers) {
      const error = `nothing restored from ${o.destination}`;
      ctx.tail.line(`[lifeline] ${error}`);
      return { status: 'failure', exitCode: outcome.exitCode, error };
    }
    const checked = await check(ctx, scratch, o.destination, true);
    if (checked.status === 'success') ctx.tail.line(`[lifeline] restored ${checked.files} files (${stats.bytes ?? 0} bytes) from ${o.destination}; all match`);
    return { ...checked, bytesTotal: stats.bytes };
  },
};
