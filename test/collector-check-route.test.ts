import assert from 'node:assert/strict';
import { test } from 'node:test';
import { AGENT_HEADER } from '../shared/protocol-constants';
import { TestAgent, signed, testCollector } from './collector-helpers';

// POST /api/v1/check, the signed no-op behind `lifeline-agent doctor`: authenticated like a
// report, and nothing written.

const body = () => ({ check: 'doctor', sentAt: new Date().toISOString() });

/** Every table's row count, to show a request changed none. */
function snapshot(db: ReturnType<typeof testCollector>['db']): Record<string, number> {
  const tables = db.prepare(`SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'`).pluck().all() as string[];
  return Object.fromEntries(tables.map((t) => [t, db.prepare(`SELECT count(*) FROM "${t}"`).pluck().get() as number]));
}

test('a known agent with its key gets 200 with the collector clock, and nothing is stored', async () => {
  const agent = new TestAgent('pve1');
  const c = testCollector([agent]);
  const before = snapshot(c.db);
  const res = await c.app.inject(signed('/api/v1/check', body(), 'pve1', agent.keys));
  assert.equal(res.statusCode, 200);
  assert.deepEqual(res.json(), { agent: 'pve1', now: c.clock.now });
  assert.deepEqual(snapshot(c.db), before);
});

test('refusals are those of POST /api/v1/reports: unknown agent, wrong key, missing signature, malformed body', async () => {
  const agent = new TestAgent('pve1');
  const c = testCollector([agent]);
  const cases = [
    { what: 'unknown agent', req: signed('/api/v1/check', body(), 'stranger', agent.keys), status: 401, code: 'E_UNKNOWN_AGENT' },
    { what: 'another key', req: signed('/api/v1/check', body(), 'pve1', new TestAgent().keys), status: 401, code: 'E_BAD_SIGNATURE' },
    { what: 'no signature', req: { ...signed('/api/v1/check', body(), 'pve1', agent.keys), headers: { 'content-type': 'application/json', [AGENT_HEADER]: 'pve1' } }, status: 401, code: 'E_UNAUTHENTICATED' },
    { what: 'a report body', req: signed('/api/v1/check', { messages: [] }, 'pve1', agent.keys), status: 400, code: 'E_INVALID' },
  ];
  for (const { what, req, status, code } of cases) {
    const res = await c.app.inject(req);
    assert.equal(res.statusCode, status, what);
    assert.equal(res.json().error.code, code, what);
  }
});
