import { createHash } from 'node:crypto';
import { createReadStream, statSync } from 'node:fs';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { OperationOutcome } from './types';
import { fileNode, jsonObject, Lines } from './restic-output';
import { jobSnapshots, restic, resticOutcome, type ResticContext, type ResticRun } from './restic-repo';

// The restore drill: restore the job's newest snapshot (all of it, or `restoreSample` files
// picked at random) into the scratch directory, check every restored file against the
// snapshot's listing, and compare the content of a few of them with `restic dump`.

/** Files whose content is hashed when the whole snapshot is restored. */
const HASHED_IN_FULL_RESTORE = 3;

interface FileEntry {
  path: string;
  size: number;
}

/** Keeps a uniform random sample of what passes by, in constant memory. */
class Reservoir {
  readonly items: FileEntry[] = [];
  private seen = 0;
  constructor(private readonly size: number) {}
  add(item: FileEntry): void {
    this.seen++;
    if (this.items.length < this.size) this.items.push(item);
    else {
      const j = Math.floor(Math.random() * this.seen);
      if (j < this.size) this.items[j] = item;
    }
  }
}

/** Streams `restic ls --json ID`, handing over each regular file. */
async function listFiles(ctx: ResticContext, snapshotId: string, onFile: (f: FileEntry) => void): Promise<ResticRun> {
  const lines = new Lines((line) => {
    const msg = jsonObject(line);
    const file = msg && fileNode(msg);
    if (file) onFile(file);
    else if (!msg) ctx.tail.line(line);
  });
  const run = await restic(ctx, ['ls', '--json', snapshotId], { tailStdout: false, onStdout: lines.push });
  lines.end();
  return run;
}

/** What is wrong with one restored file, if anything. */
function problemWith(target: string, file: FileEntry): string | undefined {
  try {
    const st = statSync(join(target, file.path));
    if (!st.isFile()) return `${file.path}: restored as something other than a regular file`;
    if (st.size !== file.size) return `${file.path}: restored with ${st.size} bytes, the snapshot lists ${file.size}`;
    return undefined;
  } catch {
    return `${file.path}: missing after the restore`;
  }
}

async function sha256OfFile(path: string): Promise<string> {
  const hash = createHash('sha256');
  await pipeline(createReadStream(path), hash);
  return hash.digest('hex');
}

// Wildcards in a file name must match only themselves in an --include pattern.
const literalPattern = (path: string) => path.replace(/[\\*?[\]]/g, '\\$&');

export async function restoreDrill(ctx: ResticContext): Promise<OperationOutcome> {
  const { run: listing, snapshots } = await jobSnapshots(ctx);
  if (listing.result.exitCode !== 0) return resticOutcome('snapshots', listing);
  const snapshot = snapshots[0];
  if (!snapshot) return { status: 'failure', exitCode: null, error: 'the repository holds no snapshot of this job to restore' };
  const target = join(ctx.scratchDir, 'restore');
  const sampleSize = ctx.options.restoreSample;
  const reservoir = new Reservoir(sampleSize ?? HASHED_IN_FULL_RESTORE);
  // Only the first problems are kept: a broken restore can have millions.
  const problems: string[] = [];
  let problemCount = 0;
  const problem = (text: string) => {
    if (problemCount++ < 100) problems.push(text);
  };
  let files = 0;
  let bytes = 0;
  const check = (file: FileEntry) => {
    files++;
    bytes += file.size;
    const p = problemWith(target, file);
    if (p) problem(p);
  };

  if (sampleSize) {
    const ls = await listFiles(ctx, snapshot.id, (f) => reservoir.add(f));
    if (ls.result.exitCode !== 0) return resticOutcome('ls', ls);
    if (reservoir.items.length === 0) return { status: 'failure', exitCode: null, error: `snapshot ${snapshot.shortId} holds no regular file to restore` };
    ctx.tail.line(`[lifeline] restoring ${reservoir.items.length} sampled file(s) of snapshot ${snapshot.shortId} (${snapshot.time})`);
    const includes = reservoir.items.map((f) => `--include=${literalPattern(f.path)}`);
    const restore = await restic(ctx, ['restore', snapshot.id, `--target=${target}`, ...includes]);
    if (restore.result.exitCode !== 0) return resticOutcome('restore', restore);
    reservoir.items.forEach(check);
  } else {
    ctx.tail.line(`[lifeline] restoring snapshot ${snapshot.shortId} (${snapshot.time})`);
    const restore = await restic(ctx, ['restore', snapshot.id, `--target=${target}`]);
    if (restore.result.exitCode !== 0) return resticOutcome('restore', restore);
    const ls = await listFiles(ctx, snapshot.id, (f) => {
      check(f);
      reservoir.add(f);
    });
    if (ls.result.exitCode !== 0) return resticOutcome('ls', ls);
    if (files === 0) return { status: 'failure', exitCode: null, error: `snapshot ${snapshot.shortId} holds no regular file to restore` };
  }

  for (const file of reservoir.items) {
    if (problems.some((p) => p.startsWith(`${file.path}:`))) continue;
    const hash = createHash('sha256');
    const dump = await restic(ctx, ['dump', snapshot.id, file.path], { tailStdout: false, onStdout: (c) => hash.update(c) });
    if (dump.result.exitCode !== 0) return resticOutcome('dump', dump);
    if ((await sha256OfFile(join(target, file.path))) !== hash.digest('hex')) problem(`${file.path}: restored content differs from restic dump`);
  }

  const numbers = { files, bytesTotal: bytes, snapshotId: snapshot.shortId };
  for (const p of problems.slice(0, 20)) ctx.tail.line(`[lifeline] ${p}`);
  if (problemCount > 0) {
    const more = problemCount > 1 ? ` (and ${problemCount - 1} more problem(s))` : '';
    return { status: 'failure', exitCode: null, error: `restore drill: ${problems[0]}${more}`, ...numbers };
  }
  ctx.tail.line(`[lifeline] restore drill passed: ${files} file(s), ${bytes} bytes checked; ${reservoir.items.length} compared by SHA-256 with restic dump`);
  return { status: 'success', exitCode: 0, ...numbers };
}
