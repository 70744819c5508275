import assert from 'node:assert/strict';
import { chmodSync, chownSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { loadAgentConfig } from '../agent/config';
import { KeyError, loadKey, writeNewKey } from '../agent/keys';
import { redactUrl } from '../collector/routes/access';
import { loadCollectorConfig } from '../collector/config';
import { appriseApi } from '../collector/notify/channels/apprise-api';
import { webhook } from '../collector/notify/channels/webhook';
import { notifyConfigSchema } from '../collector/notify/config';
import { NotifyError, type ChannelIo, type NotificationMessage } from '../collector/notify/types';
import { ConfigError } from '../shared/config-file';
import { AGENT_BIN, COLLECTOR_BIN, Proc, cli, sleep, startCollector, tempDir } from './helpers/processes';

// Issue 10, defect 4: every file that holds a secret, on both sides, is refused at config load
// when its group or others have any permission, through one check with one message. Defect 9
// (part): env values with a secret-looking name, and every envFiles value, never reach a log
// tail; the collector's secrets never reach its log or a notification error.

const dir = tempDir('lifeline-secret-files-');
// Loaded when used, so that each test fails on its own against code without them.
const secretFileProblem = async (file: string) => (await import('../shared/secret-file')).secretFileProblem(file);
const secretEnvName = async (name: string) => (await import('../agent/job-env')).secretEnvName(name);
const isRoot = process.getuid?.() === 0;

function secret(name: string, text: string, mode: number): string {
  const file = join(dir, name);
  writeFileSync(file, text);
  chmodSync(file, mode); // explicit: writeFileSync's mode only applies to a new file, through the umask
  return file;
}

/** The 1-based number of the first line of `yaml` that ends with `needle`. */
const lineOf = (yaml: string, needle: string) => yaml.split('\n').findIndex((l) => l.endsWith(needle)) + 1;

function configProblems(load: () => unknown): ConfigError {
  try {
    load();
  } catch (err) {
    assert.ok(err instanceof ConfigError, String(err));
    return err;
  }
  assert.fail('expected the config to be refused');
}

// Agent ------------------------------------------------------------------------------------

const job = (driver: string, options: string) => `  - name: j
    asset: a
    tier: 2
    target: disk
    driver: ${driver}
    ${driver}:
${options}`;

const agentYaml = (stateDir: string, jobs: string, agentExtra = '') => `agent:
  name: pve1
  stateDir: ${stateDir}
${agentExtra}targets:
  - { name: disk, location: onsite, media: disk }
jobs:
${jobs}`;

// Each secret file the agent config can name: the YAML that names FILE, and the key path.
const AGENT_SECRETS: { what: string; path: string; yaml: (file: string) => string }[] = [
  {
    what: 'envFiles',
    path: 'jobs.0.envFiles.DB_PASSWORD',
    yaml: (f) => `  - name: j\n    asset: a\n    tier: 2\n    target: disk\n    driver: command\n    command: [/bin/true]\n    envFiles:\n      DB_PASSWORD: ${f}\n`,
  },
  { what: 'restic passwordFile', path: 'jobs.0.restic.passwordFile', yaml: (f) => job('restic', `      repository: /srv/restic\n      paths: [/etc]\n      passwordFile: ${f}\n`) },
  { what: 'borg passphraseFile', path: 'jobs.0.borg.passphraseFile', yaml: (f) => job('borg', `      repository: /srv/borg\n      paths: [/etc]\n      passphraseFile: ${f}\n`) },
  { what: 'borgmatic config', path: 'jobs.0.borgmatic.config', yaml: (f) => job('borgmatic', `      config: ${f}\n`) },
  { what: 'postgres passFile', path: 'jobs.0.postgres.passFile', yaml: (f) => job('postgres', `      database: shop\n      dir: /srv/dumps\n      passFile: ${f}\n`) },
  { what: 'mysql optionsFile', path: 'jobs.0.mysql.optionsFile', yaml: (f) => job('mysql', `      database: shop\n      dir: /srv/dumps\n      optionsFile: ${f}\n`) },
  { what: 'mongodb configFile', path: 'jobs.0.mongodb.configFile', yaml: (f) => job('mongodb', `      dir: /srv/dumps\n      configFile: ${f}\n`) },
  { what: 'rclone configFile', path: 'jobs.0.rclone.configFile', yaml: (f) => job('rclone', `      source: /srv/restic\n      destination: "b2:bucket/restic"\n      configFile: ${f}\n`) },
];

for (const row of AGENT_SECRETS) {
  test(`agent ${row.what}: refused at load when others can read it (file, line, mode, chmod 600); accepted at 0600`, () => {
    const file = secret(`agent-${row.path}`, 'correct horse\n', 0o644);
    const yaml = agentYaml(join(dir, 'state'), row.yaml(file));
    const config = join(dir, `agent-${row.path}.yaml`);
    writeFileSync(config, yaml);
    const err = configProblems(() => loadAgentConfig(config));
    assert.deepEqual(
      err.problems.map((p) => [p.line, p.path, p.message]),
      [[lineOf(yaml, file), row.path, `secret file ${file} is readable by other users (mode 0644); run: chmod 600 ${file}`]],
    );
    assert.match(err.message, new RegExp(`^${config}:${lineOf(yaml, file)}:\\d+: ${row.path}: secret file `));
    chmodSync(file, 0o600);
    assert.equal(loadAgentConfig(config).jobs.length, 1);
  });
}

test('agent keyFile: an existing key others can read is refused at load; a missing one is left to keygen', () => {
  const stateDir = join(dir, 'key-state');
  const keyFile = join(stateDir, 'agent.key');
  const yaml = agentYaml(stateDir, job('command', '      argv: [/bin/true]\n'), `  keyFile: ${keyFile}\n`);
  const config = join(dir, 'agent-key.yaml');
  writeFileSync(config, yaml);
  assert.equal(loadAgentConfig(config).keyFile, keyFile, 'no key yet: fine, keygen will write it');
  writeNewKey(keyFile);
  chmodSync(keyFile, 0o644);
  const err = configProblems(() => loadAgentConfig(config));
  assert.deepEqual(
    err.problems.map((p) => [p.line, p.path, p.message]),
    [[lineOf(yaml, `keyFile: ${keyFile}`), 'agent.keyFile', `secret file ${keyFile} is readable by other users (mode 0644); run: chmod 600 ${keyFile}`]],
  );
  // The agent checks again before signing, with the same words.
  assert.throws(() => loadKey(keyFile), (e: unknown) => e instanceof KeyError && e.message === err.problems[0].message);
  chmodSync(keyFile, 0o600);
  assert.equal(loadKey(keyFile).publicKey.length, 32);
  assert.equal(loadAgentConfig(config).keyFile, keyFile);
});

// Collector --------------------------------------------------------------------------------

const COLLECTOR_SECRETS: { what: string; path: string; yaml: (file: string, other: string) => string }[] = [
  { what: 'adminTokenFile', path: 'adminTokenFile', yaml: (f) => `adminTokenFile: ${f}\n` },
  { what: 'access.tokenFile', path: 'access.tokenFile', yaml: (f) => `access:\n  read: token\n  tokenFile: ${f}\n` },
  { what: 'access.usersFile', path: 'access.usersFile', yaml: (f) => `access:\n  read: basic\n  usersFile: ${f}\n` },
  { what: 'ntfy tokenFile', path: 'notify.0.tokenFile', yaml: (f) => `notify:\n  - type: ntfy\n    url: https://ntfy.example/backups\n    tokenFile: ${f}\n` },
  { what: 'ntfy userFile', path: 'notify.0.userFile', yaml: (f, o) => `notify:\n  - type: ntfy\n    url: https://ntfy.example/backups\n    userFile: ${f}\n    passwordFile: ${o}\n` },
  { what: 'ntfy passwordFile', path: 'notify.0.passwordFile', yaml: (f, o) => `notify:\n  - type: ntfy\n    url: https://ntfy.example/backups\n    userFile: ${o}\n    passwordFile: ${f}\n` },
  { what: 'webhook tokenFile', path: 'notify.0.tokenFile', yaml: (f) => `notify:\n  - type: webhook\n    url: https://hooks.example/lifeline\n    tokenFile: ${f}\n` },
  { what: 'apprise-api urlsFile', path: 'notify.0.urlsFile', yaml: (f) => `notify:\n  - type: apprise-api\n    url: http://apprise:8000/notify/\n    urlsFile: ${f}\n` },
  { what: 'apprise-cli urlsFile', path: 'notify.0.urlsFile', yaml: (f) => `notify:\n  - type: apprise-cli\n    urlsFile: ${f}\n` },
];

for (const row of COLLECTOR_SECRETS) {
  test(`collector ${row.what}: refused at load when others can read it (file, line, mode, chmod 600); accepted at 0600`, () => {
    const file = secret(`collector-${row.what.replace(/\W/g, '-')}`, 'tk_s3cret\n', 0o644);
    const other = secret(`collector-${row.what.replace(/\W/g, '-')}-other`, 'phil\n', 0o600);
    const yaml = `database: ${join(dir, 'db', 'lifeline.db')}\n${row.yaml(file, other)}`;
    const config = join(dir, `collector-${row.what.replace(/\W/g, '-')}.yaml`);
    writeFileSync(config, yaml);
    const err = configProblems(() => loadCollectorConfig(config));
    assert.deepEqual(
      err.problems.map((p) => [p.line, p.path, p.message]),
      [[lineOf(yaml, file), row.path, `secret file ${file} is readable by other users (mode 0644); run: chmod 600 ${file}`]],
    );
    assert.match(err.message, new RegExp(`^${config}:${lineOf(yaml, file)}:\\d+: ${row.path}: secret file `));
    chmodSync(file, 0o600);
    assert.ok(loadCollectorConfig(config));
  });
}

// The rule itself ---------------------------------------------------------------------------

test('a group-readable secret (0640) is refused too, and so is any group or other bit', async () => {
  for (const [mode, words] of [
    [0o640, 'readable by other users (mode 0640)'],
    [0o604, 'readable by other users (mode 0604)'],
    [0o620, 'open to other users (mode 0620)'],
    [0o601, 'open to other users (mode 0601)'],
  ] as const) {
    const file = secret(`mode-${mode.toString(8)}`, 'x\n', mode);
    assert.equal((await secretFileProblem(file))?.message, `secret file ${file} is ${words}; run: chmod 600 ${file}`);
  }
  for (const mode of [0o600, 0o400]) assert.equal(await secretFileProblem(secret(`mode-${mode.toString(8)}`, 'x\n', mode)), null);
});

test('a secret file owned by another non-root user is refused (the owner can read and replace it)', { skip: !isRoot && 'needs root to give a file away' }, async () => {
  const file = secret('foreign', 'x\n', 0o600);
  chownSync(file, 65534, 65534);
  assert.equal((await secretFileProblem(file))?.message, `secret file ${file} belongs to uid 65534, who can read and replace it; run: chown root ${file}`);
  // Root's files are fine for any user Lifeline runs as (if that user can read them at all).
  chownSync(file, 0, 0);
  assert.equal(await secretFileProblem(file), null);
});

test('a missing secret file, or a directory, is refused', async () => {
  assert.equal((await secretFileProblem(join(dir, 'none')))?.message, `secret file ${join(dir, 'none')} is missing or not readable`);
  mkdirSync(join(dir, 'a-dir'), { mode: 0o700 });
  assert.equal((await secretFileProblem(join(dir, 'a-dir')))?.message, `secret file ${join(dir, 'a-dir')} is not a regular file`);
});

// The built CLIs ----------------------------------------------------------------------------

test('lifeline-agent check-config exits 2 naming config line, secret file, mode and chmod 600', () => {
  const file = secret('cli-restic.pass', 'correct horse\n', 0o644);
  const yaml = agentYaml(join(dir, 'cli-state'), job('restic', `      repository: /srv/restic\n      paths: [/etc]\n      passwordFile: ${file}\n`));
  const config = join(dir, 'cli-agent.yaml');
  writeFileSync(config, yaml);
  const r = cli(AGENT_BIN, ['check-config', '--config', config]);
  assert.equal(r.code, 2, r.stderr);
  assert.match(r.stderr, new RegExp(`${config}:${lineOf(yaml, file)}:\\d+: jobs\\.0\\.restic\\.passwordFile: secret file ${file} is readable by other users \\(mode 0644\\); run: chmod 600 ${file}`));
  chmodSync(file, 0o600);
  assert.equal(cli(AGENT_BIN, ['check-config', '--config', config]).code, 0);
});

test('lifeline-collector serve refuses to start with a world-readable admin token', async () => {
  const file = secret('cli-admin.token', 'admin-s3cret\n', 0o644);
  const config = join(dir, 'cli-collector.yaml');
  writeFileSync(config, `listen: 127.0.0.1:0\ndatabase: ${join(dir, 'cli-db', 'lifeline.db')}\nadminTokenFile: ${file}\n`);
  const serve = new Proc(COLLECTOR_BIN, ['serve', '--config', config]);
  const code = await Promise.race([serve.exited, sleep(15_000).then(() => 'still running')]);
  if (code === 'still running') await serve.stop('SIGKILL');
  assert.equal(code, 2, serve.output);
  assert.equal(serve.output, `${config}:3:17: adminTokenFile: secret file ${file} is readable by other users (mode 0644); run: chmod 600 ${file}\n`);
});

// Env redaction (defect 9) ------------------------------------------------------------------

test('secret-looking env names: PASS, PWD, SECRET, TOKEN, KEY, CREDENTIAL, AUTH, PRIVATE; not PWD or OLDPWD', async () => {
  const table: [string, boolean][] = [
    ['API_KEY', true], ['AWS_SECRET_ACCESS_KEY', true], ['AWS_ACCESS_KEY_ID', true], ['MY_CREDENTIAL', true], ['GOOGLE_APPLICATION_CREDENTIALS', true],
    ['BASIC_AUTH', true], ['PGPASSWORD', true], ['FTP_PASSWD', true], ['MYSQL_PWD', true], ['GITHUB_TOKEN', true], ['SSH_PRIVATE', true], ['db_password', true],
    ['PWD', false], ['OLDPWD', false], ['PATH', false], ['TZ', false], ['HOME', false], ['RESTIC_REPOSITORY', false],
  ];
  assert.deepEqual(await Promise.all(table.map(async ([name]) => [name, await secretEnvName(name)])), table);
});

test('a run through the built agent redacts env values with secret names and every envFiles value, not PWD', () => {
  const values = { API_KEY: 'k-api-4711', AWS_SECRET_ACCESS_KEY: 'aws-s3cret-0815', MY_CREDENTIAL: 'cred-c0ffee', BASIC_AUTH: 'user:pw-beef', PWD: '/tmp' };
  const fromFile = secret('anything.env', 'from-file-f00d\n', 0o600);
  const stateDir = join(dir, 'env-state');
  const echo = 'for v in API_KEY AWS_SECRET_ACCESS_KEY MY_CREDENTIAL BASIC_AUTH PWD ANYTHING; do eval "echo $v=\\$$v"; done';
  const yaml = agentYaml(
    stateDir,
    `  - name: envjob
    asset: a
    tier: 2
    target: disk
    driver: command
    command: [sh, -c, '${echo}']
    workdir: /tmp
    env: ${JSON.stringify(values)}
    envFiles: { ANYTHING: ${fromFile} }
`,
  );
  const config = join(dir, 'env-agent.yaml');
  writeFileSync(config, yaml);
  const r = cli(AGENT_BIN, ['run', 'envjob', '--config', config]);
  assert.equal(r.code, 0, r.stderr + r.stdout);
  const spool = join(stateDir, 'spool');
  const runs = readdirSync(spool)
    .filter((f) => f.endsWith('.json'))
    .map((f) => JSON.parse(readFileSync(join(spool, f), 'utf8')) as { kind: string; logTail?: string })
    .filter((m) => m.kind === 'run');
  assert.equal(runs.length, 1);
  assert.equal(
    runs[0].logTail,
    'API_KEY=[REDACTED]\nAWS_SECRET_ACCESS_KEY=[REDACTED]\nMY_CREDENTIAL=[REDACTED]\nBASIC_AUTH=[REDACTED]\nPWD=/tmp\nANYTHING=[REDACTED]\n',
  );
});

// The collector's own secrets ---------------------------------------------------------------

test('request logs blank the read token however the query spells its name', () => {
  assert.equal(redactUrl('/assets/etc?token=s3cret'), '/assets/etc?token=REDACTED');
  assert.equal(redactUrl('/?a=1&TOKEN=s3cret&b=2'), '/?a=1&TOKEN=REDACTED&b=2');
  // Fastify decodes the name: %74oken is "token", and signs the browser in just the same.
  assert.equal(redactUrl('/?%74oken=s3cret'), '/?%74oken=REDACTED');
  assert.equal(redactUrl('/?t%6Fken=s3cret&token=again'), '/?t%6Fken=REDACTED&token=REDACTED');
  assert.equal(redactUrl('/api/v1/status'), '/api/v1/status');
});

test("the serving collector's log never shows the read token, the admin token or basic credentials", async () => {
  const readToken = secret('log-read.token', 'read-s3cret-42\n', 0o600);
  const adminToken = secret('log-admin.token', 'admin-s3cret-43\n', 0o600);
  // logLevel info: a line per request, the log that could show them.
  const c = await startCollector(`logLevel: info\nadminTokenFile: ${adminToken}\naccess:\n  read: token\n  tokenFile: ${readToken}\n`);
  try {
    for (const [url, headers] of [
      ['/?token=read-s3cret-42', { accept: 'text/html' }],
      ['/?%74oken=read-s3cret-42', { accept: 'text/html' }],
      ['/api/v1/overview', { authorization: 'Bearer read-s3cret-42' }],
      ['/api/v1/overview', { authorization: `Basic ${Buffer.from('u:basic-s3cret-44').toString('base64')}` }],
    ] as const) {
      await fetch(`${c.url}${url}`, { headers, redirect: 'manual' });
    }
    await fetch(`${c.url}/api/v1/incidents/1/ack`, { method: 'POST', headers: { authorization: 'Bearer admin-s3cret-43', 'content-type': 'application/json' }, body: '{}' });
    await fetch(`${c.url}/api/v1/incidents/1/ack`, { method: 'POST', headers: { authorization: 'Bearer wrong-admin-45', 'content-type': 'application/json' }, body: '{}' });
  } finally {
    await c.stop();
  }
  for (const s of ['read-s3cret-42', 'admin-s3cret-43', 'basic-s3cret-44', 'wrong-admin-45', Buffer.from('u:basic-s3cret-44').toString('base64')]) {
    assert.ok(!c.proc.output.includes(s), `${s} in the collector's log`);
  }
  assert.match(c.proc.output, /"url":"\/\?%74oken=REDACTED"/, 'the requests were logged');
  assert.match(c.proc.output, /"url":"\/api\/v1\/incidents\/1\/ack"/);
});

// Notification errors become last_error and log lines: they must not quote a credential.

const message: NotificationMessage = { event: 'open', severity: 'critical', title: 't', body: 'b', tags: [] };
const io: ChannelIo = { fetch: globalThis.fetch, readSecret: async (p) => readFileSync(p, 'utf8').trim(), timeoutMs: 5_000 };

let answer: { status: number; body: string } = { status: 200, body: '' };
const server = http.createServer((req, res) => {
  req.resume();
  req.on('end', () => res.writeHead(answer.status).end(answer.body));
});
const serverUrl = new Promise<string>((resolve) => server.listen(0, '127.0.0.1', () => resolve(`http://127.0.0.1:${(server.address() as { port: number }).port}`)));
after(() => server.close());

async function failure(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof NotifyError, String(err));
    return err.message;
  }
  assert.fail('expected the delivery to fail');
}

test('a channel URL with a password fails without quoting the password', async () => {
  const base = (await serverUrl).replace('http://', 'http://lifeline:url-pa55@');
  const msg = await failure(webhook.send(message, { url: `${base}/hook?token=q-s3cret` }, io));
  assert.match(msg, /^webhook: cannot reach http:\/\/127\.0\.0\.1:\d+\/hook: /);
  assert.doesNotMatch(msg, /url-pa55|q-s3cret/);
});

test('a token fetch refuses as a header value is not quoted in the error', async () => {
  const tokenFile = secret('two-lines.token', 'tok-line-one\ntok-line-two\n', 0o600);
  const msg = await failure(webhook.send(message, { url: `${await serverUrl}/hook`, tokenFile }, io));
  assert.match(msg, /^webhook: cannot reach /);
  assert.doesNotMatch(msg, /tok-line/);
});

test('an error page echoing a URL with credentials is quoted without them', async () => {
  answer = { status: 400, body: 'bad callback https://cb:echo-pa55@hooks.example/cb?token=echo-t0k and ntfys://tk_echo@ntfy.example/x' };
  const msg = await failure(webhook.send(message, { url: `${await serverUrl}/hook` }, io));
  answer = { status: 200, body: '' };
  assert.equal(msg, 'webhook answered HTTP 400: bad callback https://hooks.example/cb and ntfys://(redacted)');
});

test("apprise-api's 204 names its URL without the query's token", async () => {
  answer = { status: 204, body: '' };
  const msg = await failure(appriseApi.send(message, { url: `${await serverUrl}/notify/backups?token=apprise-t0k` }, io));
  answer = { status: 200, body: '' };
  assert.match(msg, /^apprise-api: no configuration stored for http:\/\/127\.0\.0\.1:\d+\/notify\/backups; /);
});

test('a channel URL holding a user name or password is refused at load: collector.yaml is no secret file', () => {
  const r = notifyConfigSchema.safeParse([{ type: 'ntfy', url: 'https://phil:pa55@ntfy.example/backups' }]);
  assert.ok(!r.success);
  assert.deepEqual(
    r.error.issues.map((i) => [i.path.join('.'), i.message]),
    [['0.url', "the URL must not hold a user name or password; put them in the channel's secret files (tokenFile, userFile/passwordFile)"]],
  );
});
