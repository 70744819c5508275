import { accessSync, closeSync, constants, existsSync, linkSync, mkdirSync, openSync, readSync, readdirSync, renameSync, rmSync, statSync, statfsSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { threadId } from 'node:worker_threads';
import Database from 'better-sqlite3';
import { fsyncPath } from '../shared/fsync';
import { SCHEMA_VERSION, migrate } from './migrations';
import { shellQuote } from './runbook/shell';

export type Db = Database.Database;

/** A database that cannot be opened; the message names the file, the cause and what to do. */
export class DbError extends Error {
  override name = 'DbError';
}

/** How many `<db>.before-migration-<N>` copies are kept (the newest ones). */
const KEEP_COPIES = 2;
const SQLITE_HEADER = 'SQLite format 3\0';

/**
 * Opens and migrates the collector database. Only a missing file is a first start: the new
 * database is built under a temporary name and linked into place once migrated, so no empty or
 * half-made file is ever left where the database belongs. An existing file that is empty, not a
 * SQLite database, or not writable is refused with a DbError (never initialised over), and
 * pending migrations of an existing database are preceded by a copy of it beside it.
 */
export function openDb(file: string): Db {
  if (file === ':memory:') {
    const db = new Database(file);
    configure(db);
    migrate(db);
    return db;
  }
  return inspectDbFile(file) === 'missing' ? create(file) : open(file);
}

/**
 * Checks what is at `file` without opening it with SQLite: 'missing' (its directory is created
 * and writable) or 'exists' (a non-empty SQLite file the collector can read and write); anything
 * else throws a DbError. Not `forWriting` (checking or recovering a file): it must exist, and
 * need not be writable.
 */
export function inspectDbFile(file: string, { forWriting = true } = {}): 'missing' | 'exists' {
  let st;
  try {
    st = statSync(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new DbError(`cannot open the database ${file}: ${errnoText(err)}`);
    if (!forWriting) throw new DbError(`${file} does not exist`);
    const dir = dirname(file);
    try {
      mkdirSync(dir, { recursive: true, mode: 0o750 });
    } catch (e) {
      throw new DbError(`cannot create ${dir} for the database ${file}: ${errnoText(e)}`);
    }
    const denied = unwritable(file);
    if (denied) throw new DbError(`cannot create the database: ${denied}`);
    return 'missing';
  }
  if (st.isDirectory()) throw new DbError(`${file} is a directory, not a database file: set "database:" in the collector config to a file in it, e.g. ${file}/lifeline.db`);
  if (!st.isFile()) throw new DbError(`${file} is not a regular file, so it cannot be the collector database`);
  if (st.size === 0) throw new DbError(emptyFile(file));
  if (st.size < 100 || readHeader(file) !== SQLITE_HEADER) {
    throw new DbError(`${file} is not a SQLite database: its first bytes are not the SQLite header, so its header is damaged or it is some other file.\n${recoveryAdvice(file, false)}`);
  }
  const denied = forWriting && unwritable(file);
  if (denied) throw new DbError(`${denied}; the collector writes its database even to read it (WAL)`);
  return 'exists';
}

function readHeader(file: string): string {
  let fd;
  try {
    fd = openSync(file, 'r');
  } catch (err) {
    throw new DbError(`cannot read the database ${file}: ${errnoText(err)}`);
  }
  try {
    const buf = Buffer.alloc(SQLITE_HEADER.length);
    readSync(fd, buf, 0, buf.length, 0);
    return buf.toString('latin1');
  } finally {
    closeSync(fd);
  }
}

function emptyFile(file: string): string {
  const copy = migrationCopies(file)[0];
  return (
    `${file} is empty (0 bytes). A first start finds no file there, so this file was truncated or replaced and what the collector stored is not in it; ` +
    `the collector will not initialise a new database over it.\n` +
    (copy ? `Restore the copy made before migration ${copy.migration} (${copy.at.toISOString()}): cp ${copy.path} ${file}, or your own backup; ` : 'Restore your own backup of it, ') +
    `or, to really start over with an empty database, delete ${file}.`
  );
}

/** Pragmas every connection gets. */
function configure(db: Db): void {
  db.pragma('journal_mode = WAL');
  // FULL: an acknowledged batch must survive a power cut, not only a process crash.
  db.pragma('synchronous = FULL');
  // CLI commands (token create, agents) may run while `serve` holds a write transaction.
  db.pragma('busy_timeout = 5000');
  db.pragma('foreign_keys = ON');
  // Fewer, larger WAL checkpoints and a bigger page cache: ingest is write-heavy.
  db.pragma('wal_autocheckpoint = 4000');
  db.pragma('cache_size = -32000');
}

function open(file: string): Db {
  let db: Db;
  try {
    // fileMustExist: if the file went away since it was inspected, this is no first start either.
    db = new Database(file, { fileMustExist: true });
  } catch (err) {
    throw dbFailure(file, err);
  }
  try {
    configure(db);
    copyBeforeMigrating(db, file);
    migrate(db);
  } catch (err) {
    db.close();
    throw dbFailure(file, err);
  }
  return db;
}

/** A first start: migrate a new database under a temporary name, then link it into place. */
function create(file: string): Db {
  const partial = `${file}.new-${process.pid}-${threadId}`;
  removeDbFiles(partial);
  try {
    const db = new Database(partial);
    try {
      // Set before the first table, so pruned history can give its space back (collector/history/vacuum.ts).
      db.pragma('auto_vacuum = INCREMENTAL');
      configure(db);
      migrate(db);
    } finally {
      // Closing the last connection checkpoints the WAL into the file and removes it.
      db.close();
    }
    fsyncPath(partial);
    publish(partial, file);
  } catch (err) {
    throw dbFailure(file, err);
  } finally {
    removeDbFiles(partial);
  }
  return open(file);
}

/** Puts the new database at `file` unless another process (serve and a CLI command at once) got there first. */
function publish(partial: string, file: string): void {
  try {
    linkSync(partial, file);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') return;
    // Filesystems without hard links: a rename, which could replace a database created a moment ago.
    if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'EOPNOTSUPP' && code !== 'ENOSYS') throw err;
    if (inspectDbFile(file) === 'exists') return;
    renameSync(partial, file);
  }
  fsyncPath(dirname(file));
}

function removeDbFiles(base: string): void {
  for (const suffix of ['', '-wal', '-shm', '-journal']) rmSync(base + suffix, { force: true });
}


/**
 * Before applying pending migrations to an existing database, writes a consistent copy of it
 * beside it, `<db>.before-migration-<N>` (N: the first migration about to run), and keeps only
 * the newest KEEP_COPIES copies. A copy that cannot be written stops the start before any change.
 */
function copyBeforeMigrating(db: Db, file: string): void {
  const version = db.pragma('user_version', { simple: true }) as number;
  if (version === 0 || version >= SCHEMA_VERSION) return;
  const copy = `${file}.before-migration-${version + 1}`;
  const partial = `${copy}.partial-${process.pid}-${threadId}`;
  rmSync(partial, { force: true });
  try {
    // A snapshot in one read transaction, compacted; ingest may go on meanwhile (WAL).
    db.prepare('VACUUM INTO ?').run(partial);
    fsyncPath(partial);
    renameSync(partial, copy);
    fsyncPath(dirname(file));
  } catch (err) {
    rmSync(partial, { force: true });
    const cause = storageFailure(file, err)?.reason ?? (err as Error).message;
    throw new DbError(`cannot write ${copy}, the copy of ${file} kept before migrating it from schema ${version} to ${SCHEMA_VERSION}: ${cause}; the database was not changed`);
  }
  for (const old of migrationCopies(file).slice(KEEP_COPIES)) rmSync(old.path, { force: true });
}

/** The error to show when opening, migrating or first writing `file` failed: the file, the cause and, for damage, the repair. */
export function dbFailure(file: string, err: unknown): Error {
  if (err instanceof DbError) return err;
  const failure = storageFailure(file, err);
  if (!failure) return new DbError(`${file}: ${(err as Error).message}`);
  switch (failure.kind) {
    case 'damaged':
      return new DbError(`${failure.reason}.\n${recoveryAdvice(file, failure.code !== 'SQLITE_NOTADB')}`);
    case 'full':
      return new DbError(`${failure.reason}; free some space there, then start the collector again`);
    case 'busy':
      return new DbError(`${failure.reason}; is another collector running on ${basename(file)}?`);
    default:
      return new DbError(failure.reason);
  }
}

// What can be wrong with the database file, found from SQLite's error and the filesystem, and
// worded with the path, the cause and what to do (for openDb's errors and /healthz alike).

/**
 * damaged: SQLITE_CORRUPT / SQLITE_NOTADB, until the collector restarts on a repaired file.
 * full: no space left on the filesystem; unwritable: read-only or no permission;
 * io: another I/O error; busy: another process holds the write lock too long.
 */
export type FailureKind = 'damaged' | 'full' | 'unwritable' | 'io' | 'busy';

export interface StorageFailure {
  kind: FailureKind;
  /** The SQLite (extended) error code. */
  code: string;
  /** One line that names the file and the cause. */
  reason: string;
  /** When the problem is over: free space again, writable again, the next committed write, a while without the error, a restart. */
  clears: 'space' | 'access' | 'write' | 'time' | 'restart';
}

/** Free space below which the filesystem counts as full: SQLite needs room for WAL frames, the -shm index and checkpoints. */
const FULL_BELOW = 1 << 20;

export function sqliteCode(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && code.startsWith('SQLITE_') ? code : undefined;
}

/**
 * Classifies an error of a database call on `file` as a storage failure, looking at the
 * filesystem for the cause SQLite does not tell ("disk I/O error" is often a full disk). Null
 * when the storage is not at fault (a constraint, a closed connection: a bug).
 */
export function storageFailure(file: string, err: unknown): StorageFailure | null {
  const code = sqliteCode(err);
  if (!code) return null;
  const message = (err as Error).message;
  if (code === 'SQLITE_NOTADB') return { kind: 'damaged', code, reason: `${file} is not a SQLite database or its header is damaged (${message})`, clears: 'restart' };
  if (code.startsWith('SQLITE_CORRUPT')) return { kind: 'damaged', code, reason: `${file} is damaged (${message})`, clears: 'restart' };
  if (code === 'SQLITE_FULL' || code.startsWith('SQLITE_IOERR') || code.startsWith('SQLITE_CANTOPEN') || code.startsWith('SQLITE_READONLY') || code === 'SQLITE_PERM') {
    const full = fullDisk(file);
    if (full) return { kind: 'full', code, reason: full, clears: 'space' };
    const denied = unwritable(file);
    if (denied) return { kind: 'unwritable', code, reason: denied, clears: 'access' };
    return { kind: code === 'SQLITE_FULL' ? 'full' : 'io', code, reason: `${file}: ${message} (${code})`, clears: 'write' };
  }
  if (code.startsWith('SQLITE_BUSY')) return { kind: 'busy', code, reason: `${file} is locked by another process (${message})`, clears: 'time' };
  return null;
}

/** "no space left on /x: …" when the filesystem holding `file` is (nearly) full, else null. */
export function fullDisk(file: string): string | null {
  const dir = dirname(resolve(file));
  let free: number;
  try {
    const s = statfsSync(dir);
    free = s.bavail * s.bsize;
  } catch {
    return null;
  }
  if (free >= FULL_BELOW) return null;
  return `no space left on ${mountPoint(dir)}: the filesystem holding ${file} is full (${formatBytes(free)} free)`;
}

/** Why the collector cannot write `file` (or create it, and its -wal and -shm, in its directory), else null. */
export function unwritable(file: string): string | null {
  const dir = dirname(resolve(file));
  try {
    accessSync(file, constants.R_OK | constants.W_OK);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') return `cannot write ${file}: ${errnoText(err)}`;
  }
  try {
    accessSync(dir, constants.W_OK | constants.X_OK);
  } catch (err) {
    return `cannot write in ${dir}, where the collector keeps ${file} and its -wal and -shm files: ${errnoText(err)}`;
  }
  return null;
}

/** "read-only file system" out of "EROFS: read-only file system, access '/x'", with who we are when permission is missing. */
export function errnoText(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  const text = /^E[A-Z]+: ([^,]+)/.exec(e.message)?.[1] ?? e.message;
  if ((e.code === 'EACCES' || e.code === 'EPERM') && process.getuid) return `${text} (the collector runs as uid ${process.getuid()})`;
  return text;
}

/** The mount point of the filesystem holding `path`: the highest ancestor on the same device. */
function mountPoint(path: string): string {
  let dev: number;
  try {
    dev = statSync(path).dev;
  } catch {
    return path;
  }
  let at = path;
  for (;;) {
    const up = dirname(at);
    if (up === at) return at;
    try {
      if (statSync(up).dev !== dev) return at;
    } catch {
      return at;
    }
    at = up;
  }
}

function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1 << 20) return `${(n / 1024).toFixed(0)} KiB`;
  return `${(n / (1 << 20)).toFixed(1)} MiB`;
}

/** The copies openDb writes before migrating (`<db>.before-migration-<N>`), newest (highest N) first. */
export function migrationCopies(file: string): { path: string; migration: number; at: Date }[] {
  const dir = dirname(file);
  const prefix = `${basename(file)}.before-migration-`;
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  return names
    .filter((n) => n.startsWith(prefix) && /^\d+$/.test(n.slice(prefix.length)))
    .map((n) => {
      const path = join(dir, n);
      let at = new Date(0);
      try {
        at = statSync(path).mtime;
      } catch {
        /* removed meanwhile */
      }
      return { path, migration: Number(n.slice(prefix.length)), at };
    })
    .sort((a, b) => b.migration - a.migration);
}

/**
 * What the operator does about a damaged database: the exact commands, with this file's paths.
 * `readable`: SQLite still reads its schema (the header is fine), so its rows can be recovered.
 */
export function recoveryAdvice(file: string, readable = true): string {
  const q = shellQuote;
  const stamp = new Date().toISOString().replace(/[-:]/g, '').replace(/\..*$/, '');
  const aside = `${file}.damaged-${stamp}`;
  const present = [file, `${file}-wal`, `${file}-shm`].filter((f) => existsSync(f));
  const moveAside = `mkdir ${q(aside)} && mv ${(present.length ? present : [file]).map(q).join(' ')} ${q(aside)}/`;
  const recovered = `${file}.recovered`;
  const copy = migrationCopies(file)[0];
  const restore = copy
    ? `restore the copy made before migration ${copy.migration} (${copy.at.toISOString()}; what was stored since then is lost):  ${moveAside} && cp ${q(copy.path)} ${q(file)}`
    : `restore your own backup of it, after moving the damaged files aside:  ${moveAside}`;
  const lines = [
    'The collector stores nothing until the database is repaired; agents keep their reports in their spool meanwhile.',
    'To repair it, with the collector stopped and as the user it runs as:',
  ];
  if (readable) {
    lines.push(
      `  1. copy every row still readable into a new database (it lists what it could not read):  lifeline-collector db recover ${q(file)} ${q(recovered)}`,
      `  2. move the damaged files aside and the new database in their place:  ${moveAside} && mv ${q(recovered)} ${q(file)}`,
      `  or, instead of 1 and 2, ${restore}`,
    );
  } else {
    lines.push(`  ${restore}`);
  }
  lines.push('Then start the collector again: it checks the database before serving (README: "Database damage and recovery").');
  return lines.join('\n');
}

