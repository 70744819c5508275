import { createHash } from 'node:crypto';
import { createReadStream, lstatSync, readdirSync, statSync, type Stats } from 'node:fs';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { client, clientOutcome, requireSnapshots } from './pbs-client';
import { backupGroup, type PbsArchive, type PbsContext } from './pbs-options';
import type { PbsSnapshot } from './pbs-output';
import type { OperationOutcome } from './types';

// The restore drill: one archive of the job's newest snapshot (a different one from drill to
// drill, picked from the snapshot's name, so the same snapshot always gives the same archive),
// restored with `proxmox-backup-client restore SNAPSHOT ARCHIVE TARGET` into the scratch
// directory and held against the live source. The live files changed since the snapshot cannot
// be judged and are left out: a file whose ctime is before the snapshot's time was not touched
// since it was read (content, size, rename and mode changes all move ctime). Every such file
// must have come back with its size; a sample of them is compared by SHA-256.

/** Live files compared by content (the others by size). */
const HASHED = 5;

/** FNV-1a: a stable spread of snapshot names over the archives. */
function fnv1a(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193) >>> 0;
  return h;
}

/**
 * The archive a drill of `snapshot` restores: one of the job's archives the snapshot holds,
 * chosen by the snapshot's name, so successive snapshots spread the drills over all archives
 * and a repeated drill of one snapshot restores the same archive again.
 */
export function pickArchive(snapshot: Pick<PbsSnapshot, 'path' | 'archives'>, archives: readonly PbsArchive[]): PbsArchive | undefined {
  const present = archives.filter((a) => snapshot.archives.some((f) => f.name === a.archive));
  return present.length ? present[fnv1a(snapshot.path) % present.length] : undefined;
}

/** Where the drill puts an archive: a directory for pxar, a file for an image. */
export const drillTarget = (scratchDir: string, a: PbsArchive): string => join(scratchDir, a.type === 'img' ? `${a.name}.img` : a.name);

async function sha256(path: string): Promise<string> {
  const hash = createHash('sha256');
  await pipeline(createReadStream(path), hash);
  return hash.digest('hex');
}

const statOrNull = (path: string): Stats | null => {
  try {
    return lstatSync(path);
  } catch {
    return null;
  }
};

/**
 * Regular files below `root`, relative path handed to `onFile` with its lstat: one directory at a
 * time, never the whole tree in memory. With `sameDevice`, mount points below are not entered
 * (the client backs up one file system unless told `--all-file-systems`). `onExcludes` hears of
 * directories holding a `.pxarexclude`, whose patterns the client honours.
 */
function walk(root: string, onFile: (rel: string, st: Stats) => void, opts: { sameDevice?: boolean; onExcludes?: (rel: string) => void } = {}): void {
  const dev = statSync(root).dev;
  const dirs = [''];
  while (dirs.length) {
    const rel = dirs.pop()!;
    let entries;
    try {
      entries = readdirSync(join(root, rel), { withFileTypes: true });
    } catch {
      continue; // unreadable: the file checks below say what is missing
    }
    for (const e of entries) {
      const r = rel ? `${rel}/${e.name}` : e.name;
      if (e.name === '.pxarexclude') opts.onExcludes?.(rel);
      if (e.isDirectory()) {
        if (opts.sameDevice && statOrNull(join(root, r))?.dev !== dev) continue;
        dirs.push(r);
      } else if (e.isFile()) {
        const st = statOrNull(join(root, r));
        if (st) onFile(r, st);
      }
    }
  }
}

class Problems {
  readonly first: string[] = [];
  count = 0;
  add(text: string): void {
    if (this.count++ < 100) this.first.push(text);
  }
}

interface Checked {
  files: number;
  bytes: number;
  /** What the log says was compared. */
  summary: string;
  /** Nothing could be compared against the live source. */
  nothingCompared?: string;
}

/** A pxar archive restored into `target`, against the live directory `source`. */
async function checkDirectory(target: string, source: string, since: number, problems: Problems): Promise<Checked> {
  let files = 0;
  let bytes = 0;
  walk(target, (_rel, st) => {
    files++;
    bytes += st.size;
  });
  if (!statOrNull(source)?.isDirectory()) {
    return { files, bytes, summary: `${files} file(s) restored`, nothingCompared: `the live source ${source} is gone, nothing to compare with` };
  }
  let live = 0;
  let unchanged = 0;
  const excluded: string[] = [];
  const sample: string[] = [];
  walk(
    source,
    (rel, st) => {
      live++;
      if (st.ctimeMs >= since) return;
      unchanged++;
      const back = statOrNull(join(target, rel));
      if (!back) {
        if (!excluded.some((d) => d === '' || rel.startsWith(`${d}/`))) problems.add(`${rel}: missing from the restored archive (the live file is unchanged since the snapshot)`);
        return;
      }
      if (!back.isFile()) problems.add(`${rel}: restored as something other than a regular file`);
      else if (back.size !== st.size) problems.add(`${rel}: restored with ${back.size} bytes, the live file (unchanged since the snapshot) has ${st.size}`);
      // A uniform sample of the files that came back with the right size.
      else if (sample.length < HASHED) sample.push(rel);
      else {
        const j = Math.floor(Math.random() * unchanged);
        if (j < HASHED) sample[j] = rel;
      }
    },
    { sameDevice: true, onExcludes: (d) => excluded.push(d) },
  );
  for (const rel of sample) {
    if ((await sha256(join(target, rel))) !== (await sha256(join(source, rel)))) problems.add(`${rel}: restored content differs from the live file (unchanged since the snapshot)`);
  }
  const summary = `${files} file(s) restored; live: ${live} file(s), ${unchanged} unchanged since the snapshot, checked by size, ${sample.length} by SHA-256${excluded.length ? '; .pxarexclude patterns honoured by the client: unchanged files missing below them not counted' : ''}`;
  if (unchanged === 0) {
    const why = live === 0 ? `${source} holds no file now` : `every live file of ${source} changed since the snapshot`;
    return { files, bytes, summary, nothingCompared: `${why}, nothing to compare with` };
  }
  return { files, bytes, summary };
}

/** An image archive restored into `target`: its size as the snapshot lists it, its content against an unchanged live image file. */
async function checkImage(target: string, source: string, listed: number | undefined, since: number, problems: Problems): Promise<Checked> {
  const back = statOrNull(target);
  if (!back?.isFile()) {
    problems.add(`${target}: the image did not come back as a file`);
    return { files: 0, bytes: 0, summary: 'nothing restored' };
  }
  if (listed !== undefined && back.size !== listed) problems.add(`image restored with ${back.size} bytes, the snapshot lists ${listed}`);
  const live = (() => {
    try {
      return statSync(source);
    } catch {
      return null;
    }
  })();
  if (!live?.isFile()) {
    // A block device's content moves on with every write; its size is the snapshot's to judge.
    return { files: 1, bytes: back.size, summary: `image of ${back.size} bytes restored${listed !== undefined ? ', size as listed' : ''}`, ...(listed === undefined ? { nothingCompared: `the image's size is not listed and ${source} is no image file to compare with` } : {}) };
  }
  if (live.ctimeMs >= since) return { files: 1, bytes: back.size, summary: `image of ${back.size} bytes restored`, ...(listed === undefined ? { nothingCompared: `${source} changed since the snapshot, nothing to compare with` } : {}) };
  if (live.size !== back.size) problems.add(`image restored with ${back.size} bytes, the live file (unchanged since the snapshot) has ${live.size}`);
  else if ((await sha256(target)) !== (await sha256(source))) problems.add('restored image content differs from the live file (unchanged since the snapshot)');
  return { files: 1, bytes: back.size, summary: `image of ${back.size} bytes restored, compared by SHA-256 with ${source}` };
}

export async function restoreDrill(ctx: PbsContext): Promise<OperationOutcome> {
  const snapshots = await requireSnapshots(ctx);
  if (!Array.isArray(snapshots)) return snapshots;
  const snapshot = snapshots[0];
  if (!snapshot) return { status: 'failure', exitCode: null, error: `the datastore holds no snapshot of group ${backupGroup(ctx.options)} to restore` };
  const archive = pickArchive(snapshot, ctx.options.archives);
  if (!archive) {
    const wanted = ctx.options.archives.map((a) => a.archive).join(', ');
    return { status: 'failure', exitCode: null, snapshotId: snapshot.path, error: `snapshot ${snapshot.path} holds none of the job's archives (${wanted})` };
  }
  const target = drillTarget(ctx.scratchDir, archive);
  ctx.tail.line(`[lifeline] restoring archive ${archive.archive} (of ${ctx.options.archives.length}) of snapshot ${snapshot.path} into the scratch directory`);
  const started = performance.now();
  const keyfile = ctx.options.encryptionKeyFile ? ['--keyfile', ctx.options.encryptionKeyFile] : [];
  const run = await client(ctx, ['restore', snapshot.path, archive.archive, target, ...keyfile]);
  if (run.result.exitCode !== 0 || run.result.timedOut) return { ...clientOutcome('restore', run), snapshotId: snapshot.path };

  const problems = new Problems();
  const since = snapshot.time * 1000;
  const listed = snapshot.archives.find((f) => f.name === archive.archive)?.size;
  const checked = archive.type === 'pxar' ? await checkDirectory(target, archive.source, since, problems) : await checkImage(target, archive.source, listed, since, problems);
  const durationMs = Math.round(performance.now() - started);
  const numbers = { files: checked.files, bytesTotal: checked.bytes, snapshotId: snapshot.path, durationMs };
  for (const p of problems.first.slice(0, 20)) ctx.tail.line(`[lifeline] ${p}`);
  ctx.tail.line(`[lifeline] ${archive.archive}: ${checked.summary}`);
  if (problems.count > 0) {
    const more = problems.count > 1 ? ` (and ${problems.count - 1} more problem(s))` : '';
    return { status: 'failure', exitCode: null, error: `restore drill of ${archive.archive} from ${snapshot.path}: ${problems.first[0]}${more}`, ...numbers };
  }
  if (checked.nothingCompared) return { status: 'warning', exitCode: 0, error: `restore drill of ${archive.archive} from ${snapshot.path}: restored, but ${checked.nothingCompared}`, ...numbers };
  ctx.tail.line(`[lifeline] restore drill passed in ${durationMs} ms`);
  return { status: 'success', exitCode: 0, ...numbers };
}
