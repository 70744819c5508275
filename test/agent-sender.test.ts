import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { Sender, type LogLevel, type SenderOptions } from '../agent/sender';
import { Spool } from '../agent/spool';
import { AGENT_HEADER, SIGNATURE_HEADER, type Message, type Unsequenced } from '../shared/protocol';
import { generateKeyPair, verifyWithNacl } from '../shared/signing';
import { tempDir } from './helpers/temp';

// A real HTTP collector stand-in on 127.0.0.1 that verifies each request's signature over the
// exact bytes received and answers as each test says.

const AGENT = 'a1';
const KEYS = generateKeyPair();
const roots: string[] = [];
const cleanups: Array<() => unknown> = [];
after(async () => {
  for (const c of cleanups) await c();
  roots.forEach((d) => rmSync(d, { recursive: true, force: true }));
});

interface Received {
  messages: Message[];
  bytes: number;
  headers: IncomingHttpHeaders;
  at: number;
  status: number;
}
interface Answer {
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
  /** Never answer (the connection hangs). */
  hang?: boolean;
}
type Respond = (req: { messages: Message[]; n: number }) => Answer;

async function collector(respond: Respond = () => ({ status: 200 }), port = 0) {
  const requests: Received[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const signed = req.headers[AGENT_HEADER] === AGENT && verifyWithNacl(body, String(req.headers[SIGNATURE_HEADER]), KEYS.publicKey);
      const { messages } = JSON.parse(body.toString('utf8')) as { messages: Message[] };
      const answer: Answer = signed ? respond({ messages, n: requests.length }) : { status: 401, body: { error: { code: 'unauthorized', message: 'bad signature' } } };
      requests.push({ messages, bytes: body.length, headers: req.headers, at: Date.now(), status: answer.hang ? 0 : answer.status });
      if (answer.hang) return;
      const payload = answer.body ?? { accepted: messages.length, duplicates: 0 };
      res.writeHead(answer.status, { 'content-type': 'application/json', ...answer.headers }).end(JSON.stringify(payload));
    });
  });
  server.listen(port, '127.0.0.1');
  await once(server, 'listening');
  const close = async () => {
    server.closeAllConnections();
    server.close();
    await once(server, 'close').catch(() => {});
  };
  cleanups.push(() => (server.listening ? close() : undefined));
  const actualPort = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${actualPort}`,
    port: actualPort,
    requests,
    delivered: () => requests.filter((r) => r.status === 200).flatMap((r) => r.messages),
    close,
  };
}

function setup(opts: Partial<SenderOptions> & { url: string }) {
  const dir = tempDir('lifeline-sender-');
  roots.push(dir);
  const spool = new Spool(dir, { maxBytes: 1e9, agent: AGENT });
  const logs: Array<[LogLevel, string]> = [];
  const sender = new Sender({ spool, agent: AGENT, secretKey: KEYS.secretKey, baseMs: 5, capMs: 40, log: (l, m) => logs.push([l, m]), ...opts });
  cleanups.push(() => sender.stop());
  return { dir, spool, sender, logs };
}

const heartbeat = (n: number): Unsequenced => ({ kind: 'heartbeat', uptimeMs: n, spool: { pending: 0, dropped: 0 } });
const bigRun = (logTail: string): Unsequenced => ({
  kind: 'run', runId: '6f1c8a52-4a61-4a8e-9d1e-0c6a3e1b2f10', job: 'j', operation: 'backup', trigger: 'manual',
  startedAt: '2025-01-01T00:00:00Z', finishedAt: '2025-01-01T00:00:01Z', status: 'success', exitCode: 0, durationMs: 1000, logTail,
});

async function waitFor(what: string, cond: () => boolean, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

const rejectedFiles = (dir: string) => (existsSync(join(dir, 'rejected')) ? readdirSync(join(dir, 'rejected')).sort() : []);

test('a 200 acknowledges the batch and empties the spool', async () => {
  const server = await collector();
  const { spool, sender } = setup({ url: server.url });
  const sent = [1, 2, 3, 4, 5].map((n) => spool.append(heartbeat(n)));
  assert.equal(await sender.flush(5000), true);
  assert.deepEqual(spool.pending(10), []);
  assert.equal(server.requests.length, 1);
  assert.deepEqual(server.delivered(), sent);
  assert.ok(sender.state().lastSuccessAt);
  assert.equal(sender.state().consecutiveFailures, 0);
});

test('each request carries the agent name and a signature that verifies over the exact body bytes', async () => {
  const server = await collector();
  const { spool, sender } = setup({ url: `${server.url}/` });
  spool.append(heartbeat(1));
  assert.equal(await sender.flush(5000), true);
  const [req] = server.requests;
  assert.equal(req.status, 200, 'the stand-in answers 401 when the signature does not verify');
  assert.equal(req.headers[AGENT_HEADER], AGENT);
  assert.equal(req.headers['content-type'], 'application/json');
  assert.match(String(req.headers[SIGNATURE_HEADER]), /^[A-Za-z0-9+/]{86}==$/);
});

test('messages stay in the spool while the collector is down and are delivered once, in seq order, when it is back', async () => {
  const probe = await collector();
  const { port } = probe;
  await probe.close();
  const { spool, sender } = setup({ url: `http://127.0.0.1:${port}`, batch: 7 });
  const sent = Array.from({ length: 10 }, (_, i) => spool.append(heartbeat(i)));
  sender.start();
  await waitFor('three failures', () => sender.state().consecutiveFailures >= 3);
  sent.push(...Array.from({ length: 10 }, (_, i) => spool.append(heartbeat(100 + i))));
  sender.kick();
  assert.equal(spool.pending(100).length, 20);
  assert.match(sender.state().lastError ?? '', /cannot reach the collector.*ECONNREFUSED/);

  const server = await collector(undefined, port);
  await waitFor('an empty spool', () => spool.pending(100).length === 0);
  assert.deepEqual(server.delivered().map((m) => m.seq), sent.map((m) => m.seq));
  assert.equal(sender.state().consecutiveFailures, 0);
});

test('an idle sender makes no requests until kick() and then sends at once', async () => {
  const server = await collector();
  const { spool, sender } = setup({ url: server.url });
  sender.start();
  await new Promise((r) => setTimeout(r, 200));
  assert.equal(server.requests.length, 0);
  const msg = spool.append(heartbeat(1));
  sender.kick();
  await waitFor('delivery', () => server.delivered().length === 1, 2000);
  assert.deepEqual(server.delivered(), [msg]);
});

test('a 400 quarantines the message at its index and the rest are delivered', async () => {
  const server = await collector(({ messages }) => {
    const index = messages.findIndex((m) => m.kind === 'heartbeat' && m.uptimeMs === 666);
    return index < 0 ? { status: 200 } : { status: 400, body: { error: { code: 'invalid_field', message: 'expected a nonnegative integer', path: `messages.${index}.uptimeMs`, index } } };
  });
  const { dir, spool, sender, logs } = setup({ url: server.url });
  const sent = [1, 2, 666, 4].map((n) => spool.append(heartbeat(n)));
  assert.equal(await sender.flush(5000), true);
  assert.deepEqual(server.delivered().map((m) => m.seq), [sent[0], sent[1], sent[3]].map((m) => m.seq));
  const name = `${String(sent[2].seq).padStart(20, '0')}.json`;
  assert.deepEqual(rejectedFiles(dir), [name, `${name}.reason`]);
  assert.match(readFileSync(join(dir, 'rejected', `${name}.reason`), 'utf8'), /400 invalid_field.*expected a nonnegative integer at messages\.2\.uptimeMs/);
  assert.ok(logs.some(([level, msg]) => level === 'error' && msg.includes(`seq ${sent[2].seq}`)));
});

test('a 400 without an index quarantines the first message of the batch', async () => {
  const server = await collector(({ n }) => (n === 0 ? { status: 400, body: { error: { code: 'bad', message: 'no' } } } : { status: 200 }));
  const { dir, spool, sender } = setup({ url: server.url });
  const sent = [1, 2, 3].map((n) => spool.append(heartbeat(n)));
  assert.equal(await sender.flush(5000), true);
  assert.deepEqual(server.delivered().map((m) => m.seq), [sent[1].seq, sent[2].seq]);
  assert.ok(rejectedFiles(dir).includes(`${String(sent[0].seq).padStart(20, '0')}.json`));
});

test('a 413 halves the batch until the collector accepts it', async () => {
  const server = await collector(({ messages }) => (messages.length > 2 ? { status: 413, body: { error: { code: 'too_large', message: 'too large' } } } : { status: 200 }));
  const { spool, sender } = setup({ url: server.url, batch: 8 });
  const sent = Array.from({ length: 9 }, (_, i) => spool.append(heartbeat(i)));
  assert.equal(await sender.flush(5000), true);
  assert.deepEqual(server.delivered().map((m) => m.seq), sent.map((m) => m.seq));
  assert.deepEqual(server.requests.slice(0, 3).map((r) => [r.messages.length, r.status]), [[8, 413], [4, 413], [2, 200]]);
  assert.ok(server.requests.slice(2).every((r) => r.messages.length <= 2));
});

test('a single message the collector refuses as too large (413) is quarantined and the others delivered', async () => {
  const server = await collector(({ messages }) => (messages.some((m) => m.kind === 'run') ? { status: 413 } : { status: 200 }));
  const { dir, spool, sender } = setup({ url: server.url });
  const before = spool.append(heartbeat(1));
  const huge = spool.append(bigRun('x'.repeat(50_000)));
  const later = spool.append(heartbeat(2));
  assert.equal(await sender.flush(5000), true);
  assert.deepEqual(server.delivered().map((m) => m.seq), [before.seq, later.seq]);
  assert.match(readFileSync(join(dir, 'rejected', `${String(huge.seq).padStart(20, '0')}.json.reason`), 'utf8'), /too large \(413/);
});

test('batches are cut to keep the body under maxBodyBytes, and a message alone over it is quarantined unsent', async () => {
  const server = await collector();
  const { dir, spool, sender } = setup({ url: server.url, maxBodyBytes: 4000 });
  const sent = Array.from({ length: 6 }, (_, i) => spool.append(bigRun(String(i).repeat(1000))));
  const huge = spool.append(bigRun('y'.repeat(5000)));
  const last = spool.append(heartbeat(1));
  assert.equal(await sender.flush(5000), true);
  assert.ok(server.requests.every((r) => r.bytes <= 4000), `bodies: ${server.requests.map((r) => r.bytes)}`);
  assert.ok(server.requests.length >= 3);
  assert.deepEqual(server.delivered().map((m) => m.seq), [...sent, last].map((m) => m.seq));
  assert.ok(rejectedFiles(dir).includes(`${String(huge.seq).padStart(20, '0')}.json`));
});

test('a 429 waits for Retry-After before the next try', async () => {
  const server = await collector(({ n }) => (n === 0 ? { status: 429, headers: { 'retry-after': '1' } } : { status: 200 }));
  const { spool, sender } = setup({ url: server.url });
  spool.append(heartbeat(1));
  assert.equal(await sender.flush(5000), true);
  assert.equal(server.requests.length, 2);
  const gap = server.requests[1].at - server.requests[0].at;
  assert.ok(gap >= 950, `retried after ${gap} ms (backoff alone would be under 40 ms)`);
});

test('a 401 keeps every message and tells the operator to enroll', async () => {
  const server = await collector();
  const { spool, sender, logs } = setup({ url: server.url, secretKey: generateKeyPair().secretKey });
  [1, 2, 3].map((n) => spool.append(heartbeat(n)));
  sender.start();
  await waitFor('three 401s', () => sender.state().consecutiveFailures >= 3);
  await sender.stop();
  assert.ok(server.requests.every((r) => r.status === 401));
  assert.equal(spool.pending(10).length, 3);
  assert.equal(spool.stats().pending, 3);
  assert.match(sender.state().lastError ?? '', /does not know agent "a1" or its key \(401 unauthorized\): enroll it with `lifeline-agent enroll URL TOKEN`/);
  assert.equal(sender.state().lastRefusal, 'unknown-agent');
  assert.ok(sender.state().consecutiveFailures >= 3);
  assert.ok(logs.some(([level, msg]) => level === 'error' && msg.includes('lifeline-agent enroll')));
});

test('a collector that does not answer within fetchTimeoutMs counts as a failure and the batch is sent again', async () => {
  const server = await collector(({ n }) => (n === 0 ? { status: 200, hang: true } : { status: 200 }));
  const { spool, sender } = setup({ url: server.url, fetchTimeoutMs: 200 });
  const msg = spool.append(heartbeat(1));
  assert.equal(await sender.flush(5000), true);
  assert.deepEqual(server.delivered(), [msg]);
  assert.match(sender.state().lastError ?? '', /no answer within 200 ms/);
});

test('flush returns false when the time is up and the messages stay', async () => {
  const probe = await collector();
  await probe.close();
  const { spool, sender } = setup({ url: probe.url });
  spool.append(heartbeat(1));
  const started = Date.now();
  assert.equal(await sender.flush(300), false);
  assert.ok(Date.now() - started < 1000);
  assert.equal(spool.pending(10).length, 1);
});

test('flush gives up after maxFailures failed tries in a row, long before its timeout', async () => {
  const probe = await collector();
  await probe.close();
  const { spool, sender } = setup({ url: probe.url });
  spool.append(heartbeat(1));
  const started = Date.now();
  assert.equal(await sender.flush(30_000, 2), false);
  assert.ok(Date.now() - started < 5000, `flush took ${Date.now() - started} ms`);
  assert.equal(spool.pending(10).length, 1);
});

test('stop() aborts a request in flight and its messages stay in the spool', async () => {
  const server = await collector(() => ({ status: 200, hang: true }));
  const { spool, sender } = setup({ url: server.url });
  spool.append(heartbeat(1));
  sender.start();
  await waitFor('the request', () => server.requests.length === 1);
  const started = Date.now();
  await sender.stop();
  assert.ok(Date.now() - started < 500, `stop took ${Date.now() - started} ms`);
  assert.equal(spool.pending(10).length, 1);
});

test('a process whose sender was stopped during a backoff exits on its own', async () => {
  const probe = await collector();
  await probe.close();
  const dir = tempDir('lifeline-sender-');
  roots.push(dir);
  const fixture = fileURLToPath(new URL('./fixtures/sender-exit.ts', import.meta.url));
  const child = spawn(process.execPath, ['--import', 'tsx', fixture, dir, probe.url], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.on('data', (c) => (out += c));
  const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
  const [code, signal] = await once(child, 'exit');
  clearTimeout(timer);
  assert.equal(signal, null, 'the process had to be killed: something kept it alive');
  assert.equal(code, 0);
  assert.equal(out.trim(), 'false');
});

// Issue 10, defect 2: one message the collector cannot store (a 500 on its side) held up every
// later report, forever.
test('a message the collector keeps failing on (500) is set aside after bounded tries, and the others are delivered', async () => {
  const poisoned = (m: Message) => m.kind === 'heartbeat' && m.uptimeMs === 666;
  const server = await collector(({ messages }) => (messages.some(poisoned) ? { status: 500, body: { error: { code: 'E_INTERNAL', message: 'internal error; see the collector log' } } } : { status: 200 }));
  const { dir, spool, sender, logs } = setup({ url: server.url });
  const sent = [1, 2, 666, 4, 5].map((n) => spool.append(heartbeat(n)));
  assert.equal(await sender.flush(10_000), true);
  assert.deepEqual(server.delivered().map((m) => m.seq), [sent[0], sent[1], sent[3], sent[4]].map((m) => m.seq));
  const name = `${String(sent[2].seq).padStart(20, '0')}.json`;
  assert.deepEqual(rejectedFiles(dir), [name, `${name}.reason`]);
  assert.match(readFileSync(join(dir, 'rejected', `${name}.reason`), 'utf8'), /the collector failed on it 3 times \(5xx\) while it stores later messages/);
  assert.ok(logs.some(([level, msg]) => level === 'error' && msg.includes(`seq ${sent[2].seq}`) && msg.includes('set aside')));
  assert.ok(server.requests.filter((r) => r.status === 500).length <= 6, 'bounded: a few tries, not forever');
  assert.equal(spool.stats().rejected, 1);
});

test('a collector that fails on every message (500) gets no message set aside', async () => {
  const server = await collector(() => ({ status: 500 }));
  const { dir, spool, sender } = setup({ url: server.url });
  [1, 2, 3].map((n) => spool.append(heartbeat(n)));
  sender.start();
  await waitFor('a dozen failed tries', () => server.requests.length >= 12, 10_000);
  await sender.stop();
  assert.equal(spool.pending(10).length, 3);
  assert.deepEqual(rejectedFiles(dir), []);
});

test('a 503 (the collector cannot store) keeps every message, waits as Retry-After says and tells what it means', async () => {
  let down = true;
  const server = await collector(() =>
    down ? { status: 503, headers: { 'retry-after': '1' }, body: { error: { code: 'E_CANNOT_STORE', message: 'the collector cannot store reports now: disk full' } } } : { status: 200 },
  );
  const { spool, sender, logs } = setup({ url: server.url, baseMs: 1, capMs: 2 });
  const sent = [1, 2].map((n) => spool.append(heartbeat(n)));
  sender.start();
  await waitFor('a 503', () => server.requests.length >= 1, 5000);
  await new Promise((r) => setTimeout(r, 400));
  assert.equal(server.requests.length, 1, 'Retry-After: 1 s, not the 1–2 ms backoff');
  assert.equal(sender.state().lastRefusal, 'cannot-store');
  assert.match(sender.state().lastError ?? '', /the collector cannot store reports now \(503 E_CANNOT_STORE: the collector cannot store reports now: disk full\)/);
  assert.ok(logs.some(([level, msg]) => level === 'error' && /messages stay in the spool/.test(msg)));
  down = false;
  await waitFor('delivery after the 503s, acknowledged', () => server.delivered().length === 2 && spool.pending(10).length === 0, 5000);
  await sender.stop();
  assert.deepEqual(server.delivered().map((m) => m.seq), sent.map((m) => m.seq));
});

test('each request carries its own send time, so the collector can measure the agent\'s clock', async () => {
  let body: { sentAt?: string } = {};
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"accepted":1,"duplicates":0}');
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  cleanups.push(() => server.close());
  const { spool, sender } = setup({ url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` });
  spool.append(heartbeat(1));
  const before = Date.now();
  assert.equal(await sender.flush(5000), true);
  const sentAt = Date.parse(body.sentAt ?? '');
  assert.ok(sentAt >= before - 5 && sentAt <= Date.now(), `body sentAt ${body.sentAt}`);
});
