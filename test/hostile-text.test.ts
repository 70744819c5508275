import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { main } from '../collector/cli';
import { collectorConfig, rulesConfig, tierPolicies } from '../collector/config';
import type { Db } from '../collector/db';
import { Evaluator } from '../collector/evaluate/evaluator';
import { appriseArgv } from '../collector/notify/channels/apprise-cli';
import { CHANNELS } from '../collector/notify/channels/index';
import type { ChannelIo, NotificationMessage } from '../collector/notify/types';
import { buildReport, reportMessage } from '../collector/reports';
import { restoreRunbook, shellQuote } from '../collector/runbook/index';
import { markdownText, visibleText } from '../shared/display-text';
import type { Unsequenced } from '../shared/protocol';
import { TestAgent, catalogJob, hello, run, tempDir, testCollector, type TestCollector } from './collector-helpers';

// Issue 10: control and bidirectional characters, and markup, that an agent sends in its free-text
// fields (errors, log tails, snapshot ids, restore facts, mounts, disks, host name, version) reach
// every output neutralised: pages, /metrics, restore commands, reports, notifications, the CLI.

// Listed by hand from the issue, not taken from the code under test: C0 but newline and tab, DEL,
// C1, the Arabic letter mark, zero-width characters and LRM/RLM, the bidi embeddings and overrides,
// word joiner to the bidi isolates, the BOM, line and paragraph separators.
const RAW = /[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff\u2028\u2029]/u;
const RAW_OR_LAYOUT = /[\x00-\x1f\x7f-\x9f\u061c\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff\u2028\u2029]/u;

/** A file name that reads "…exe" backwards, a bell, a colour escape, C1 CSI and NEL, isolates, markup and markdown. */
const EVIL =
  'gpj.\u202Eexe\x07\x1b[31m\x9b2J\x85\u2066\u200F<script>alert(1)</script> *bold* _it_ `code` | pipe [link](http://x.example) &amp; \x7f';
/** The same with a NUL, for the fields no shell word has to carry. */
const EVIL_NUL = `${EVIL}\0tail`;
/** For the fields of at most 64 characters (the agent's version). */
const SHORT = 'v1.\u202Eexe\x07\x1b[31m\x9b\0<b>';

const firstRaw = (text: string, re = RAW) => {
  const m = re.exec(text);
  return m ? `U+${m[0].codePointAt(0)!.toString(16).padStart(4, '0')} at ${m.index}: …${JSON.stringify(text.slice(Math.max(0, m.index - 40), m.index + 40))}…` : '';
};
const noRaw = (text: string, where: string, re = RAW) => assert.equal(firstRaw(text, re), '', `${where} holds a raw control or bidi character`);

async function hostile(): Promise<TestCollector> {
  const agent = new TestAgent('pve1');
  const config = { notify: [{ type: 'webhook', url: 'http://127.0.0.1:9/hook' }], publicUrl: 'https://lifeline.lan/' };
  const c = testCollector([agent], config);
  const jobs = [
    catalogJob('etc', { asset: 'etc', driver: 'restic', restore: { repository: `/srv/${EVIL}`, passwordFile: `/etc/${EVIL}.pass` } }),
    catalogJob('files', { asset: 'files', driver: 'paths', restore: { dir: `/mnt/${EVIL}`, paths: '/etc', compress: 'zstd' } }),
    catalogJob('vm101', { asset: 'vm101', driver: 'command', restore: { kind: 'qemu', vmid: `10${EVIL}`, runbook: `qm start 101\nqm set 101 --name ${EVIL}` } }),
  ];
  const messages = [
    agent.msg({ ...hello(jobs), hostname: EVIL_NUL, version: SHORT } as Unsequenced),
    agent.msg(run('etc', randomUUID(), { status: 'failure', exitCode: 1, error: EVIL_NUL, logTail: `first line\n\tindented ${EVIL_NUL}\n`, snapshotId: EVIL })),
    agent.msg({ kind: 'inventory', job: 'etc', target: 'usb-ssd', snapshots: [{ id: EVIL, time: '2025-01-01T02:04:00.000Z' }] }),
    agent.msg({
      kind: 'host',
      filesystems: [{ mount: `/mnt/${EVIL_NUL}`, fs: EVIL, type: 'ext4', sizeBytes: 1000, usedBytes: 990 }],
      disks: [{ device: `/dev/sd${EVIL}`, model: EVIL, smartOk: false, detail: EVIL_NUL }],
    }),
  ];
  const res = await c.app.inject(agent.report({ messages }));
  assert.equal(res.statusCode, 200, res.body);
  const cfg = collectorConfig(config);
  new Evaluator({ db: c.db, tiers: tierPolicies(cfg), rules: rulesConfig(cfg), channels: cfg.notify, publicUrl: cfg.publicUrl, reminderMs: 86_400_000, flapMs: 0 }).pass(c.clock.now, true);
  return c;
}

const get = async (c: TestCollector, url: string) => {
  const res = await c.app.inject({ method: 'GET', url });
  assert.equal(res.statusCode, 200, `${url}: ${res.body.slice(0, 300)}`);
  return res;
};

// ---- the one module that neutralises ----

test('visibleText shows each control and bidi character as a visible stand-in, keeping newline and tab only in multi-line text', () => {
  const table: [string, string, string][] = [
    ['a\u202Eb', 'a\\u202Eb', 'a\\u202Eb'],
    ['bell\x07 esc\x1b[0m nul\0 del\x7f', 'bell␇ esc␛[0m nul␀ del␡', 'bell␇ esc␛[0m nul␀ del␡'],
    ['c1\x85\x9b', 'c1\\u0085\\u009B', 'c1\\u0085\\u009B'],
    ['line\nnext\ttab\r', 'line␊next␉tab␍', 'line\nnext\ttab␍'],
    ['tag\u{E0041} lone\ud800', 'tag\\u{E0041} lone\\uD800', 'tag\\u{E0041} lone\\uD800'],
    ['plain ünïcødé 💾 and ␛', 'plain ünïcødé 💾 and ␛', 'plain ünïcødé 💾 and ␛'],
  ];
  for (const [raw, single, multi] of table) {
    assert.equal(visibleText(raw), single, JSON.stringify(raw));
    assert.equal(visibleText(raw, { multiline: true }), multi, JSON.stringify(raw));
    assert.equal(visibleText(single), single, 'neutralising twice changes nothing');
  }
});

test('markdownText escapes markup, markdown metacharacters, table pipes and line breaks of agent text', () => {
  const table: [string, string][] = [
    ['<script>alert(1)</script>', '&lt;script&gt;alert(1)&lt;/script&gt;'],
    ['*b* _i_ `c` [l](u) ~s~ a|b \\', '\\*b\\* \\_i\\_ \\`c\\` \\[l\\](u) \\~s\\~ a\\|b \\\\'],
    ['# heading', '\\# heading'],
    ['- item', '\\- item'],
    ['1. first', '1\\. first'],
    ['two\nlines\r\nin a cell', 'two lines in a cell'],
    ['R&D \u202E', 'R&amp;D \\\\u202E'],
  ];
  for (const [raw, md] of table) assert.equal(markdownText(raw), md, JSON.stringify(raw));
});

test('shellQuote writes a value with control characters in $\'…\' form: visible ASCII that bash turns back into the exact bytes', () => {
  const values = [EVIL, 'tab\there', 'new\nline', "quote ' and \\ backslash \x1b", 'ü\u202E'];
  for (const v of values) assert.match(shellQuote(v), /^\$'[\x20-\x7e]*'$/, JSON.stringify(v));
  assert.equal(shellQuote('plain words'), "'plain words'", 'no control character: single quotes as before');
  const r = spawnSync('bash', ['-c', `printf '%s\\0' ${values.map(shellQuote).join(' ')}`], { env: { ...process.env, LC_ALL: 'C' } });
  assert.equal(r.status, 0, String(r.stderr));
  assert.deepEqual(r.stdout.toString('utf8').split('\0').slice(0, -1), values);
  assert.throws(() => shellQuote('a\0b'), /NUL/, 'no shell word can carry a NUL: refused, not truncated');
});

test('restore facts with a NUL give notes only: no command could pass the value', () => {
  const book = restoreRunbook({ driver: 'restic', agent: 'pve1', job: 'etc', asset: 'etc', restore: { repository: '/srv/a\0b', passwordFile: '/p' }, snapshot: null });
  assert.deepEqual(book.commands, []);
  assert.match(book.notes.join(' '), /NUL/);
});

// ---- through the real ingest path ----

test('pages hold no raw control or bidi character and mark each one visibly; the log tail keeps only its newlines and tabs', async () => {
  const c = await hostile();
  for (const url of ['/', '/assets/etc', '/assets/files', '/assets/vm101', '/incidents', '/reports']) {
    const html = (await get(c, url)).body;
    noRaw(html, url);
    assert.ok(!html.includes('<script>alert'), `${url} carries the agent's markup`);
  }
  const asset = (await get(c, '/assets/etc')).body;
  assert.match(asset, /<mark class=ctl title='U\+202E RIGHT-TO-LEFT OVERRIDE'>\\u202E<\/mark>/, 'the override is shown and named');
  assert.match(asset, /<mark class=ctl title='U\+0007 BEL control character, U\+001B ESC control character'>␇␛<\/mark>\[31m/);
  const overview = (await get(c, '/')).body;
  assert.match(overview, /aria-label="\/mnt\/gpj\.\\u202Eexe␇␛\[31m/, 'in an attribute: the plain visible form, no markup');
  const run = (await get(c, '/api/v1/assets/etc')).json().runs[0].runId as string;
  const log = (await get(c, `/api/v1/runs/${run}/log`)).json().run;
  noRaw(log.logTail, 'log tail');
  noRaw(log.error, 'error');
  assert.ok(log.logTail.startsWith('first line\n\tindented gpj.\\u202Eexe␇␛[31m'), log.logTail);
  assert.ok(log.logTail.includes('␀tail'));
});

test('the JSON API carries agent text unchanged as data, with no raw control or bidi byte on the wire (curl into a terminal)', async () => {
  const c = await hostile();
  for (const url of ['/api/v1/status', '/api/v1/overview', '/api/v1/assets/etc', '/api/v1/incidents']) {
    const body = (await get(c, url)).body;
    noRaw(body, url);
  }
  const status = (await get(c, '/api/v1/status')).json() as { agents: { hostname: string }[] };
  assert.equal(status.agents[0].hostname, EVIL_NUL, 'parsed back, the value is what the agent sent');
});

test('/metrics label values hold no raw control or bidi character and promtool accepts the exposition', async () => {
  const c = await hostile();
  const text = (await get(c, '/metrics')).body;
  noRaw(text, '/metrics');
  assert.match(text, /mount="\/mnt\/gpj\.\\\\u202Eexe␇␛\[31m/, 'the mount label shows the characters (its backslash escaped for the format)');
  const r = spawnSync('/usr/bin/promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
  assert.equal(r.status, 0, `${r.stdout}${r.stderr}`);
});

const hex = (s: string) => Buffer.from(s, 'utf8').toString('hex');
/** Stub tools: each prints every argument (and for restic its two variables) as hex, one per line. */
const STUBS = `
hexargs() { for a in "$@"; do printf '%s' "$a" | od -An -tx1 -v | tr -d ' \\n'; echo; done; }
restic() { hexargs "$RESTIC_REPOSITORY" "$RESTIC_PASSWORD_FILE" "$@"; }
tar() { hexargs "$@"; }
qmrestore() { hexargs "$@"; }
mkdir() { :; }
ls() { printf '%s\\n' "\${@: -1}"; }
grep() { cat; }
`;

function runInBash(command: string): string[] {
  const r = spawnSync('bash', ['-c', `${STUBS}\n${command}`], { encoding: 'utf8', env: { PATH: process.env.PATH, LC_ALL: 'C' } });
  assert.equal(r.status, 0, `${command}\n${r.stderr}`);
  return r.stdout.trim().split('\n');
}

test('runbook commands are visible ASCII and, pasted into bash, pass the exact agent-supplied bytes to the tools', async () => {
  const c = await hostile();
  const books = async (asset: string) => (await get(c, `/api/v1/assets/${asset}`)).json().runbooks as { commands: string[]; notes: string[]; title: string }[];
  const all = [...(await books('etc')), ...(await books('files')), ...(await books('vm101'))];
  for (const b of all) for (const command of b.commands) assert.match(command, /^[\x20-\x7e]+$/, `not plain visible ASCII: ${JSON.stringify(command)}`);

  const [etc] = await books('etc');
  assert.equal(etc.commands.length, 1);
  assert.deepEqual(runInBash(etc.commands[0]), [`/srv/${EVIL}`, `/etc/${EVIL}.pass`, 'restore', EVIL, '--target', '/restore/etc'].map(hex));

  const [files] = await books('files');
  const extract = files.commands.find((x) => x.startsWith('tar '))!;
  assert.ok(runInBash(extract).includes(hex(`--file=/mnt/${EVIL}/files-????????T??????Z.tar.zst`)), extract);

  const [vm] = await books('vm101');
  const restore = vm.commands.find((x) => x.startsWith('qmrestore '))!;
  assert.equal(runInBash(restore).at(-1), hex(`10${EVIL}`));
  assert.ok(vm.commands.includes('qm start 101'), 'a clean runbook line stays a command');
  assert.ok(!vm.commands.some((x) => x.startsWith('qm set')), 'a runbook line with control characters is not offered as a command');
  assert.match(vm.notes.join('\n'), /qm set 101 --name gpj\.\\u202Eexe␇␛/, 'it is shown, visibly, in a note');
});

test('the weekly report markdown escapes agent text and holds no raw control or bidi character', async () => {
  const c = await hostile();
  const { markdown } = (await get(c, '/api/v1/reports/week')).json();
  noRaw(markdown, 'report markdown');
  assert.ok(!markdown.includes('<script>'), markdown);
  assert.match(markdown, /&lt;script&gt;alert\(1\)&lt;\/script&gt; \\\*bold\\\* \\_it\\_ \\`code\\` \\\| pipe \\\[link\\\]/);
});

function outbox(db: Db): NotificationMessage[] {
  return (db.prepare('SELECT payload FROM outbox ORDER BY id').all() as { payload: string }[]).map((r) => JSON.parse(r.payload));
}

/** RFC 2047 encoded words undone, as ntfy does. */
const decodeHeader = (v: string) => v.replace(/=\?UTF-8\?B\?([^?]*)\?=/g, (_, b64: string) => Buffer.from(b64, 'base64').toString('utf8'));

test('incident and report notifications escape agent markup and carry no raw control or bidi character on any channel', async () => {
  const c = await hostile();
  const messages = [...outbox(c.db), reportMessage(buildReport(c.db, collectorConfig(), 'week', c.clock.now), 'https://lifeline.lan/')];
  assert.ok(messages.length >= 3, `incidents queued: ${messages.map((m) => m.title).join(' | ')}`);
  assert.ok(messages.some((m) => m.body.includes('&lt;script&gt;')), 'an incident quotes the agent error');
  const sent: { headers: Record<string, string>; body: string }[] = [];
  const io: ChannelIo = {
    fetch: (async (_url: string, init: { headers: Record<string, string>; body: string }) => {
      sent.push({ headers: init.headers, body: init.body });
      return new Response('{}', { status: 200 });
    }) as unknown as typeof fetch,
    readSecret: async () => 'secret',
    timeoutMs: 1000,
  };
  for (const m of messages) {
    sent.length = 0;
    await CHANNELS.ntfy.send(m, { url: 'http://ntfy.test/backups' }, io);
    await CHANNELS['apprise-api'].send(m, { url: 'http://apprise.test/notify/k' }, io);
    await CHANNELS.webhook.send(m, { url: 'http://hook.test/' }, io);
    const [ntfy, apprise, hook] = sent;
    noRaw(decodeHeader(ntfy.headers['X-Title']), 'ntfy title', RAW_OR_LAYOUT);
    noRaw(ntfy.body, 'ntfy body');
    const a = JSON.parse(apprise.body);
    noRaw(a.title, 'apprise title', RAW_OR_LAYOUT);
    noRaw(a.body, 'apprise body');
    noRaw(hook.body, 'webhook JSON text');
    noRaw(JSON.parse(hook.body).title, 'webhook title', RAW_OR_LAYOUT);
    for (const body of [ntfy.body, a.body]) assert.ok(!body.includes('<script>'), body);
    for (const arg of appriseArgv(m, { urls: ['json://localhost'], command: 'apprise' })) noRaw(arg, 'apprise argv');
  }
});

test('lifeline-collector agents prints an agent version with an escape sequence as visible text', async () => {
  const c = await hostile();
  const file = join(tempDir(), 'collector.yaml');
  writeFileSync(file, `database: ${c.file}\n`);
  let out = '';
  assert.equal(await main(['agents', '--config', file], { out: (t) => (out += t), err: () => {} }), 0);
  noRaw(out, 'CLI output', RAW);
  assert.match(out, /v1\.\\u202Eexe␇␛\[31m\\u009B␀<b>/);
});
