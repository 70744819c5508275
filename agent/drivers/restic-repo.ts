import { hostname } from 'node:os';
import { posix } from 'node:path';
import type { z as Z } from 'zod';
import type { ProcessResult } from '../process-runner';
import { outcomeFromProcess, type DriverContext, type ExecOptions, type OperationOutcome, type Zod } from './types';
import { jsonDocument, ResticErrors, samePaths, snapshotFrom, type ResticSnapshot } from './restic-output';

// What the restic driver's operations share: options, how restic is started, which snapshots
// belong to the job.

export const resticOptions = (z: Zod) => {
  const absolute = z.string().refine((p) => p.startsWith('/'), { message: 'expected an absolute path' });
  // restic stores paths cleaned; the --path filter and our own matching compare them as text.
  const sourcePath = absolute.transform((p) => posix.normalize(p).replace(/(.)\/+$/, '$1'));
  return z
    .object({
      repository: z.string().refine((r) => r.startsWith('/') || /^[a-z0-9]+:./i.test(r), {
        message: 'expected an absolute path or a restic backend such as "sftp:user@host:/path", "rclone:remote:path", "s3:…"',
      }),
      passwordFile: absolute,
      paths: z.array(sourcePath).min(1, 'expected at least one path to back up'),
      excludes: z.array(z.string().min(1)).default([]),
      // restic reads "a,b" as two tags.
      tags: z.array(z.string().regex(/^[^,]+$/, 'a tag cannot be empty or contain a comma')).default([]),
      host: z.string().min(1).optional(),
      checkReadData: z
        .string()
        .regex(/^(\d+\/\d+|\d+(\.\d+)?%|\d+[kmgt]?)$/i, 'expected "n/t", a percentage like "5%" or a size like "500M"')
        .optional(),
      restoreSample: z.int().min(1).max(1000).optional(),
      cacheDir: absolute.optional(),
    })
    .strict();
};

export type ResticOptions = Z.output<ReturnType<typeof resticOptions>>;
export type ResticContext = DriverContext<ResticOptions>;

/** The environment restic runs with: repository and password file never go through argv. */
function resticEnv(ctx: ResticContext): NodeJS.ProcessEnv {
  const { repository, passwordFile, cacheDir } = ctx.options;
  const env: NodeJS.ProcessEnv = { ...ctx.env, RESTIC_REPOSITORY: repository, RESTIC_PASSWORD_FILE: passwordFile };
  // Inherited alternatives would take precedence over (or conflict with) the configured ones.
  delete env.RESTIC_PASSWORD;
  delete env.RESTIC_PASSWORD_COMMAND;
  delete env.RESTIC_REPOSITORY_FILE;
  if (cacheDir) env.RESTIC_CACHE_DIR = cacheDir;
  // A backend URL may carry a password (rest:https://user:pass@host/).
  const credential = /\/\/[^/:@]*:([^/@]+)@/.exec(repository)?.[1];
  if (credential) ctx.secret(credential);
  return env;
}

export interface ResticRun {
  result: ProcessResult;
  errors: ResticErrors;
}

/** Runs `restic ARGS…` with the job's repository; stderr goes to the log tail and is watched for errors. */
export async function restic(ctx: ResticContext, args: readonly string[], extra: ExecOptions = {}): Promise<ResticRun> {
  const errors = new ResticErrors();
  const result = await ctx.exec(['restic', ...args], {
    ...extra,
    env: resticEnv(ctx),
    onStderr: (chunk) => {
      errors.lines.push(chunk);
      extra.onStderr?.(chunk);
    },
  });
  errors.lines.end();
  return { result, errors };
}

/** A restic command's outcome; a failure's error names the command and restic's own reason. */
export function resticOutcome(command: string, { result, errors }: ResticRun): OperationOutcome {
  const outcome = outcomeFromProcess(result);
  if (outcome.status === 'success') return outcome;
  return { ...outcome, error: `restic ${command}: ${errors.fatal ?? outcome.error}` };
}

/**
 * The filters that narrow restic's listing to this job: `--path` for each path, the host, tags
 * if set. Without a configured host, restic's backup records the machine's host name; filtering
 * on it keeps another host's snapshots of the same paths out of this job's inventory, restore
 * drill and prune (whose policy would otherwise thin them out too).
 */
export function snapshotFilter({ paths, host, tags }: ResticOptions): string[] {
  return [...paths.map((p) => `--path=${p}`), `--host=${host ?? hostname()}`, ...(tags.length ? [`--tag=${tags.join(',')}`] : [])];
}

/**
 * The job's snapshots, newest first: restic's filters, then exactly the job's paths (restic's
 * `--path` also matches snapshots holding more paths, e.g. another job's).
 */
export async function jobSnapshots(ctx: ResticContext): Promise<{ run: ResticRun; snapshots: ResticSnapshot[] }> {
  const chunks: Buffer[] = [];
  const run = await restic(ctx, ['snapshots', '--json', ...snapshotFilter(ctx.options)], {
    tailStdout: false,
    onStdout: (c) => chunks.push(c),
  });
  const doc = jsonDocument(Buffer.concat(chunks).toString('utf8'));
  const snapshots = (Array.isArray(doc) ? doc : [])
    .map(snapshotFrom)
    .filter((s) => s !== undefined && samePaths(s.paths, ctx.options.paths)) as ResticSnapshot[];
  snapshots.sort((a, b) => b.time.localeCompare(a.time));
  if (run.result.exitCode === 0 && !Array.isArray(doc)) ctx.tail.line('[lifeline] restic snapshots printed no JSON list');
  return { run, snapshots };
}
