import { datedName, fileIn, newestFile } from './shell';
import type { RunbookInput } from './types';

// What the dump-writing drivers (postgres, mysql, mongodb, paths) share: their files are
// `<job>-<YYYYMMDDTHHMMSSZ>.<ext>` in one directory, and the inventory names them.

export type Compression = 'zstd' | 'gzip' | 'none';

/** How a dump is compressed, from its name (the job's config may have changed since). */
export const compressionOf = (name: string): Compression => (name.endsWith('.zst') ? 'zstd' : name.endsWith('.gz') ? 'gzip' : 'none');

/** The job's configured compression: a fact, so anything else falls back to the driver's default. */
export const compressionFact = (value: string | undefined, fallback: Compression): Compression =>
  value === 'zstd' || value === 'gzip' || value === 'none' ? value : fallback;

/** Its decompressor writing to stdout, for a pipe. */
export const DECOMPRESS: Record<Exclude<Compression, 'none'>, string> = { zstd: 'zstd -dc', gzip: 'gzip -dc' };

/** A shell word for the dump to restore: the inventory's newest, else the newest in `dir` when the command runs. */
export function dumpWord(dir: string, { job, snapshot }: RunbookInput, ext: string): string {
  return snapshot ? fileIn(dir, snapshot.id) : newestFile(dir, datedName(job, ext));
}

/** The extension the job writes now, for a compression. */
export const extFor = (base: string, how: Compression) => (how === 'none' ? base : `${base}.${how === 'zstd' ? 'zst' : 'gz'}`);
