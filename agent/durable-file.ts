import { closeSync, fsyncSync, openSync, renameSync, unlinkSync, writeSync } from 'node:fs';

// Every file the agent writes goes through here, so a nearly full disk can never leave a file
// that looks complete but is cut short: write(2) may write fewer bytes than asked without any
// error (the last free blocks of a filesystem), and only the next call says ENOSPC.

/** Writes all of `data` at the file's position, or throws (ENOSPC, EIO…); never returns short. */
export function writeFully(fd: number, data: string | Uint8Array): void {
  const buf = typeof data === 'string' ? Buffer.from(data) : data;
  let off = 0;
  while (off < buf.byteLength) {
    const n = writeSync(fd, buf, off, buf.byteLength - off);
    // A zero-byte write of a non-empty buffer makes no progress: treat it as the disk being full.
    if (n <= 0) throw Object.assign(new Error(`ENOSPC: no space left on device, write`), { code: 'ENOSPC', errno: -28, syscall: 'write' });
    off += n;
  }
}

export interface AtomicOptions {
  mode?: number;
  /** fsync the file before it replaces the old one (default true). */
  fsync?: boolean;
}

/**
 * Replaces `path` with `data` atomically: a temp file beside it, written in full (and fsynced),
 * then renamed over it. On any failure the temp file is removed and `path` is untouched. The
 * directory fsync is left to the caller (one per batch of renames).
 */
export function writeFileAtomic(path: string, data: string | Uint8Array, opts: AtomicOptions = {}): void {
  const tmp = `${path}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`;
  let fd: number | null = openSync(tmp, 'wx', opts.mode ?? 0o600);
  try {
    writeFully(fd, data);
    if (opts.fsync !== false) fsyncSync(fd);
    closeSync(fd);
    fd = null;
    renameSync(tmp, path);
  } catch (err) {
    if (fd !== null) closeQuiet(fd);
    unlinkQuiet(tmp);
    throw err;
  }
}

export function unlinkQuiet(path: string): void {
  try {
    unlinkSync(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
}

function closeQuiet(fd: number): void {
  try {
    closeSync(fd);
  } catch {
    /* already failing: the original error is the one to report */
  }
}

const NO_SPACE = new Set(['ENOSPC', 'EDQUOT']);

/** The filesystem (or the user's quota) is full. */
export function isNoSpace(err: unknown): boolean {
  return NO_SPACE.has((err as NodeJS.ErrnoException)?.code ?? '');
}

export function isMissing(err: unknown): boolean {
  return (err as NodeJS.ErrnoException)?.code === 'ENOENT';
}

/** A filesystem error in words an operator acts on: what could not be written, where, and why. */
export function describeFsError(err: unknown, where: string): string {
  const code = (err as NodeJS.ErrnoException)?.code;
  switch (code) {
    case 'ENOSPC':
      return `no space left on the filesystem holding ${where}`;
    case 'EDQUOT':
      return `the disk quota is exhausted for ${where}`;
    case 'EROFS':
      return `the filesystem holding ${where} is read-only`;
    case 'EACCES':
    case 'EPERM':
      return `permission denied writing ${where}`;
    case 'ENOENT':
      return `${where} does not exist (was it removed?)`;
    case 'EIO':
      return `I/O error writing ${where} (check the disk: dmesg, smartctl)`;
    default:
      return `${(err as Error)?.message ?? String(err)} (${where})`;
  }
}
