import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { test } from 'node:test';
import { buildApp } from '../collector/app';
import { collectorConfig } from '../collector/config';
import { openDb } from '../collector/db';
import { AGENT_HEADER, SIGNATURE_HEADER } from '../shared/protocol';
import { sign } from '../shared/signing';
import { TestAgent, catalogJob, count, heartbeat, hello, run, runStart, testCollector } from './collector-helpers';

test('stores a signed batch and acknowledges every message', async () => {
  const agent = new TestAgent();
  const c = testCollector([agent]);
  const id = randomUUID();
  const body = { messages: [agent.msg(hello([catalogJob('etc')])), agent.msg(runStart('etc', id)), agent.msg(run('etc', id))] };
  const res = await c.app.inject(agent.report(body));
  assert.equal(res.statusCode, 200);
  assert.deepEqual(res.json(), { accepted: 3, duplicates: 0 });
  assert.equal(count(c.db, 'messages'), 3);
  assert.equal(count(c.db, 'jobs'), 1);
  assert.deepEqual(c.db.prepare('SELECT run_id, status, exit_code FROM runs').all(), [{ run_id: id, status: 'success', exit_code: 0 }]);
});

test('a request replayed byte for byte stores nothing new and reports duplicates', async () => {
  const agent = new TestAgent();
  const c = testCollector([agent]);
  const req = agent.report({ messages: [agent.msg(heartbeat()), agent.msg(runStart('etc'))] });
  assert.deepEqual((await c.app.inject(req)).json(), { accepted: 2, duplicates: 0 });
  const lastSeen = c.db.prepare('SELECT last_seen FROM agents').get();
  c.clock.now += 60_000;
  const again = await c.app.inject(req);
  assert.equal(again.statusCode, 200);
  assert.deepEqual(again.json(), { accepted: 0, duplicates: 2 });
  assert.equal(count(c.db, 'messages'), 2);
  assert.equal(count(c.db, 'runs'), 1);
  // A replay is not contact from the agent: it must not hide an agent that went silent.
  assert.deepEqual(c.db.prepare('SELECT last_seen FROM agents').get(), lastSeen);
});

test('a body with one byte flipped after signing is refused with 401 and nothing is stored', async () => {
  const agent = new TestAgent();
  const c = testCollector([agent]);
  const req = agent.report({ messages: [agent.msg(heartbeat(5))] });
  const i = req.payload.indexOf('5');
  req.payload[i] = '6'.charCodeAt(0);
  const res = await c.app.inject(req);
  assert.equal(res.statusCode, 401);
  assert.equal(res.json().error.code, 'E_BAD_SIGNATURE');
  assert.equal(count(c.db, 'messages'), 0);
});

test('refuses with 401 before parsing anything: unknown agent, missing headers, wrong key', async () => {
  const agent = new TestAgent('pve1');
  const other = new TestAgent('pbs1');
  const c = testCollector([agent]);
  // Garbage bodies prove nothing is parsed before authentication (else these would be 400).
  const cases = [
    { what: 'unknown agent', req: other.report('not json'), code: 'E_UNKNOWN_AGENT' },
    { what: 'signed with another key', req: agent.report('not json', { keys: other.keys }), code: 'E_BAD_SIGNATURE' },
    { what: 'no signature header', req: { ...agent.report('x'), headers: { [AGENT_HEADER]: 'pve1' } }, code: 'E_UNAUTHENTICATED' },
    { what: 'no agent header', req: { ...agent.report('x'), headers: { [SIGNATURE_HEADER]: sign(Buffer.from('x'), agent.keys.secretKey) } }, code: 'E_UNAUTHENTICATED' },
    { what: 'signature not base64', req: { ...agent.report('x'), headers: { [AGENT_HEADER]: 'pve1', [SIGNATURE_HEADER]: '!!!' } }, code: 'E_BAD_SIGNATURE' },
  ];
  for (const { what, req, code } of cases) {
    const res = await c.app.inject(req);
    assert.equal(res.statusCode, 401, what);
    assert.equal(res.json().error.code, code, what);
  }
  assert.equal(count(c.db, 'messages'), 0);
});

test('an agent taken out of collector.yaml can no longer report', async () => {
  const agent = new TestAgent();
  const first = testCollector([agent]);
  await first.app.close();
  const app = buildApp({ config: collectorConfig({ database: first.file }), db: first.db });
  const res = await app.inject(agent.report({ messages: [agent.msg(heartbeat())] }));
  assert.equal(res.statusCode, 401);
  assert.equal(res.json().error.code, 'E_UNKNOWN_AGENT');
});

test('a schema violation answers 400 with the field path and message index, and stores nothing', async () => {
  const agent = new TestAgent();
  const c = testCollector([agent]);
  const bad = { ...agent.msg(runStart('etc')), runId: 'not-a-uuid' };
  const res = await c.app.inject(agent.report({ messages: [agent.msg(heartbeat()), bad] }));
  assert.equal(res.statusCode, 400);
  const { error } = res.json();
  assert.equal(error.code, 'E_INVALID');
  assert.equal(error.path, 'messages.1.runId');
  assert.equal(error.index, 1);
  assert.equal(count(c.db, 'messages'), 0);
});

test('bodies that are not a valid report answer 400 with what is wrong', async () => {
  const agent = new TestAgent();
  const c = testCollector([agent]);
  const cases = [
    { what: 'not JSON', body: '{"messages": [', code: 'E_BAD_JSON', path: undefined },
    { what: 'empty batch', body: { messages: [] }, code: 'E_INVALID', path: 'messages' },
    { what: 'unknown kind', body: { messages: [{ ...agent.msg(heartbeat()), kind: 'reboot' }] }, code: 'E_INVALID', path: 'messages.0.kind' },
    { what: 'sentAt without offset', body: { messages: [{ ...agent.msg(heartbeat()), sentAt: '2025-01-01 02:00' }] }, code: 'E_INVALID', path: 'messages.0.sentAt' },
  ];
  for (const { what, body, code, path } of cases) {
    const res = await c.app.inject(agent.report(body));
    assert.equal(res.statusCode, 400, what);
    assert.equal(res.json().error.code, code, what);
    assert.equal(res.json().error.path, path, what);
  }
});

test('a message naming another agent than the signer answers 400 at messages.N.agent', async () => {
  const agent = new TestAgent('pve1');
  const other = new TestAgent('pbs1');
  const c = testCollector([agent, other]);
  const res = await c.app.inject(agent.report({ messages: [agent.msg(heartbeat()), other.msg(heartbeat())] }));
  assert.equal(res.statusCode, 400);
  assert.deepEqual(res.json().error, {
    code: 'E_AGENT_MISMATCH',
    message: 'body is from agent "pbs1" but the request header names agent "pve1"',
    path: 'messages.1.agent',
    index: 1,
  });
  assert.equal(count(c.db, 'messages'), 0);
});

test('a body over limits.bodyBytes answers 413 in the collector error shape', async () => {
  const agent = new TestAgent();
  const c = testCollector([agent], { limits: { bodyBytes: '1KiB' } });
  const res = await c.app.inject(agent.report({ messages: [agent.msg(run('etc', randomUUID(), { logTail: 'x'.repeat(2000) }))] }));
  assert.equal(res.statusCode, 413);
  assert.deepEqual(res.json(), { error: { code: 'E_BODY_TOO_LARGE', message: 'body is larger than 1024 bytes (limits.bodyBytes)' } });
  assert.equal(count(c.db, 'messages'), 0);
});

test('an agent over its burst gets 429 with Retry-After until its bucket refills', async () => {
  const agent = new TestAgent();
  const c = testCollector([agent], { limits: { ratePerSecond: 0.5, burst: 2 } });
  const send = () => c.app.inject(agent.report({ messages: [agent.msg(heartbeat())] }));
  assert.equal((await send()).statusCode, 200);
  assert.equal((await send()).statusCode, 200);
  const limited = await send();
  assert.equal(limited.statusCode, 429);
  assert.equal(limited.headers['retry-after'], '2');
  assert.equal(limited.json().error.code, 'E_RATE_LIMITED');
  assert.equal(count(c.db, 'messages'), 2);
  c.clock.now += 2000;
  assert.equal((await send()).statusCode, 200);
});

test('forged requests do not spend an agent rate budget', async () => {
  const agent = new TestAgent();
  const forger = new TestAgent('pve1');
  const c = testCollector([agent], { limits: { ratePerSecond: 0.001, burst: 1 } });
  for (let i = 0; i < 5; i++) assert.equal((await c.app.inject(agent.report('{}', { keys: forger.keys }))).statusCode, 401);
  assert.equal((await c.app.inject(agent.report({ messages: [agent.msg(heartbeat())] }))).statusCode, 200);
});

test('a failure while storing rolls back the whole batch', async () => {
  const agent = new TestAgent();
  const c = testCollector([agent]);
  // A trigger stands in for any storage failure (disk full, constraint) midway through a batch.
  c.db.exec(`CREATE TRIGGER fail_runs BEFORE INSERT ON runs BEGIN SELECT RAISE(ABORT, 'simulated failure'); END`);
  const res = await c.app.inject(agent.report({ messages: [agent.msg(hello([catalogJob('etc')])), agent.msg(heartbeat(3)), agent.msg(runStart('etc'))] }));
  assert.equal(res.statusCode, 500);
  assert.equal(res.json().error.code, 'E_INTERNAL');
  assert.equal(count(c.db, 'messages'), 0);
  assert.equal(count(c.db, 'jobs'), 0);
  assert.deepEqual(c.db.prepare('SELECT last_seen, spool_pending, version FROM agents').get(), { last_seen: null, spool_pending: null, version: null });
});

test('any content type is accepted, since the signed bytes are what count', async () => {
  const agent = new TestAgent();
  const c = testCollector([agent]);
  const req = agent.report({ messages: [agent.msg(heartbeat())] });
  const res = await c.app.inject({ ...req, headers: { ...req.headers, 'content-type': 'text/plain' } });
  assert.equal(res.statusCode, 200);
});

test('unknown routes answer 404 in the collector error shape', async () => {
  const { app } = testCollector([]);
  const res = await app.inject({ method: 'GET', url: '/nope?x=1' });
  assert.equal(res.statusCode, 404);
  assert.deepEqual(res.json(), { error: { code: 'E_NOT_FOUND', message: 'no route for GET /nope' } });
});

test('two apps on one database file share de-duplication', async () => {
  // E.g. a restarted collector overlapping the old one during shutdown.
  const agent = new TestAgent();
  const c = testCollector([agent]);
  const app2 = buildApp({ config: collectorConfig({ database: c.file, agents: [{ name: agent.name, publicKey: agent.publicKey }] }), db: openDb(c.file) });
  const req = agent.report({ messages: [agent.msg(heartbeat())] });
  assert.deepEqual((await c.app.inject(req)).json(), { accepted: 1, duplicates: 0 });
  assert.deepEqual((await app2.inject(req)).json(), { accepted: 0, duplicates: 1 });
});
