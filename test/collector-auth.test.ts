import assert from 'node:assert/strict';
import { chmodSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import Fastify from 'fastify';
import { main } from '../collector/cli';
import { collectorConfig } from '../collector/config';
import type { AppContext } from '../collector/context';
import { hashPassword, parseUsersFile, passwordChecker, weakUsersWarning } from '../collector/passwords';
import { adminCheck, readAccess } from '../collector/routes/access';
import { tempDir, testCollector } from './collector-helpers';

const SHA_PASSWORD = '5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8'; // sha256("password")

function secret(text: string): string {
  const file = join(tempDir(), 'secret');
  writeFileSync(file, text, { mode: 0o600 });
  chmodSync(file, 0o600);
  return file;
}
const basic = (u: string, p: string) => ({ authorization: `Basic ${Buffer.from(`${u}:${p}`).toString('base64')}` });

test('a stored password is salted scrypt: the same password hashes differently, and each verifies', async () => {
  const [a, b] = [await hashPassword('wonderland'), await hashPassword('wonderland')];
  assert.match(a, /^\$scrypt\$16384\$[A-Za-z0-9_-]{22}\$[A-Za-z0-9_-]{43}$/);
  assert.notEqual(a, b, 'salted');
  const check = passwordChecker(parseUsersFile(`alice:${a}\nbob:${b}\n`).users);
  assert.equal(await check('alice', 'wonderland'), true);
  assert.equal(await check('alice', 'wonderland'), true, 'remembered');
  assert.equal(await check('bob', 'wonderland'), true);
  assert.equal(await check('alice', 'Wonderland'), false);
  assert.equal(await check('carol', 'wonderland'), false);
});

test('usersFile lines: scrypt, and the old unsalted forms read but reported weak', async () => {
  const rows: Array<{ line: string; weak: boolean; password?: string; error?: RegExp }> = [
    { line: `alice:${await hashPassword('pw', 1024)}`, weak: false, password: 'pw' },
    { line: `bob:sha256:${SHA_PASSWORD}`, weak: true, password: 'password' },
    { line: 'carol:plain text', weak: true, password: 'plain text' },
    { line: 'dave:$scrypt$1000$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA', weak: false, error: /line 1: a malformed \$scrypt\$ hash/ },
    { line: 'erin:$scrypt$16384$short$x', weak: false, error: /malformed/ },
    { line: 'nocolon', weak: false, error: /line 1: expected "user:\$scrypt\$…"/ },
  ];
  for (const row of rows) {
    if (row.error) {
      assert.throws(() => parseUsersFile(row.line), row.error, row.line);
      continue;
    }
    const parsed = parseUsersFile(`# comment\n\n${row.line}\n`);
    const user = row.line.slice(0, row.line.indexOf(':'));
    assert.deepEqual(parsed.weak, row.weak ? [user] : [], row.line);
    assert.equal(await passwordChecker(parsed.users)(user, row.password!), true, row.line);
  }
  assert.throws(() => parseUsersFile('# nobody\n'), /lists no users/);
  assert.equal(weakUsersWarning('/etc/lifeline/users', []), null);
  assert.equal(
    weakUsersWarning('/etc/lifeline/users', ['bob', 'carol']),
    'access.usersFile /etc/lifeline/users: bob, carol have an unsalted password (sha256 or plain text); rehash with "lifeline-collector passwd USER" (password on stdin) and replace the line',
  );
});

test('access.read basic with an old sha256 line: still signs in, and the log says which file to rehash', async () => {
  const file = secret(`alice:${await hashPassword('wonderland')}\nbob:sha256:${SHA_PASSWORD}\n`);
  const warnings: string[] = [];
  const app = Fastify();
  const ctx = { config: collectorConfig({ access: { read: 'basic', usersFile: file } }) } as AppContext;
  app.register(readAccess(ctx, (m) => warnings.push(m)));
  app.get('/', async () => 'page');
  app.setErrorHandler((err: Error & { statusCode?: number }, _req, reply) => reply.code(err.statusCode ?? 500).send(err.message));
  assert.equal((await app.inject({ method: 'GET', url: '/', headers: basic('alice', 'wonderland') })).statusCode, 200);
  assert.equal((await app.inject({ method: 'GET', url: '/', headers: basic('bob', 'password') })).statusCode, 200);
  assert.equal((await app.inject({ method: 'GET', url: '/', headers: basic('alice', 'password') })).statusCode, 401);
  assert.equal((await app.inject({ method: 'GET', url: '/' })).statusCode, 401);
  assert.deepEqual(warnings, [`access.usersFile ${file}: bob has an unsalted password (sha256 or plain text); rehash with "lifeline-collector passwd USER" (password on stdin) and replace the line`]);
});

test('one admin-token check: disabled without adminTokenFile, a Bearer token compared otherwise', () => {
  const req = (authorization?: string) => ({ headers: authorization ? { authorization } : {} }) as never;
  const code = (f: () => void) => {
    try {
      f();
      return 'ok';
    } catch (err) {
      return (err as { code: string }).code;
    }
  };
  const off = adminCheck({ config: collectorConfig() } as AppContext);
  const on = adminCheck({ config: collectorConfig({ adminTokenFile: secret('admin-token\n') }) } as AppContext);
  const rows: Array<[typeof on, string | undefined, string]> = [
    [off, 'Bearer admin-token', 'E_ADMIN_DISABLED'],
    [on, undefined, 'E_ADMIN_TOKEN'],
    [on, 'Bearer admin-tokenx', 'E_ADMIN_TOKEN'],
    [on, 'Basic admin-token', 'E_ADMIN_TOKEN'],
    [on, 'Bearer admin-token', 'ok'],
    [on, 'bearer   admin-token', 'ok'],
  ];
  for (const [check, header, want] of rows) assert.equal(code(() => check(req(header))), want, String(header));
});

test('unmute of an unknown id answers 404, as ack does; a known one is removed once', async () => {
  const c = testCollector([], { adminTokenFile: secret('admin-token') });
  const headers = { authorization: 'Bearer admin-token' };
  const made = await c.app.inject({ method: 'POST', url: '/api/v1/mutes', headers, payload: { until: '2025-01-02T00:00:00Z' } });
  const id = made.json().id as number;
  assert.equal((await c.app.inject({ method: 'DELETE', url: `/api/v1/mutes/${id}`, headers })).statusCode, 200);
  for (const url of [`/api/v1/mutes/${id}`, '/api/v1/mutes/999', '/api/v1/mutes/x']) {
    const res = await c.app.inject({ method: 'DELETE', url, headers });
    assert.equal(res.statusCode, 404, url);
    assert.equal(res.json().error.code, 'E_NO_SUCH', url);
  }
  const ack = await c.app.inject({ method: 'POST', url: '/api/v1/incidents/999/ack', headers, payload: {} });
  assert.equal(ack.statusCode, 404);
});

test('lifeline-collector passwd USER reads the password from stdin and prints a usersFile line', async () => {
  const out: string[] = [];
  const err: string[] = [];
  const io = { out: (t: string) => out.push(t), err: (t: string) => err.push(t), stdin: async () => 'wonder land\n' };
  assert.equal(await main(['passwd', 'alice'], io), 0, err.join(''));
  const line = out.join('');
  assert.match(line, /^alice:\$scrypt\$16384\$[^$]+\$[^$]+\n$/);
  assert.doesNotMatch(line + err.join(''), /wonder land/, 'the password is not echoed');
  assert.equal(await passwordChecker(parseUsersFile(line).users)('alice', 'wonder land'), true);
  for (const [argv, input, want] of [
    [['passwd'], 'x\n', /expected: passwd USER/],
    [['passwd', 'a:b'], 'x\n', /a user name without ":"/],
    [['passwd', 'alice'], '\n', /an empty password/],
  ] as const) {
    err.length = 0;
    assert.equal(await main([...argv], { ...io, stdin: async () => input }), 2, argv.join(' '));
    assert.match(err.join(''), want);
  }
});
