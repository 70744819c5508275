import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { syncConfigAgents } from '../collector/agents';
import { createGroupCommit } from '../collector/ingest';
import { newRunId } from '../shared/run-id';
import { TestAgent, run, tempDb } from './collector-helpers';

// Another connection (the evaluation worker, a CLI command) may hold the write lock when a batch
// arrives. The group commit takes the lock before it reads: a deferred transaction would read
// first, wait for the lock, and then fail with SQLITE_BUSY (its snapshot is behind the other
// connection's commit) instead of storing the batch. The other connection is a real second
// process holding a write transaction for 300 ms.

const HOLDER = `
const Database = require('better-sqlite3');
const db = new Database(process.argv[1]);
db.pragma('busy_timeout = 5000');
db.exec('BEGIN IMMEDIATE');
db.prepare('UPDATE agents SET hostname = ?').run('written by the other connection');
console.log('locked');
setTimeout(() => { db.exec('COMMIT'); console.log('committed'); db.close(); }, 300);
`;

test('a batch arriving while another process holds the write lock waits for it and is stored', async () => {
  const agent = new TestAgent();
  const { db, file } = tempDb();
  syncConfigAgents(db, [{ name: agent.name, publicKey: agent.publicKey }], 0);
  const agentId = (db.prepare('SELECT id FROM agents').get() as { id: number }).id;
  const store = createGroupCommit(db);

  // From the checkout's root, where better-sqlite3 is installed.
  const holder = spawn(process.execPath, ['-e', HOLDER, file], { cwd: fileURLToPath(new URL('..', import.meta.url)), stdio: ['ignore', 'pipe', 'inherit'] });
  const exited = once(holder, 'exit'); // listened to from the start: 'exit' may come before the last line is read
  const lines = createInterface({ input: holder.stdout! })[Symbol.asyncIterator]();
  assert.equal((await lines.next()).value, 'locked');

  const receivedAt = Date.parse('2025-01-03T00:00:00Z');
  const runId = newRunId();
  const ack = await store(agentId, [agent.msg(run('etc', runId), new Date(receivedAt - 1000))], receivedAt);
  assert.deepEqual(ack, { accepted: 1, duplicates: 0 });
  assert.equal((await lines.next()).value, 'committed');
  const [code] = await exited;
  assert.equal(code, 0);

  // Both writes are there: the other connection's and the batch.
  assert.equal((db.prepare('SELECT hostname FROM agents').get() as { hostname: string }).hostname, 'written by the other connection');
  assert.equal((db.prepare('SELECT count(*) AS n FROM runs WHERE run_id = ?').get(runId) as { n: number }).n, 1);
  db.close();
});
