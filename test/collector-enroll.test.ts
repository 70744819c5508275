import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createToken, hashToken, TOKEN_PREFIX } from '../collector/tokens';
import { TestAgent, count, heartbeat, testCollector } from './collector-helpers';

const HOUR = 3_600_000;

test('a valid token enrolls the agent, which can then report', async () => {
  const c = testCollector([]);
  const agent = new TestAgent('docker1');
  const { token } = createToken(c.db, 'docker1', HOUR, c.clock.now);
  const res = await c.app.inject(agent.enroll(token));
  assert.equal(res.statusCode, 200);
  assert.deepEqual(res.json(), { agent: 'docker1' });
  assert.deepEqual(c.db.prepare('SELECT name, public_key, source FROM agents').get(), { name: 'docker1', public_key: agent.publicKey, source: 'enrolled' });
  const report = await c.app.inject(agent.report({ messages: [agent.msg(heartbeat())] }));
  assert.deepEqual(report.json(), { accepted: 1, duplicates: 0 });
});

test('tokens are random, prefixed, and stored only as their sha256', () => {
  const c = testCollector([]);
  const a = createToken(c.db, 'x', HOUR, 0).token;
  const b = createToken(c.db, 'x', HOUR, 0).token;
  assert.notEqual(a, b);
  assert.match(a, new RegExp(`^${TOKEN_PREFIX}[A-Za-z0-9_-]{43}$`));
  const hashes = c.db.prepare('SELECT token_hash FROM enroll_tokens ORDER BY id').pluck().all();
  assert.deepEqual(hashes, [hashToken(a), hashToken(b)]);
});

test('enrollment refusals: unknown, expired, reused, wrong name, key conflict', async () => {
  const c = testCollector([]);
  const agent = new TestAgent('docker1');
  const now = c.clock.now;
  const used = createToken(c.db, 'docker1', HOUR, now).token;
  assert.equal((await c.app.inject(agent.enroll(used))).statusCode, 200);
  const impostor = new TestAgent('docker1');
  const cases = [
    { what: 'unknown token', req: agent.enroll('llt_nope'), status: 401, code: 'E_TOKEN_UNKNOWN' },
    { what: 'expired token', req: agent.enroll(createToken(c.db, 'docker1', HOUR, now - 2 * HOUR).token), status: 401, code: 'E_TOKEN_EXPIRED' },
    { what: 'expires exactly now', req: agent.enroll(createToken(c.db, 'docker1', HOUR, now - HOUR).token), status: 401, code: 'E_TOKEN_EXPIRED' },
    { what: 'reused token', req: agent.enroll(used), status: 401, code: 'E_TOKEN_USED' },
    { what: 'token for another name', req: new TestAgent('pbs1').enroll(createToken(c.db, 'docker1', HOUR, now).token), status: 400, code: 'E_TOKEN_NAME' },
    { what: 'name enrolled with another key', req: impostor.enroll(createToken(c.db, 'docker1', HOUR, now).token), status: 409, code: 'E_KEY_CONFLICT' },
  ];
  for (const { what, req, status, code } of cases) {
    const res = await c.app.inject(req);
    assert.equal(res.statusCode, status, what);
    assert.equal(res.json().error.code, code, what);
  }
  assert.equal(count(c.db, 'agents'), 1);
  assert.equal(c.db.prepare('SELECT public_key FROM agents').pluck().get(), agent.publicKey);
});

test('a token for another name names both agents in the error', async () => {
  const c = testCollector([]);
  const res = await c.app.inject(new TestAgent('pbs1').enroll(createToken(c.db, 'docker1', HOUR, c.clock.now).token));
  assert.equal(res.json().error.message, 'enrollment token was issued for agent "docker1", not "pbs1"');
});

test('a refused enrollment leaves the token unused', async () => {
  const c = testCollector([]);
  const agent = new TestAgent('docker1');
  const { token } = createToken(c.db, 'docker1', HOUR, c.clock.now);
  // Signed with a key other than the one being enrolled: no proof of possession.
  const forged = await c.app.inject(agent.enroll(token, { keys: new TestAgent().keys }));
  assert.equal(forged.statusCode, 401);
  assert.equal(forged.json().error.code, 'E_BAD_SIGNATURE');
  assert.equal(c.db.prepare('SELECT used_at FROM enroll_tokens').pluck().get(), null);
  assert.equal((await c.app.inject(agent.enroll(token))).statusCode, 200);
});

test('re-enrolling the same name with the same key and a fresh token succeeds', async () => {
  const c = testCollector([]);
  const agent = new TestAgent('docker1');
  for (let i = 0; i < 2; i++) {
    const res = await c.app.inject(agent.enroll(createToken(c.db, 'docker1', HOUR, c.clock.now).token));
    assert.equal(res.statusCode, 200);
  }
  assert.equal(count(c.db, 'agents'), 1);
  assert.equal(c.db.prepare('SELECT count(*) FROM enroll_tokens WHERE used_at IS NOT NULL').pluck().get(), 2);
});

test('an agent listed in collector.yaml cannot be enrolled with another key', async () => {
  const listed = new TestAgent('pve1');
  const c = testCollector([listed]);
  const res = await c.app.inject(new TestAgent('pve1').enroll(createToken(c.db, 'pve1', HOUR, c.clock.now).token));
  assert.equal(res.statusCode, 409);
});

test('an enroll body naming another agent than its header answers 400 at name', async () => {
  const c = testCollector([]);
  const agent = new TestAgent('docker1');
  const req = agent.enroll(createToken(c.db, 'docker1', HOUR, c.clock.now).token);
  const res = await c.app.inject({ ...req, headers: { ...req.headers, 'x-lifeline-agent': 'other' } });
  assert.equal(res.statusCode, 400);
  assert.equal(res.json().error.path, 'name');
});

test('an enroll body with a malformed public key answers 400 at publicKey', async () => {
  const c = testCollector([]);
  const res = await c.app.inject(new TestAgent('docker1').enroll('llt_x', { publicKey: 'AAAA' }));
  assert.equal(res.statusCode, 400);
  assert.equal(res.json().error.path, 'publicKey');
});
