import assert from 'node:assert/strict';
import { test } from 'node:test';
import { collectorConfig, rulesConfig, tierPolicies } from '../collector/config';
import type { Db } from '../collector/db';
import { Evaluator } from '../collector/evaluate/evaluator';
import { TestAgent, catalogJob, hello, testCollector } from './collector-helpers';

// The evaluator writes job_deadlines (each job's stored check_at) only where a pass changed it.
// The table stays right all the same: a job dropped from the catalog, a row changed by someone
// else, a write that failed.

const MINUTE = 60_000;
const DAY = 86_400_000;

function setup(fullEveryMs?: number) {
  const a = new TestAgent('pve1');
  const c = testCollector([a]);
  const cfg = collectorConfig({});
  const evaluator = new Evaluator({ db: c.db, tiers: tierPolicies(cfg), rules: rulesConfig(cfg), channels: [], reminderMs: DAY, flapMs: 0, fullEveryMs });
  const say = async (jobs: ReturnType<typeof catalogJob>[]) => {
    const res = await c.app.inject(a.report({ messages: [a.msg(hello(jobs))] }));
    assert.equal(res.statusCode, 200, res.body);
  };
  return { c, evaluator, say };
}

const deadlines = (db: Db) =>
  Object.fromEntries((db.prepare('SELECT job, check_at AS at FROM job_deadlines ORDER BY job').all() as { job: string; at: number }[]).map((d) => [d.job, d.at]));

/** Counts the rows written to job_deadlines on this connection from now on. */
function countWrites(db: Db): () => number {
  db.exec(`CREATE TEMP TABLE IF NOT EXISTS deadline_writes (n INTEGER);
           CREATE TEMP TRIGGER IF NOT EXISTS dw_i AFTER INSERT ON main.job_deadlines BEGIN INSERT INTO deadline_writes VALUES (1); END;
           CREATE TEMP TRIGGER IF NOT EXISTS dw_u AFTER UPDATE ON main.job_deadlines BEGIN INSERT INTO deadline_writes VALUES (1); END;
           CREATE TEMP TRIGGER IF NOT EXISTS dw_d AFTER DELETE ON main.job_deadlines BEGIN INSERT INTO deadline_writes VALUES (1); END;
           DELETE FROM deadline_writes;`);
  return () => (db.prepare('SELECT count(*) AS n FROM deadline_writes').get() as { n: number }).n;
}

test('a full pass that changes no deadline writes none; a job dropped from the catalog loses its row', async () => {
  const { c, evaluator, say } = setup();
  await say([catalogJob('etc', { schedule: '0 2 * * *' }), catalogJob('pg', { schedule: '0 3 * * *' })]);
  const t = c.clock.now + MINUTE;
  evaluator.pass(t, true);
  const first = deadlines(c.db);
  assert.deepEqual(Object.keys(first), ['etc', 'pg']);
  const writes = countWrites(c.db);
  evaluator.pass(t + MINUTE, true);
  assert.equal(writes(), 0, 'nothing changed, nothing written');
  assert.deepEqual(deadlines(c.db), first);

  await say([catalogJob('etc', { schedule: '0 2 * * *' })]);
  evaluator.pass(t + 2 * MINUTE, true);
  assert.deepEqual(deadlines(c.db), { etc: first.etc });
  assert.equal(writes(), 1, 'one row deleted');
});

test('a deadline changed behind the evaluator is put right by the next full pass', async () => {
  const { c, evaluator, say } = setup();
  await say([catalogJob('etc', { schedule: '0 2 * * *' })]);
  const t = c.clock.now + MINUTE;
  evaluator.pass(t, true);
  const right = deadlines(c.db);
  c.db.prepare('UPDATE job_deadlines SET check_at = ?').run(Number.MAX_SAFE_INTEGER);
  evaluator.pass(t + MINUTE, true);
  assert.deepEqual(deadlines(c.db), right);
});

test('a pass whose deadline write failed is not remembered as written', async () => {
  const { c, evaluator, say } = setup(Infinity); // no hourly full pass: the later passes are incremental
  await say([catalogJob('etc', { schedule: '0 2 * * *' })]);
  evaluator.pass(c.clock.now + MINUTE, true);
  const due = deadlines(c.db).etc;
  // The job comes due; the pass that looks at it moves its deadline, but the write fails once.
  c.db.exec(`CREATE TEMP TRIGGER refuse BEFORE UPDATE ON main.job_deadlines BEGIN SELECT RAISE(ABORT, 'disk says no'); END;`);
  assert.throws(() => evaluator.pass(due + MINUTE), /disk says no/);
  assert.equal(deadlines(c.db).etc, due);
  c.db.exec('DROP TRIGGER refuse');
  const pass = evaluator.pass(due + 2 * MINUTE);
  assert.equal(pass.full, false);
  assert.ok(deadlines(c.db).etc > due + 2 * MINUTE, `the stored deadline moved on (${deadlines(c.db).etc} after ${due})`);
});
