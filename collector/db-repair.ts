import { spawn } from 'node:child_process';
import { existsSync, renameSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import Database from 'better-sqlite3';
import { DbError, inspectDbFile, recoveryAdvice, sqliteCode, type Db, type StorageFailure } from './db';

// Checking and repairing the database file.
//
// The start check: PRAGMA quick_check (every page's b-tree structure, not index contents) in a
// child process on a read-only connection, so it can be cut off, never writes, and leaves
// serve's own connection with a cold cache. `serve` waits for it a bounded time
// (START_CHECK_WAIT_MS): damage found by then stops the start; a check still running after that
// reports to /healthz when it ends. On the shared 2-core test machine, quick_check of the evaluate
// benchmark's database (1,000,000 runs, 229 MB) takes 0.4 s with the file in the page cache and
// 4.2 s read from disk (integrity_check, which also compares indexes with tables: 1.4 s warm).
//
// Recovery (`lifeline-collector db recover`): every row still readable, copied table by table
// into a new file. SQLite's own `.recover` needs the sqlite_dbpage table, which neither Debian
// 12's sqlite3 nor better-sqlite3 is built with, and `.dump` ends a damaged dump in ROLLBACK and
// drops the schema version; so the copy is made here, the way `.dump` reads a damaged table:
// forwards until the damage, then backwards from the end.

export const START_CHECK_WAIT_MS = 10_000;
/** At most this many problems are listed (quick_check stops there). */
const MAX_PROBLEMS = 10;

export type CheckResult =
  | { ok: true; ms: number }
  | { ok: false; problems: string[]; ms: number }
  /** The check could not run (a lock, an I/O error…): opening the database reports the real cause. */
  | { ok: null; error: string };

export interface DbCheck {
  done: Promise<CheckResult>;
  /** Ends a check still running (at shutdown). */
  cancel(): void;
}

// Plain CommonJS for `node -e`: needs neither tsx nor the bundle, only the native driver.
const CHILD = `
const [file, driver, max] = process.argv.slice(1);
let out;
try {
  const Database = require(driver);
  const db = new Database(file, { readonly: true, fileMustExist: true });
  try {
    db.pragma('busy_timeout = 5000');
    const started = Date.now();
    const rows = db.prepare('PRAGMA quick_check(' + Number(max) + ')').pluck().all();
    out = { ok: rows.length === 1 && rows[0] === 'ok', problems: rows, ms: Date.now() - started };
  } finally {
    db.close();
  }
} catch (err) {
  out = { error: { code: err.code, message: err.message } };
}
process.stdout.write(JSON.stringify(out));
`;

/** Starts PRAGMA quick_check of `file` (which must exist) in a child process. */
export function checkDatabase(file: string): DbCheck {
  const driver = createRequire(import.meta.url).resolve('better-sqlite3');
  const child = spawn(process.execPath, ['-e', CHILD, file, driver, String(MAX_PROBLEMS)], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  const done = new Promise<CheckResult>((resolve) => {
    child.on('error', (err) => resolve({ ok: null, error: err.message }));
    child.on('close', (code, signal) => {
      let out: { ok?: boolean; problems?: string[]; ms?: number; error?: { code?: string; message: string } };
      try {
        out = JSON.parse(stdout);
      } catch {
        return resolve({ ok: null, error: signal ? `quick_check ended by ${signal}` : `quick_check exited ${code}: ${stderr.trim().slice(-500)}` });
      }
      if (out.error) {
        // Damage found while opening (schema pages) is damage; other errors are the open's to report.
        const damaged = out.error.code === 'SQLITE_NOTADB' || out.error.code?.startsWith('SQLITE_CORRUPT');
        return resolve(damaged ? { ok: false, problems: [out.error.message], ms: 0 } : { ok: null, error: out.error.message });
      }
      resolve(out.ok ? { ok: true, ms: out.ms! } : { ok: false, problems: out.problems!, ms: out.ms! });
    });
  });
  return {
    done,
    cancel: () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    },
  };
}

/** What a failed check tells the operator: the file, what quick_check found, what to do. */
export function damagedMessage(file: string, problems: readonly string[]): string {
  const shown = problems.slice(0, 3).map((p) => `  ${p}`).join('\n');
  const more = problems.length > 3 ? `\n  … (${problems.length - 3} more${problems.length >= MAX_PROBLEMS ? ' at least' : ''})` : '';
  return `${file} is damaged: PRAGMA quick_check found:\n${shown}${more}\n${recoveryAdvice(file)}`;
}

export function damagedFailure(file: string, problems: readonly string[]): StorageFailure {
  return { kind: 'damaged', code: 'SQLITE_CORRUPT', reason: `${file} is damaged (PRAGMA quick_check: ${problems[0]})`, clears: 'restart' };
}

/**
 * Runs the start check of an existing database, waiting at most `waitMs`: throws a DbError
 * when it found damage in time; otherwise returns the check (pending, or done and fine).
 */
export async function checkAtStart(file: string, waitMs = START_CHECK_WAIT_MS): Promise<{ check: DbCheck; finished: boolean }> {
  const check = checkDatabase(file);
  let timer: NodeJS.Timeout | undefined;
  const result = await Promise.race([check.done, new Promise<null>((r) => (timer = setTimeout(() => r(null), waitMs)))]);
  clearTimeout(timer);
  if (result && result.ok === false) throw new DbError(damagedMessage(file, result.problems));
  return { check, finished: result !== null };
}

type Out = { out: (text: string) => void; err: (text: string) => void };

/** `lifeline-collector db check [FILE]`: quick_check, unbounded; exit 0 when it passes. */
export async function dbCheck(file: string, io: Out): Promise<number> {
  inspectDbFile(file, { forWriting: false });
  const result = await checkDatabase(file).done;
  if (result.ok === null) throw new DbError(`cannot check ${file}: ${result.error}`);
  if (result.ok === false) {
    io.err(`${damagedMessage(file, result.problems)}\n`);
    return 1;
  }
  io.out(`OK: ${file} passed PRAGMA quick_check (${result.ms} ms)\n`);
  return 0;
}

export interface Recovered {
  version: number;
  tables: { name: string; rows: number; complete: boolean }[];
  /** Indexes, triggers or views that could not be created again over the rows recovered. */
  skipped: string[];
}

/** `lifeline-collector db recover [FILE [NEW]]`: writes what is readable of FILE into NEW and says what was lost. */
export function dbRecover(file: string, to: string, io: Out): number {
  inspectDbFile(file, { forWriting: false });
  const r = recoverDatabase(file, to);
  for (const t of r.tables) io.err(`${t.name}: ${t.rows} rows${t.complete ? '' : ', some lost (damaged pages)'}\n`);
  for (const s of r.skipped) io.err(`not recreated: ${s}\n`);
  const lost = r.tables.filter((t) => !t.complete).length;
  io.out(
    `Recovered ${file} into ${to} (schema ${r.version}; ${lost === 0 ? 'every row was readable' : `rows lost in ${lost} table(s)`}).\n` +
      `With the collector stopped, put it in place of the damaged files (see step 2 of the advice the collector printed, or the README), then start the collector.\n`,
  );
  return 0;
}

const quote = (name: string) => `"${name.replace(/"/g, '""')}"`;
const isDamage = (err: unknown) => {
  const code = sqliteCode(err);
  return code === 'SQLITE_NOTADB' || (code?.startsWith('SQLITE_CORRUPT') ?? false);
};

/** Copies every readable row of `from` into a new database `to` (which must not exist), with the schema and its version. */
export function recoverDatabase(from: string, to: string): Recovered {
  if (existsSync(to)) throw new DbError(`${to} already exists: remove it or name another file to recover into`);
  const src = new Database(from, { readonly: true, fileMustExist: true });
  const partial = `${to}.partial-${process.pid}`;
  rmSync(partial, { force: true });
  try {
    let schema: { type: string; name: string; sql: string }[];
    let version: number;
    try {
      schema = src.prepare(`SELECT type, name, sql FROM sqlite_schema WHERE sql IS NOT NULL ORDER BY rowid`).all() as typeof schema;
      version = src.pragma('user_version', { simple: true }) as number;
    } catch (err) {
      throw new DbError(`cannot read the schema of ${from} (${(err as Error).message}): nothing can be recovered from it; restore a copy of it instead`);
    }
    const dst = new Database(partial);
    const result: Recovered = { version, tables: [], skipped: [] };
    try {
      dst.exec('BEGIN');
      const tables = schema.filter((s) => s.type === 'table' && !s.name.startsWith('sqlite_'));
      for (const t of tables) dst.exec(t.sql);
      for (const t of tables) result.tables.push({ name: t.name, ...copyRows(src, dst, t.name) });
      copySequences(src, dst);
      for (const s of schema.filter((s) => s.type !== 'table')) {
        try {
          dst.exec(s.sql);
        } catch (err) {
          result.skipped.push(`${s.type} ${s.name}: ${(err as Error).message}`);
        }
      }
      dst.pragma(`user_version = ${version}`);
      dst.exec('COMMIT');
    } finally {
      dst.close();
    }
    renameSync(partial, to);
    return result;
  } finally {
    src.close();
    rmSync(partial, { force: true });
  }
}

/** Rows of one table: forwards until a damaged page, then backwards from the end until one. */
function copyRows(src: Db, dst: Db, table: string): { rows: number; complete: boolean } {
  const columns = src.prepare(`SELECT name, pk FROM pragma_table_info(?)`).all(table) as { name: string; pk: number }[];
  const names = columns.map((c) => quote(c.name)).join(', ');
  const insert = dst.prepare(`INSERT OR IGNORE INTO ${quote(table)} (${names}) VALUES (${columns.map(() => '?').join(', ')})`);
  let key = ['rowid'];
  try {
    src.prepare(`SELECT rowid FROM ${quote(table)} LIMIT 0`);
  } catch {
    // WITHOUT ROWID: in primary key order.
    key = columns.filter((c) => c.pk > 0).sort((a, b) => a.pk - b.pk).map((c) => quote(c.name));
  }
  let rows = 0;
  const pass = (order: string): boolean => {
    try {
      const select = src.prepare(`SELECT ${names} FROM ${quote(table)} ORDER BY ${key.map((k) => `${k} ${order}`).join(', ')}`).raw();
      for (const row of select.iterate()) rows += insert.run(...(row as unknown[])).changes;
      return true;
    } catch (err) {
      if (!isDamage(err)) throw err;
      return false;
    }
  };
  if (pass('ASC')) return { rows, complete: true };
  pass('DESC');
  return { rows, complete: false };
}

/** AUTOINCREMENT counters, so ids of deleted rows are not handed out again. */
function copySequences(src: Db, dst: Db): void {
  let seqs: { name: string; seq: number }[];
  try {
    seqs = src.prepare('SELECT name, seq FROM sqlite_sequence').all() as typeof seqs;
  } catch {
    return;
  }
  for (const { name, seq } of seqs) {
    try {
      const updated = dst.prepare('UPDATE sqlite_sequence SET seq = max(seq, ?) WHERE name = ?').run(seq, name).changes;
      if (updated === 0) dst.prepare('INSERT INTO sqlite_sequence (name, seq) VALUES (?, ?)').run(name, seq);
    } catch {
      /* no AUTOINCREMENT table in the new database */
    }
  }
}
