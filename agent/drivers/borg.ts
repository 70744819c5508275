import type { z as Z } from 'zod';
import type { Retention } from '../../shared/retention-policy';
import {
  archivesFrom,
  BorgLog,
  boundedText,
  createNumbers,
  describeCreate,
  entryFromJson,
  parseJson,
  RestoreCheck,
  shellQuote,
  splitter,
  UTF8_LOCALE,
} from './borg-common';
import { factsFrom, withoutPassword } from './restore-facts';
import type { Driver, DriverContext, ExecOptions, OperationOutcome, SnapshotInfo, Zod } from './types';

// BorgBackup 1.2 / 1.4 (borg 2 has another command line). The repository goes in BORG_REPO and
// commands name archives as `::NAME`; the passphrase reaches borg through BORG_PASSCOMMAND
// reading the configured file, never through argv. Each job owns the archives named with its
// prefix: inventory, prune and the restore drill only look at those.
const options = (z: Zod) => {
  const absolute = z.string().refine((p) => p.startsWith('/'), 'expected an absolute path');
  return z
    .object({
      repository: z
        .string()
        .refine((r) => r.startsWith('/') || /^(ssh|sftp|file):\/\//.test(r) || /^[^/:]+:/.test(r), {
          message: 'expected an absolute path, ssh://user@host:port/path or user@host:path',
        }),
      passphraseFile: absolute.optional(),
      paths: z.array(absolute).min(1, 'expected at least one path to back up'),
      excludes: z.array(z.string().min(1)).default([]),
      archivePrefix: z.string().min(1).regex(/^[^/]*$/, 'an archive name cannot contain "/"').optional(),
      compression: z.string().min(1).optional(),
      /** BORG_RSH, e.g. "ssh -p 23 -i /root/.ssh/storagebox" for a Hetzner Storage Box. */
      rsh: z.string().min(1).optional(),
      /** BORG_REMOTE_PATH: the borg program on the repository host (e.g. "borg-1.4"). */
      remotePath: z.string().min(1).optional(),
      checkVerifyData: z.boolean().default(false),
    })
    .strict();
};

export type BorgOptions = Z.output<ReturnType<typeof options>>;
type Ctx = DriverContext<BorgOptions>;

const KEEP_FLAGS: [keyof Retention, string][] = [
  ['last', '--keep-last'],
  ['hourly', '--keep-hourly'],
  ['daily', '--keep-daily'],
  ['weekly', '--keep-weekly'],
  ['monthly', '--keep-monthly'],
  ['yearly', '--keep-yearly'],
];

export function keepFlags(policy: Retention): string[] {
  return KEEP_FLAGS.flatMap(([rule, flag]) => ((policy[rule] ?? 0) > 0 ? [flag, String(policy[rule])] : []));
}

/** `{hostname}` is borg's own placeholder: borg expands it in archive names and in --glob-archives. */
const prefix = (ctx: Ctx) => ctx.options.archivePrefix ?? `{hostname}-${ctx.job.name}-`;

// The prefix is matched as a glob: its literal glob characters are bracketed, placeholders kept.
export function prefixGlob(p: string): string {
  return `${p.replace(/\{[^}]*\}|[*?[\]]/g, (m) => (m.length === 1 ? `[${m}]` : m))}*`;
}

function env(ctx: Ctx, extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const o = ctx.options;
  const e: NodeJS.ProcessEnv = {
    ...ctx.env,
    ...UTF8_LOCALE,
    BORG_REPO: o.repository,
    // Never answer borg's "are you sure" questions with yes on the operator's behalf.
    BORG_RELOCATED_REPO_ACCESS_IS_OK: 'no',
    BORG_UNKNOWN_UNENCRYPTED_REPO_ACCESS_IS_OK: 'no',
    ...extra,
  };
  if (o.passphraseFile) {
    // borg prefers BORG_PASSPHRASE over BORG_PASSCOMMAND: the configured file must win.
    delete e.BORG_PASSPHRASE;
    e.BORG_PASSCOMMAND = `cat ${shellQuote(o.passphraseFile)}`;
  }
  if (o.rsh) e.BORG_RSH = o.rsh;
  if (o.remotePath) e.BORG_REMOTE_PATH = o.remotePath;
  return e;
}

async function borg(ctx: Ctx, args: string[], extra: ExecOptions = {}) {
  const log = new BorgLog();
  const result = await ctx.exec(['borg', args[0], '--log-json', ...args.slice(1)], { env: env(ctx), ...extra, onStderr: log.push });
  log.end();
  return { result, log };
}

/** The job's archives; listings run with TZ=UTC so borg's zone-less times are UTC. */
async function listArchives(ctx: Ctx, ...extraArgs: string[]): Promise<SnapshotInfo[]> {
  const out = boundedText(64 * 2 ** 20);
  const { result, log } = await borg(ctx, ['list', '--json', '--glob-archives', prefixGlob(prefix(ctx)), ...extraArgs], {
    env: env(ctx, { TZ: 'UTC' }),
    onStdout: out.push,
    tailStdout: false,
  });
  const outcome = log.outcome('borg list', result, ctx.tail, []);
  if (outcome.status !== 'success') throw new Error(outcome.error);
  const json = parseJson(out.text());
  if (json === undefined) throw new Error('borg list printed no readable JSON');
  return archivesFrom(json);
}

const utcStamp = (d: Date) => d.toISOString().replace(/\.\d{3}Z$/, 'Z');

export const borgDriver: Driver<BorgOptions> = {
  name: 'borg',
  options,
  secretFiles: (o) => (o.passphraseFile ? [{ key: 'passphraseFile', path: o.passphraseFile }] : []),
  restoreFacts: (o) =>
    factsFrom('borg', {
      repository: withoutPassword(o.repository),
      passphraseFile: o.passphraseFile,
      rsh: o.rsh,
      remotePath: o.remotePath,
      // Only when set: the default prefix names the job, which the runbook knows.
      archivePrefix: o.archivePrefix,
    }),

  async backup(ctx) {
    const o = ctx.options;
    const args = ['create', '--json', '--stats'];
    if (o.compression) args.push('--compression', o.compression);
    for (const pattern of o.excludes) args.push('--exclude', pattern);
    args.push(`::${prefix(ctx)}${utcStamp(new Date())}`, ...o.paths);
    const out = boundedText(4 * 2 ** 20);
    const { result, log } = await borg(ctx, args, { onStdout: out.push, tailStdout: false });
    // Exit 1 from create is a warning (a file vanished or could not be read): the archive exists.
    const outcome = log.outcome('borg create', result, ctx.tail);
    const numbers = createNumbers(parseJson(out.text()));
    if (numbers.snapshotId) ctx.tail.line(describeCreate(numbers));
    return { ...outcome, ...numbers };
  },

  async inventory(ctx) {
    return listArchives(ctx);
  },

  async prune(ctx) {
    const keep = keepFlags(ctx.retention);
    if (!keep.length) {
      const error = 'the retention policy has no keep rule (last, hourly, daily, weekly, monthly or yearly > 0); refusing to prune, which would delete every archive';
      ctx.tail.line(`[lifeline] ${error}`);
      return { status: 'failure', exitCode: null, error };
    }
    const pruned = await borg(ctx, ['prune', '--list', '--glob-archives', prefixGlob(prefix(ctx)), ...keep]);
    const outcome = pruned.log.outcome('borg prune', pruned.result, ctx.tail);
    if (outcome.status !== 'success' && outcome.status !== 'warning') return outcome;
    // prune only marks archives deleted; the space comes back with compact.
    const compacted = await borg(ctx, ['compact']);
    const compactOutcome = compacted.log.outcome('borg compact', compacted.result, ctx.tail);
    return compactOutcome.status === 'success' ? outcome : compactOutcome;
  },

  async verify(ctx) {
    const { result, log } = await borg(ctx, ['check', ...(ctx.options.checkVerifyData ? ['--verify-data'] : [])]);
    // Unlike create, check exits 1 when it found damage: only 0 passes.
    return log.outcome('borg check', result, ctx.tail, []);
  },

  async restoreTest(ctx) {
    const [latest] = await listArchives(ctx, '--sort-by', 'timestamp', '--last', '1');
    if (!latest) {
      const error = `no archive matching ${prefixGlob(prefix(ctx))} to restore`;
      ctx.tail.line(`[lifeline] ${error}`);
      return { status: 'failure', exitCode: null, error };
    }
    const archive = latest.id;
    const dir = ctx.scratchDir;
    const x = await borg(ctx, ['extract', `::${archive}`], { cwd: dir });
    const extracted: OperationOutcome = { ...x.log.outcome('borg extract', x.result, ctx.tail), snapshotId: archive };
    if (extracted.status !== 'success' && extracted.status !== 'warning') return extracted;

    const check = new RestoreCheck(dir);
    const listing = splitter('\n', (line) => {
      const e = entryFromJson(line);
      if (e) check.add(e);
    });
    const listed = await borg(ctx, ['list', '--json-lines', `::${archive}`], { onStdout: listing.push, tailStdout: false });
    listing.end();
    const listOutcome = listed.log.outcome('borg list', listed.result, ctx.tail, []);
    if (listOutcome.status !== 'success') return { ...listOutcome, snapshotId: archive };

    const pattern = check.samplePattern();
    if (pattern) {
      const sums = new Map<string, string>();
      const lines = splitter('\n', (line) => {
        const e = entryFromJson(line);
        if (e?.sha256) sums.set(e.path, e.sha256);
      });
      const hashed = await borg(ctx, ['list', '--json-lines', '--format', '{sha256}', `::${archive}`, pattern], { onStdout: lines.push, tailStdout: false });
      lines.end();
      const hashOutcome = hashed.log.outcome('borg list (sha256)', hashed.result, ctx.tail, []);
      if (hashOutcome.status !== 'success') return { ...hashOutcome, snapshotId: archive };
      await check.compareHashes(sums);
    }
    const outcome = check.outcome(archive, ctx.tail);
    return outcome.status === 'success' && extracted.status === 'warning' ? { ...outcome, status: 'warning', exitCode: extracted.exitCode, error: extracted.error } : outcome;
  },
};
