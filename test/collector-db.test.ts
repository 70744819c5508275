import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import Database from 'better-sqlite3';
import { openDb } from '../collector/db';
import { SCHEMA_VERSION } from '../collector/migrations';
import { tempDir } from './collector-helpers';

test('openDb creates the directory and the database in WAL mode at the latest schema', () => {
  const file = join(tempDir(), 'var', 'lib', 'lifeline.db');
  const db = openDb(file);
  assert.ok(existsSync(file));
  assert.equal(db.pragma('journal_mode', { simple: true }), 'wal');
  assert.equal(db.pragma('user_version', { simple: true }), SCHEMA_VERSION);
  assert.ok(Number(db.pragma('busy_timeout', { simple: true })) > 0);
  db.close();
});

test('reopening a database applies no migration twice and keeps its data', () => {
  const file = join(tempDir(), 'lifeline.db');
  const db = openDb(file);
  db.prepare(`INSERT INTO agents (name, public_key, source, created_at) VALUES ('pve1', 'k', 'config', 0)`).run();
  db.close();
  const again = openDb(file);
  assert.equal(again.pragma('user_version', { simple: true }), SCHEMA_VERSION);
  assert.equal(again.prepare('SELECT count(*) FROM agents').pluck().get(), 1);
  again.close();
});

test('a database from a newer collector is refused instead of being modified', () => {
  const file = join(tempDir(), 'lifeline.db');
  const raw = new Database(file);
  raw.pragma(`user_version = ${SCHEMA_VERSION + 1}`);
  raw.close();
  assert.throws(() => openDb(file), /newer than this collector/);
});
