import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { COLLECTOR_BIN, cliAsync, freePort, tempDir } from './helpers/processes';

// `lifeline-collector notify test` (the built collector) against loopback receivers: an
// ntfy-compatible server answering as ntfy's publish API does (200 with the message as JSON),
// one answering 500, and a port where nothing listens.

interface Received {
  url: string;
  headers: IncomingMessage['headers'];
  body: string;
}

function receiver(status: number, answer: (r: Received) => string): Promise<{ server: Server; url: string; got: Received[] }> {
  const got: Received[] = [];
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (d) => (body += d));
    req.on('end', () => {
      const r = { url: req.url ?? '', headers: req.headers, body };
      got.push(r);
      res.writeHead(status, { 'content-type': 'application/json' }).end(answer(r));
    });
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({ server, url: `http://127.0.0.1:${(server.address() as { port: number }).port}`, got })));
}

let ok: Awaited<ReturnType<typeof receiver>>;
let failing: Awaited<ReturnType<typeof receiver>>;
let config: string;
let nobody: number;

before(async () => {
  ok = await receiver(200, (r) => JSON.stringify({ id: 'hDh2kOfkW9Gj', time: 1796010000, expires: 1796053200, event: 'message', topic: r.url.slice(1), message: r.body.slice(0, 40) }));
  failing = await receiver(500, () => '{"code":50001,"http":500,"error":"internal server error"}');
  nobody = await freePort();
  const dir = tempDir('lifeline-notify-test-');
  config = join(dir, 'collector.yaml');
  writeFileSync(
    config,
    `listen: 127.0.0.1:${await freePort()}
database: ${join(dir, 'lifeline.db')}
notify:
  - { name: phone, type: ntfy, url: "${ok.url}/homelab-backups", minSeverity: critical }
  - { name: broken, type: ntfy, url: "${failing.url}/backups" }
  - { name: gone, type: webhook, url: "http://127.0.0.1:${nobody}/hook" }
`,
  );
});
after(() => {
  ok.server.close();
  failing.server.close();
});

test('a test through every channel: one line each with what the receiver answered, exit 1 when one failed', async () => {
  const r = await cliAsync(COLLECTOR_BIN, ['notify', 'test', '--config', config]);
  assert.equal(r.code, 1, r.stderr);
  const lines = r.stdout.trimEnd().split('\n');
  assert.equal(lines.length, 3, r.stdout);
  assert.match(lines[0], /^ok\s+phone \(ntfy\)\s+HTTP 200: \{"id":"hDh2kOfkW9Gj".*"event":"message","topic":"homelab-backups"/);
  assert.match(lines[1], /^FAILED\s+broken \(ntfy\)\s+ntfy answered HTTP 500: \{"code":50001,"http":500,"error":"internal server error"\}/);
  assert.match(lines[2], new RegExp(`^FAILED\\s+gone \\(webhook\\)\\s+webhook: cannot reach http://127\\.0\\.0\\.1:${nobody}/hook: .*ECONNREFUSED`));
  assert.match(r.stderr, /2 of 3 channel\(s\) failed/);
  // A channel's routing (minSeverity: critical) does not hold the test back; ntfy got it as ntfy takes it.
  assert.equal(ok.got.length, 1);
  assert.equal(ok.got[0].url, '/homelab-backups');
  assert.equal(ok.got[0].headers['x-title'], 'Lifeline test notification');
  assert.match(ok.got[0].body, /Sent by `lifeline-collector notify test`/);
  assert.equal(failing.got.length, 1);
});

test('notify test CHANNEL sends through that one only, exit 0 when it worked', async () => {
  const before = { ok: ok.got.length, failing: failing.got.length };
  const r = await cliAsync(COLLECTOR_BIN, ['notify', 'test', 'phone', '--config', config]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^ok\s+phone \(ntfy\)\s+HTTP 200: /);
  assert.equal(r.stdout.trimEnd().split('\n').length, 1);
  assert.deepEqual({ ok: ok.got.length, failing: failing.got.length }, { ok: before.ok + 1, failing: before.failing });
});

test('notify test CHANNEL with a failing channel exits 1; an unknown name is a usage error listing the names', async () => {
  const failed = await cliAsync(COLLECTOR_BIN, ['notify', 'test', 'broken', '--config', config]);
  assert.equal(failed.code, 1);
  assert.match(failed.stdout, /^FAILED\s+broken \(ntfy\)\s+ntfy answered HTTP 500/);
  const unknown = await cliAsync(COLLECTOR_BIN, ['notify', 'test', 'pager', '--config', config]);
  assert.equal(unknown.code, 2);
  assert.match(unknown.stderr, /no notify channel named "pager"; configured: phone, broken, gone/);
});
