import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import { migrate } from './migrations';

export type Db = Database.Database;

/** Opens (creating file and directory if needed) and migrates the collector database. */
export function openDb(file: string): Db {
  if (file !== ':memory:') mkdirSync(dirname(file), { recursive: true, mode: 0o750 });
  const db = new Database(file);
  try {
    db.pragma('journal_mode = WAL');
    // FULL: an acknowledged batch must survive a power cut, not only a process crash.
    db.pragma('synchronous = FULL');
    // CLI commands (token create, agents) may run while `serve` holds a write transaction.
    db.pragma('busy_timeout = 5000');
    db.pragma('foreign_keys = ON');
    // Fewer, larger WAL checkpoints and a bigger page cache: ingest is write-heavy.
    db.pragma('wal_autocheckpoint = 4000');
    db.pragma('cache_size = -32000');
    migrate(db);
  } catch (err) {
    db.close();
    throw err;
  }
  return db;
}
