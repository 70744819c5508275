import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { request } from 'node:http';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { buildApp } from '../collector/app';
import { main } from '../collector/cli';
import { loadCollectorConfig } from '../collector/config';
import { openDb } from '../collector/db';
import { hashToken } from '../collector/tokens';
import { generateKeyPair } from '../shared/signing';
import { TestAgent, heartbeat, tempDir } from './collector-helpers';

async function run(...argv: string[]) {
  let stdout = '';
  let stderr = '';
  const code = await main(argv, { out: (t) => (stdout += t), err: (t) => (stderr += t) });
  return { code, stdout, stderr };
}

function configFile(extra = '') {
  const dir = tempDir();
  const file = join(dir, 'collector.yaml');
  writeFileSync(file, `listen: 127.0.0.1:0\ndatabase: ${dir}/db/lifeline.db\n${extra}`);
  return { file, db: `${dir}/db/lifeline.db` };
}

test('check-config prints OK and the file for a valid config', async () => {
  const { file } = configFile();
  assert.deepEqual(await run('check-config', '--config', file), { code: 0, stdout: `OK: ${file}\n`, stderr: '' });
});

test('check-config prints each problem with file and line, exit 2, no stack trace', async () => {
  const { file } = configFile('limits: { burst: many }\n');
  const r = await run('check-config', '--config', file);
  assert.equal(r.code, 2);
  assert.match(r.stderr, new RegExp(`^${file}:3:\\d+: limits.burst: `));
  assert.doesNotMatch(r.stderr, /\n\s+at /);
});

test('serve with a missing config file exits 2 naming the file', async () => {
  const file = join(tempDir(), 'nope.yaml');
  const r = await run('serve', '--config', file);
  assert.equal(r.code, 2);
  assert.equal(r.stderr, `${file}: cannot read config: file not found\n`);
});

test('the config file defaults to $LIFELINE_CONFIG', async () => {
  const { file } = configFile();
  const saved = process.env.LIFELINE_CONFIG;
  process.env.LIFELINE_CONFIG = file;
  try {
    assert.equal((await run('check-config')).stdout, `OK: ${file}\n`);
  } finally {
    if (saved === undefined) delete process.env.LIFELINE_CONFIG;
    else process.env.LIFELINE_CONFIG = saved;
  }
});

test('token create prints only the token on stdout and stores only its hash', async () => {
  const { file, db } = configFile();
  const r = await run('token', 'create', 'docker1', '--ttl', '2h', '--config', file);
  assert.equal(r.code, 0);
  const token = r.stdout.trim();
  assert.match(r.stdout, /^llt_[A-Za-z0-9_-]+\n$/);
  assert.match(r.stderr, /agent "docker1".*valid for 2h/);
  const conn = openDb(db);
  const row = conn.prepare('SELECT token_hash, name, expires_at - created_at AS ttl FROM enroll_tokens').get();
  conn.close();
  assert.deepEqual(row, { token_hash: hashToken(token), name: 'docker1', ttl: 7_200_000 });
});

test('command line mistakes exit 2 with the usage', async () => {
  const { file } = configFile();
  const cases = [
    ['token', 'create', 'bad name!', '--config', file],
    ['token', 'create', 'x', '--ttl', 'forever', '--config', file],
    ['token', 'list', '--config', file],
    ['frobnicate'],
    [],
    ['--nope'],
  ];
  for (const argv of cases) {
    const r = await run(...argv);
    assert.equal(r.code, 2, argv.join(' '));
    assert.match(r.stderr, /Usage: lifeline-collector/, argv.join(' '));
  }
});

test('agents lists configured agents with source, last seen, version and job count', async () => {
  const key = Buffer.from(generateKeyPair().publicKey).toString('base64');
  const { file } = configFile(`agents:\n  - { name: pve1, publicKey: "${key}" }\n`);
  // `agents` reads the database; the config agents get there when serve builds the app.
  const config = loadCollectorConfig(file);
  const db = openDb(config.database);
  await buildApp({ config, db }).close();
  db.close();
  const r = await run('agents', '--config', file);
  assert.equal(r.code, 0);
  assert.equal(r.stdout, 'NAME  SOURCE  LAST SEEN  VERSION  JOBS\npve1  config  never      -        0\n');
});

test('--help and --version print to stdout and exit 0', async () => {
  const help = await run('--help');
  assert.equal(help.code, 0);
  assert.match(help.stdout, /serve[\s\S]*token create NAME[\s\S]*agents[\s\S]*check-config/);
  const version = await run('--version');
  assert.equal(version.code, 0);
  assert.match(version.stdout, /^\S+\n$/);
});

function startServe(file: string) {
  const child = spawn(process.execPath, ['--import', 'tsx', 'collector/main.ts', 'serve', '--config', file], { stdio: ['ignore', 'pipe', 'pipe'] });
  const proc = { child, out: '', exited: new Promise<number | null>((r) => child.on('exit', (code) => r(code))) };
  child.stdout.on('data', (d) => (proc.out += d));
  child.stderr.on('data', (d) => (proc.out += d));
  const url = new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no URL printed: ${proc.out}`)), 20_000);
    child.stdout.on('data', () => {
      const m = /listening on (http:\/\/\S+)/.exec(proc.out);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    });
  });
  return { ...proc, url, get output() { return proc.out; } };
}

test('serve listens, answers, and on SIGTERM closes the database and exits 0', async () => {
  const { file, db } = configFile();
  const serve = startServe(file);
  const res = await fetch(`${await serve.url}/healthz`);
  assert.deepEqual(await res.json(), { ok: true });
  serve.child.kill('SIGTERM');
  assert.equal(await serve.exited, 0, serve.output);
  // The WAL is folded back and removed only when the last connection closes cleanly.
  assert.equal(existsSync(`${db}-wal`), false);
});

test('SIGTERM lets a report still being uploaded finish and be stored before exit', async () => {
  const agent = new TestAgent('pve1');
  const { file, db } = configFile(`agents:\n  - { name: pve1, publicKey: "${agent.publicKey}" }\n`);
  const serve = startServe(file);
  const req = agent.report({ messages: [agent.msg(heartbeat())] });
  const { hostname, port } = new URL(await serve.url);
  const response = new Promise<{ status: number; body: string }>((resolve, reject) => {
    const r = request({ host: hostname, port, method: 'POST', path: req.url, headers: { ...req.headers, 'content-length': req.payload.length } }, (res) => {
      let body = '';
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode!, body }));
    });
    r.on('error', reject);
    r.write(req.payload.subarray(0, 10));
    setTimeout(() => {
      serve.child.kill('SIGTERM');
      setTimeout(() => r.end(req.payload.subarray(10)), 300);
    }, 200);
  });
  assert.deepEqual(await response, { status: 200, body: '{"accepted":1,"duplicates":0}' });
  assert.equal(await serve.exited, 0, serve.output);
  const conn = openDb(db);
  assert.equal(conn.prepare('SELECT count(*) FROM messages').pluck().get(), 1);
  conn.close();
});
