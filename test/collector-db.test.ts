import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import Database from 'better-sqlite3';
import { openDb } from '../collector/db';
import { migrate, SCHEMA_VERSION } from '../collector/migrations';
import { databaseAt, tempDir } from './collector-helpers';

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

test('migration 16 stores listings last in their rows and gives those stored before migration 7 their times', () => {
  const db = databaseAt(15);
  const storedAt = Date.parse('2025-01-03T00:00:00Z');
  const insert = db.prepare('INSERT INTO inventory (agent_id, job, target, snapshots, times, verified, seq, updated_at) VALUES (1, ?, ?, ?, ?, ?, 7, ?)');
  const listing = JSON.stringify([{ id: 'a', time: '2025-01-01T00:00:00Z' }, { id: 'b', time: '2025-01-05T00:00:00Z' }]);
  insert.run('new', 'usb', listing, '[1,2]', 'of', storedAt);
  insert.run('old', 'usb', listing, null, null, storedAt); // before migration 7: no times
  insert.run('unreadable', 'usb', '[{"id": "a"', null, null, storedAt);
  migrate(db);
  const columns = (db.prepare(`SELECT name FROM pragma_table_info('inventory')`).pluck().all() as string[]);
  assert.equal(columns.at(-1), 'snapshots', 'the listing last: the columns before it are read without it');
  assert.deepEqual(db.prepare('SELECT job, target, seq, updated_at AS updatedAt, times, verified, snapshots = ? AS kept FROM inventory ORDER BY job').all(listing), [
    { job: 'new', target: 'usb', seq: 7, updatedAt: storedAt, times: '[1,2]', verified: 'of', kept: 1 },
    // As ingest stores them: a time after the listing was stored is capped at that.
    { job: 'old', target: 'usb', seq: 7, updatedAt: storedAt, times: JSON.stringify([Date.parse('2025-01-01T00:00:00Z'), storedAt]), verified: null, kept: 1 },
    { job: 'unreadable', target: 'usb', seq: 7, updatedAt: storedAt, times: '[]', verified: null, kept: 0 },
  ]);
  assert.throws(() => db.prepare(`INSERT INTO inventory (agent_id, job, target, snapshots, seq, updated_at) VALUES (1, 'x', 'usb', '[]', 1, 0)`).run(), /NOT NULL/);
});
