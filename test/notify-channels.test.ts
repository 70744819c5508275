import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { afterEach, beforeEach, test } from 'node:test';
import { appriseApi } from '../collector/notify/channels/apprise-api';
import { appriseCli } from '../collector/notify/channels/apprise-cli';
import { CHANNELS } from '../collector/notify/channels/index';
import { NTFY_MAX_BYTES, ntfy } from '../collector/notify/channels/ntfy';
import { webhook } from '../collector/notify/channels/webhook';
import { readSecretFile } from '../collector/notify/outbox';
import { NotifyError, type ChannelIo, type NotificationMessage } from '../collector/notify/types';
import { ntfyError, ntfyOk, startServer, tempDir, type Received, type TempDir, type TestServer } from './fixtures/notify-helpers';

const io: ChannelIo = { fetch: globalThis.fetch, readSecret: async (p) => (await readFile(p, 'utf8')).trim(), timeoutMs: 10_000 };

const msg = (over: Partial<NotificationMessage> = {}): NotificationMessage => ({
  event: 'open',
  severity: 'critical',
  title: '[home] restic-home missed its 02:00 run',
  body: 'No run since **2025-01-14 02:00**.',
  tags: ['missed-run', 'home', 'tier1'],
  clickUrl: 'https://lifeline.lan/',
  asset: 'home',
  tier: 1,
  ...over,
});

let tmp: TempDir;
let server: TestServer;
let reply: (r: Received) => { status: number; body?: unknown };
beforeEach(async () => {
  tmp = tempDir();
  reply = ntfyOk;
  server = await startServer((r) => reply(r));
});
afterEach(async () => {
  await server.close();
  tmp.cleanup();
});

async function rejection(p: Promise<unknown>): Promise<NotifyError> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof NotifyError, String(err));
    return err;
  }
  assert.fail('expected a NotifyError');
}

test('the registry holds every channel under its own type', () => {
  for (const [type, channel] of Object.entries(CHANNELS)) assert.equal(channel.type, type);
});

// ntfy

test('ntfy: publishes to the topic URL with title, priority, tags, click and markdown headers', async () => {
  await ntfy.send(msg(), { url: `${server.url}/backups` }, io);
  const [r] = server.received;
  assert.equal(r.method, 'POST');
  assert.equal(r.url, '/backups');
  assert.equal(r.body, 'No run since **2025-01-14 02:00**.');
  assert.equal(r.headers['x-title'], '[home] restic-home missed its 02:00 run');
  assert.equal(r.headers['x-priority'], '5');
  assert.equal(r.headers['x-tags'], 'rotating_light,missed-run,home,tier1');
  assert.equal(r.headers['x-click'], 'https://lifeline.lan/');
  assert.equal(r.headers['x-markdown'], 'yes');
  assert.equal(r.headers.authorization, undefined);
});

test('ntfy: maps events and severities to priorities and emoji tags', async () => {
  const table: [Partial<NotificationMessage>, string, string][] = [
    [{ severity: 'critical' }, '5', 'rotating_light'],
    [{ severity: 'warning' }, '4', 'warning'],
    [{ severity: 'info' }, '3', 'information_source'],
    [{ event: 'reminder', severity: 'warning' }, '4', 'warning'],
    [{ event: 'resolved' }, '2', 'white_check_mark'],
    [{ event: 'report', severity: 'info' }, '3', 'clipboard'],
  ];
  for (const [over] of table) await ntfy.send(msg({ ...over, tags: [] }), { url: `${server.url}/t` }, io);
  assert.deepEqual(
    server.received.map((r) => [r.headers['x-priority'], r.headers['x-tags']]),
    table.map(([, p, t]) => [p, t]),
  );
});

test('ntfy: sends the token from tokenFile as Bearer', async () => {
  const tokenFile = tmp.file('ntfy.token', 'tk_AgQdq7mVBoFD37zQVN29RhuMzNIz2\n');
  await ntfy.send(msg(), { url: `${server.url}/t`, tokenFile }, io);
  assert.equal(server.received[0].headers.authorization, 'Bearer tk_AgQdq7mVBoFD37zQVN29RhuMzNIz2');
});

test('ntfy: sends Basic auth from userFile and passwordFile', async () => {
  const userFile = tmp.file('user', 'phil\n');
  const passwordFile = tmp.file('pass', 'mypass\n');
  await ntfy.send(msg(), { url: `${server.url}/t`, userFile, passwordFile }, io);
  assert.equal(server.received[0].headers.authorization, `Basic ${Buffer.from('phil:mypass').toString('base64')}`);
});

test('ntfy: truncates the body to 4096 bytes without splitting a character', async () => {
  await ntfy.send(msg({ body: 'é'.repeat(5000) }), { url: `${server.url}/t` }, io);
  const body = server.received[0].body;
  assert.ok(Buffer.byteLength(body) <= NTFY_MAX_BYTES);
  assert.ok(Buffer.byteLength(body) > NTFY_MAX_BYTES - 20);
  assert.match(body, /é\n…\(truncated\)$/);
});

test('ntfy: encodes a non-ASCII title as an RFC 2047 word', async () => {
  await ntfy.send(msg({ title: 'Sauvegarde échouée' }), { url: `${server.url}/t` }, io);
  assert.equal(server.received[0].headers['x-title'], `=?UTF-8?B?${Buffer.from('Sauvegarde échouée').toString('base64')}?=`);
});

test('ntfy: a 429 is retryable, a 400 is not, and both quote ntfy\'s error', async () => {
  reply = () => ntfyError(429, 42901, 'limit reached: too many requests');
  const limited = await rejection(ntfy.send(msg(), { url: `${server.url}/t` }, io));
  assert.equal(limited.retryable, true);
  assert.match(limited.message, /HTTP 429.*too many requests/);
  reply = () => ntfyError(400, 40001, 'invalid request');
  const bad = await rejection(ntfy.send(msg(), { url: `${server.url}/t` }, io));
  assert.equal(bad.retryable, false);
  assert.equal(bad.status, 400);
});

test('ntfy: an unreadable token file fails without retry and names only the path', async () => {
  const err = await rejection(ntfy.send(msg(), { url: `${server.url}/t`, tokenFile: `${tmp.dir}/missing` }, { ...io, readSecret: readSecretFile }));
  assert.equal(err.retryable, false);
  assert.match(err.message, /cannot read secret file .*missing: ENOENT/);
});

// Apprise API

test('apprise-api: posts title, body, type and markdown format to the stateful key URL', async () => {
  reply = () => ({ status: 200, body: 'Notification(s) sent.' });
  await appriseApi.send(msg({ severity: 'warning' }), { url: `${server.url}/notify/backups`, tag: 'phone' }, io);
  const [r] = server.received;
  assert.equal(r.url, '/notify/backups');
  assert.equal(r.headers['content-type'], 'application/json');
  assert.deepEqual(JSON.parse(r.body), {
    title: '[home] restic-home missed its 02:00 run',
    body: 'No run since **2025-01-14 02:00**.\n\n[Open in Lifeline](https://lifeline.lan/)',
    type: 'warning',
    format: 'markdown',
    tag: 'phone',
  });
});

test('apprise-api: maps events and severities to Apprise types', async () => {
  reply = () => ({ status: 200 });
  const table: [Partial<NotificationMessage>, string][] = [
    [{ severity: 'critical' }, 'failure'],
    [{ severity: 'warning' }, 'warning'],
    [{ severity: 'info' }, 'info'],
    [{ event: 'resolved' }, 'success'],
    [{ event: 'report', severity: 'info' }, 'info'],
  ];
  for (const [over] of table) await appriseApi.send(msg(over), { url: `${server.url}/notify/k` }, io);
  assert.deepEqual(
    server.received.map((r) => JSON.parse(r.body).type),
    table.map(([, t]) => t),
  );
});

test('apprise-api: stateless mode sends the URLs read from urlsFile', async () => {
  reply = () => ({ status: 200 });
  const urlsFile = tmp.file('apprise.urls', '# phone\nntfys://tk_secret@ntfy.example/backups\n\nmailto://u:p@example.com\n');
  await appriseApi.send(msg(), { url: `${server.url}/notify/`, urlsFile }, io);
  assert.equal(JSON.parse(server.received[0].body).urls, 'ntfys://tk_secret@ntfy.example/backups mailto://u:p@example.com');
});

test('apprise-api: 204 (no config for the key) is not retryable', async () => {
  reply = () => ({ status: 204 });
  const err = await rejection(appriseApi.send(msg(), { url: `${server.url}/notify/nokey` }, io));
  assert.equal(err.retryable, false);
  assert.match(err.message, /no configuration stored/);
});

test('apprise-api: 424 (a service failed) is retryable, 431 (too large) is not', async () => {
  reply = () => ({ status: 424, body: 'One or more notification could not be sent.' });
  assert.equal((await rejection(appriseApi.send(msg(), { url: `${server.url}/notify/k` }, io))).retryable, true);
  reply = () => ({ status: 431 });
  assert.equal((await rejection(appriseApi.send(msg(), { url: `${server.url}/notify/k` }, io))).retryable, false);
});

// Apprise CLI (the real apprise 1.2.0 from Debian)

test('apprise-cli: delivers through the real apprise to a json:// URL from urlsFile', async () => {
  reply = () => ({ status: 200 });
  const urlsFile = tmp.file('apprise.txt', `json://${server.url.slice('http://'.length)}/lifeline\n`);
  await appriseCli.send(msg(), { urlsFile, command: 'apprise' }, io);
  const [r] = server.received;
  assert.equal(r.url, '/lifeline');
  const body = JSON.parse(r.body);
  assert.equal(body.title, '[home] restic-home missed its 02:00 run');
  assert.equal(body.type, 'failure');
  assert.match(body.message, /No run since \*\*2025-01-14 02:00\*\*/);
});

test('apprise-cli: delivers to an ntfy:// URL given inline', async () => {
  await appriseCli.send(msg({ event: 'resolved', title: '-starts with a dash' }), { urls: [`ntfy://${server.url.slice('http://'.length)}/backups`], command: 'apprise' }, io);
  const body = JSON.parse(server.received[0].body);
  assert.equal(body.topic, 'backups');
  assert.equal(body.title, '-starts with a dash');
});

test('apprise-cli: a failed delivery is retryable and its error never shows the URL\'s token', async () => {
  reply = () => ({ status: 500 });
  const urlsFile = tmp.file('apprise.txt', `json://user:s3cr3t-t0ken@${server.url.slice('http://'.length)}/x\n`);
  const err = await rejection(appriseCli.send(msg(), { urlsFile, command: 'apprise' }, io));
  assert.equal(err.retryable, true);
  assert.match(err.message, /exited with code 1/);
  assert.doesNotMatch(err.message, /s3cr3t/);
});

test('apprise-cli: a missing executable is not retryable', async () => {
  const err = await rejection(appriseCli.send(msg(), { urls: ['json://127.0.0.1:1/'], command: `${tmp.dir}/no-apprise` }, io));
  assert.equal(err.retryable, false);
  assert.match(err.message, /ENOENT/);
});

// Webhook

test('webhook: posts the message as JSON with the bearer token from tokenFile', async () => {
  reply = () => ({ status: 204 });
  const tokenFile = tmp.file('hook.token', 'abc123\n');
  await webhook.send(msg(), { url: `${server.url}/hook`, tokenFile }, io);
  const [r] = server.received;
  assert.equal(r.headers.authorization, 'Bearer abc123');
  assert.deepEqual(JSON.parse(r.body), msg());
});

test('webhook: 5xx is retryable, 4xx is not', async () => {
  reply = () => ({ status: 502 });
  assert.equal((await rejection(webhook.send(msg(), { url: `${server.url}/hook` }, io))).retryable, true);
  reply = () => ({ status: 404 });
  assert.equal((await rejection(webhook.send(msg(), { url: `${server.url}/hook` }, io))).retryable, false);
});
