import { existsSync, statSync } from 'node:fs';
import type { z as Z } from 'zod';
import { hasKeepRule } from '../../shared/retention';
import { commitDump, discardDump, inventoryOf, listDumps, pruneDumps, startDump, type DumpFile } from './dump-files';
import { lastLines, lineSplitter, smallOutput } from './paths-lines';
import { ARCHIVE_EXTENSIONS, COMPRESSORS, excludeArgs, flagFor, member, parseListedFile } from './paths-tar';
import { factsFrom } from './restore-facts';
import { outcomeFromProcess, type Driver, type DriverContext, type OperationOutcome, type Zod } from './types';

// Directories (/etc, application configs) and Docker volumes as one compressed tar archive per
// run: `<dir>/<job>-<YYYYMMDDTHHMMSSZ>.tar.zst`. Members are stored relative to / (`etc/hosts`,
// `var/lib/docker/volumes/NAME/_data/…`), so
//   tar --extract --zstd --file=ARCHIVE -C /            restores in place,
//   tar --extract --zstd --file=ARCHIVE -C /tmp/x etc   restores /etc beside it for a look.
// Volumes are archived from their mountpoint while containers may still write to them: stop
// those (or dump their databases with a database job) for a consistent copy.
const options = (z: Zod) => {
  const absolute = z.string().refine((p) => p.startsWith('/'), 'expected an absolute path');
  return z
    .object({
      paths: z.array(absolute).default([]),
      volumes: z.array(z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]*$/, 'expected a Docker volume name')).default([]),
      excludes: z.array(z.string().min(1)).default([]),
      dir: absolute,
      compress: z.enum(['zstd', 'gzip']).default('zstd'),
      dockerBin: z.string().min(1).default('docker'),
    })
    .strict()
    .refine((o) => o.paths.length + o.volumes.length > 0, { message: 'expected at least one entry in paths or volumes', path: ['paths'] });
};

type PathsOptions = Z.output<ReturnType<typeof options>>;
type Ctx = DriverContext<PathsOptions>;

const failure = (ctx: Ctx, error: string, exitCode: number | null = null): OperationOutcome => {
  ctx.tail.line(`[lifeline] ${error}`);
  return { status: 'failure', exitCode, error };
};

/** A tool's outcome, with its last stderr line as the error (tar's own words). */
function withMessage(outcome: OperationOutcome, what: string, stderr: string[]): OperationOutcome {
  if (outcome.status === 'success') return outcome;
  // tar's closing lines ("Exiting with failure status…") say less than the one before them.
  const said = stderr.filter((l) => !/Exiting with failure status|Error is not recoverable|Child returned status/.test(l)).pop();
  const message = said ?? outcome.error ?? outcome.status;
  return { ...outcome, error: message.startsWith(`${what}: `) ? message : `${what}: ${message}` };
}

// Archives are files named by date in one directory, like database dumps: dump-files.ts lists,
// names, commits (fsync, rename, mode 0600: /etc holds shadow) and prunes them.
const archives = (ctx: Ctx): DumpFile[] => listDumps(ctx.options.dir, ctx.job.name, ARCHIVE_EXTENSIONS);

/** `docker volume inspect NAME` → its Mountpoint; the JSON form works with every CLI version. */
async function volumeMountpoint(ctx: Ctx, name: string): Promise<string | { error: string }> {
  const out = smallOutput();
  const err = lastLines(2);
  const result = await ctx.exec([ctx.options.dockerBin, 'volume', 'inspect', name], { onStdout: out.push, onStderr: err.push, tailStdout: false });
  const outcome = outcomeFromProcess(result);
  if (outcome.status !== 'success') return { error: `cannot resolve Docker volume ${name}: ${err.lines().pop() ?? outcome.error}` };
  let mountpoint: unknown;
  try {
    const parsed = JSON.parse(out.text()) as unknown;
    mountpoint = Array.isArray(parsed) ? (parsed[0] as { Mountpoint?: unknown } | undefined)?.Mountpoint : undefined;
  } catch {
    // Reported below like a missing field.
  }
  if (typeof mountpoint !== 'string' || !mountpoint.startsWith('/')) return { error: `docker volume inspect ${name} gave no Mountpoint` };
  return mountpoint;
}

export const pathsDriver: Driver<PathsOptions> = {
  name: 'paths',
  options,
  restoreFacts: (o) => factsFrom('paths', { dir: o.dir, compress: o.compress, paths: o.paths, volumes: o.volumes }),

  async backup(ctx) {
    const o = ctx.options;
    const sources = [...o.paths];
    for (const volume of o.volumes) {
      const mountpoint = await volumeMountpoint(ctx, volume);
      if (typeof mountpoint !== 'string') return failure(ctx, mountpoint.error);
      ctx.tail.line(`[lifeline] volume ${volume} is ${mountpoint}`);
      sources.push(mountpoint);
    }
    // Never create the directory: an unmounted USB disk would silently fill the root disk.
    if (!existsSync(o.dir) || !statSync(o.dir).isDirectory()) return failure(ctx, `archive directory ${o.dir} does not exist (is its disk mounted?)`);
    const { flag, ext } = COMPRESSORS[o.compress];
    // Removes partials of killed runs; waits for the next second if this one's name is taken.
    const archive = await startDump(ctx, o.dir, ext);

    let files = 0;
    const listing = lineSplitter((line) => {
      if (line && !line.endsWith('/')) files++;
    });
    const stderr = lastLines();
    // --verbose lists each member on stdout as it is added: the file count for free.
    const argv = ['tar', '--create', `--file=${archive.partial}`, flag, '--verbose', ...excludeArgs([o.dir, ...o.excludes]), '-C', '/', '--', ...sources.map(member)];
    const result = await ctx.exec(argv, { onStdout: listing.push, onStderr: stderr.push, tailStdout: false });
    listing.end();
    // GNU tar: 1 = some files changed while being read (the archive is complete), 2 = fatal.
    const outcome = withMessage(outcomeFromProcess(result, [1]), 'tar', stderr.lines());
    if (outcome.status !== 'success' && outcome.status !== 'warning') {
      discardDump(archive);
      return outcome;
    }
    const bytes = commitDump(archive.partial, archive);
    ctx.tail.line(`[lifeline] wrote ${archive.final} (${bytes} bytes, ${files} files)`);
    return { ...outcome, bytesAdded: bytes, bytesTotal: bytes, files, snapshotId: archive.name };
  },

  async inventory(ctx) {
    return inventoryOf(ctx.options.dir, ctx.job.name, ARCHIVE_EXTENSIONS);
  },

  async prune(ctx) {
    if (!hasKeepRule(ctx.retention)) return failure(ctx, 'the retention policy has no keep rule above zero: refusing to delete every archive');
    return pruneDumps(ctx, ctx.options.dir, ARCHIVE_EXTENSIONS);
  },

  // The newest archive only: older ones were verified when they were the newest.
  async verify(ctx) {
    const [newest] = archives(ctx);
    if (!newest) return failure(ctx, `no archive of job ${ctx.job.name} in ${ctx.options.dir}`);
    let entries = 0;
    const listing = lineSplitter((line) => {
      if (line && !line.endsWith('/')) entries++;
    });
    const stderr = lastLines();
    // Listing decompresses and walks every header: a truncated or corrupted archive fails.
    const result = await ctx.exec(['tar', '--list', `--file=${newest.path}`, flagFor(newest.name)], { onStdout: listing.push, onStderr: stderr.push, tailStdout: false });
    listing.end();
    const outcome = withMessage(outcomeFromProcess(result), `cannot read ${newest.name}`, stderr.lines());
    if (outcome.status === 'success') ctx.tail.line(`[lifeline] ${newest.name}: read in full, ${entries} files`);
    return { ...outcome, files: entries, bytesTotal: newest.bytes, snapshotId: newest.name };
  },

  // Extracts the newest archive into scratch, then checks every regular file's size against the
  // archive's own listing (a second read of the archive, parsed line by line).
  async restoreTest(ctx) {
    const [newest] = archives(ctx);
    if (!newest) return failure(ctx, `no archive of job ${ctx.job.name} in ${ctx.options.dir}`);
    const scratch = ctx.scratchDir;
    const flag = flagFor(newest.name);
    const extractErr = lastLines();
    const extracted = await ctx.exec(['tar', '--extract', `--file=${newest.path}`, flag, '-C', scratch], { onStderr: extractErr.push });
    const extractOutcome = withMessage(outcomeFromProcess(extracted), `cannot extract ${newest.name}`, extractErr.lines());
    if (extractOutcome.status !== 'success') return { ...extractOutcome, snapshotId: newest.name };

    let files = 0;
    let bytes = 0;
    let bad = 0;
    let firstBad = '';
    const root = Buffer.from(`${scratch}/`);
    const listing = lineSplitter((line) => {
      const f = parseListedFile(line);
      if (!f) return;
      let size = -1;
      try {
        size = statSync(Buffer.concat([root, f.name])).size;
      } catch {
        // Missing after extraction: counted as a mismatch.
      }
      if (size !== f.size) {
        if (++bad === 1) firstBad = f.name.toString('utf8');
        if (bad <= 10) ctx.tail.line(`[lifeline] ${f.name.toString('utf8')}: restored ${size < 0 ? 'nothing' : `${size} bytes`}, archive says ${f.size}`);
        return;
      }
      files++;
      bytes += size;
    });
    const listErr = lastLines();
    const listed = await ctx.exec(['tar', '--list', '--verbose', '--numeric-owner', `--file=${newest.path}`, flag], { onStdout: listing.push, onStderr: listErr.push, tailStdout: false });
    listing.end();
    const listOutcome = withMessage(outcomeFromProcess(listed), `cannot list ${newest.name}`, listErr.lines());
    if (listOutcome.status !== 'success') return { ...listOutcome, snapshotId: newest.name };
    if (bad) return { ...failure(ctx, `${bad} restored file(s) differ from the archive, first ${firstBad}`), files, bytesTotal: bytes, snapshotId: newest.name };
    ctx.tail.line(`[lifeline] restored ${newest.name}: ${files} files, ${bytes} bytes match the archive`);
    return { status: 'success', exitCode: 0, files, bytesTotal: bytes, snapshotId: newest.name };
  },
};
