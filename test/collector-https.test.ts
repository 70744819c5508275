import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { get } from 'node:https';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { createServer, type TLSSocket } from 'node:tls';
import { AGENT_BIN, COLLECTOR_BIN, Proc, cli, cliAsync, freePort, tempDir, waitFor, writeAgentConfig } from './helpers/processes';

// The built collector serving HTTPS with a certificate from `lifeline-collector tls generate`
// (the real openssl CLI), and the built agent enrolling and reporting to it with the pinned
// fingerprint that `token create` printed: real processes, real TLS on loopback.

interface TlsCollector {
  url: string;
  dir: string;
  config: string;
  cert: Buffer;
  fingerprint: string;
  proc: Proc;
}

async function startTlsCollector(): Promise<TlsCollector> {
  const dir = tempDir('lifeline-https-');
  const port = await freePort();
  const config = join(dir, 'collector.yaml');
  writeFileSync(config, `listen: 127.0.0.1:${port}\ndatabase: ${join(dir, 'lifeline.db')}\n`);
  const gen = cli(COLLECTOR_BIN, ['tls', 'generate', '--config', config]);
  assert.equal(gen.code, 0, gen.stderr);
  const fingerprint = gen.stdout.trim();
  const tlsDir = join(dir, 'tls');
  writeFileSync(config, `${readFileSync(config, 'utf8')}tls:\n  certFile: ${tlsDir}/cert.pem\n  keyFile: ${tlsDir}/key.pem\n`);
  const proc = new Proc(COLLECTOR_BIN, ['serve', '--config', config]);
  const url = `https://127.0.0.1:${port}`;
  await waitFor('the collector listening on https', () => proc.output.includes(`listening on ${url}`));
  return { url, dir, config, cert: readFileSync(join(tlsDir, 'cert.pem')), fingerprint, proc };
}

/** GET over HTTPS trusting only the collector's own certificate (its SAN holds 127.0.0.1). */
function getJson(c: TlsCollector, path: string): Promise<unknown> {
  return new Promise((resolve, reject) => {
    get(`${c.url}${path}`, { ca: c.cert }, (res) => {
      let text = '';
      res.on('data', (d) => (text += d));
      res.on('end', () => resolve(JSON.parse(text)));
    }).on('error', reject);
  });
}

const JOB = `  - { name: etc, asset: etc, tier: 2, target: local-disk, driver: command, command: [true] }\n`;

let a: TlsCollector;
let b: TlsCollector;
before(async () => {
  [a, b] = await Promise.all([startTlsCollector(), startTlsCollector()]);
});
after(async () => {
  await Promise.all([a?.proc.stop(), b?.proc.stop()]);
});

test('tls generate writes a private P-256 pair whose fingerprint openssl agrees with', () => {
  for (const f of ['cert.pem', 'key.pem']) assert.equal(statSync(join(a.dir, 'tls', f)).mode & 0o777, 0o600, f);
  assert.match(a.fingerprint, /^[0-9A-F]{2}(:[0-9A-F]{2}){31}$/);
  const ossl = spawnSync('openssl', ['x509', '-in', join(a.dir, 'tls', 'cert.pem'), '-noout', '-fingerprint', '-sha256', '-ext', 'subjectAltName'], { encoding: 'utf8' });
  assert.match(ossl.stdout, new RegExp(`sha256 Fingerprint=${a.fingerprint}`, 'i'));
  assert.match(ossl.stdout, /IP Address:127\.0\.0\.1/);
  const key = spawnSync('openssl', ['pkey', '-in', join(a.dir, 'tls', 'key.pem'), '-noout', '-text'], { encoding: 'utf8' });
  assert.match(key.stdout, /prime256v1/);
  const printed = cli(COLLECTOR_BIN, ['tls', 'fingerprint', '--config', a.config]);
  assert.equal(printed.stdout.trim(), a.fingerprint);
  assert.notEqual(a.fingerprint, b.fingerprint);
});

test('an agent enrolls with the command token create printed and reports over HTTPS with the pinned fingerprint', async () => {
  const agent = writeAgentConfig({ name: 'pve1', jobs: JOB });
  const token = cli(COLLECTOR_BIN, ['token', 'create', 'pve1', '--config', a.config]);
  assert.equal(token.code, 0, token.stderr);
  const line = /^\s*lifeline-agent (enroll .*)$/m.exec(token.stderr)?.[1];
  assert.ok(line, token.stderr);
  assert.equal(line, `enroll ${a.url} ${token.stdout.trim()} --fingerprint ${a.fingerprint}`);
  const enroll = await cliAsync(AGENT_BIN, [...line.split(' '), '--config', agent.config]);
  assert.equal(enroll.code, 0, enroll.stderr + enroll.stdout);
  assert.equal(JSON.parse(readFileSync(join(agent.stateDir, 'enrollment.json'), 'utf8')).fingerprint, a.fingerprint);
  const run = await cliAsync(AGENT_BIN, ['run', 'etc', '--config', agent.config]);
  assert.equal(run.code, 0, run.stderr + run.stdout);
  const status = (await getJson(a, '/api/v1/status')) as { jobs: { agent: string; name: string; lastRun: { status: string } | null }[] };
  assert.equal(status.jobs.find((j) => j.agent === 'pve1' && j.name === 'etc')?.lastRun?.status, 'success');
  const doctor = await cliAsync(AGENT_BIN, ['doctor', '--config', agent.config]);
  assert.match(doctor.stdout, /^ok\s+key accepted\s+the collector knows agent "pve1"/m);
  // The daemon reports through the same pinned connection.
  const since = Date.now();
  const daemon = new Proc(AGENT_BIN, ['daemon', '--config', agent.config]);
  try {
    await waitFor('the daemon\'s first report over HTTPS', async () => {
      const s = (await getJson(a, '/api/v1/status')) as { agents: { name: string; lastSeen: string | null }[] };
      const seen = s.agents.find((x) => x.name === 'pve1')?.lastSeen;
      return seen && Date.parse(seen) >= since;
    }, 30_000, 250);
  } finally {
    await daemon.stop();
  }
  assert.doesNotMatch(daemon.output, /certificate|fingerprint/i);
});

test('an agent pinned to one collector refuses another: its token stays unused, nothing is stored, the error names both fingerprints', async () => {
  const agent = writeAgentConfig({ name: 'nas1', jobs: JOB });
  const token = cli(COLLECTOR_BIN, ['token', 'create', 'nas1', '--config', b.config]).stdout.trim();
  // B's URL with A's fingerprint: B is the impostor here.
  const refused = await cliAsync(AGENT_BIN, ['enroll', b.url, token, '--fingerprint', a.fingerprint, '--config', agent.config]);
  assert.equal(refused.code, 1);
  assert.match(refused.stderr, new RegExp(`presented a certificate with SHA-256 fingerprint ${b.fingerprint}, not the pinned ${a.fingerprint} \\(agent.collectorFingerprint\\): nothing was sent`));
  // Without a pin, B's self-signed certificate fails the system CAs: the error says how to pin it.
  const unpinned = await cliAsync(AGENT_BIN, ['enroll', b.url, token, '--config', agent.config]);
  assert.equal(unpinned.code, 1);
  assert.match(unpinned.stderr, /failed the certificate check: self[- ]signed certificate.*enroll --fingerprint FP \(token create prints it\).*nothing was sent/);
  // The token never reached B: it still enrolls the agent once the right fingerprint is given.
  const ok = await cliAsync(AGENT_BIN, ['enroll', b.url, token, '--fingerprint', b.fingerprint, '--config', agent.config]);
  assert.equal(ok.code, 0, ok.stderr);
  // Now pinned to A in agent.yaml (over the enrollment's pin) while reporting to B: refused, spooled.
  writeFileSync(agent.config, readFileSync(agent.config, 'utf8').replace('agent:\n', `agent:\n  collectorFingerprint: "${a.fingerprint.toLowerCase()}"\n`));
  const run = await cliAsync(AGENT_BIN, ['run', 'etc', '--config', agent.config]);
  assert.match(run.stderr, /not the pinned .*nothing was sent.*the report stays in the spool/s);
  const status = (await getJson(b, '/api/v1/status')) as { jobs: { agent: string }[] };
  assert.equal(status.jobs.filter((j) => j.agent === 'nas1').length, 0);
});

test('a pinned agent sends not one byte to a server whose certificate does not match', async () => {
  // A bare TLS server with B's certificate, counting every byte it receives after the handshake.
  let received = 0;
  let connections = 0;
  const server = createServer({ cert: b.cert, key: readFileSync(join(b.dir, 'tls', 'key.pem')) }, (s: TLSSocket) => {
    s.on('data', (d: Buffer) => (received += d.length));
    s.on('error', () => {});
  });
  server.on('connection', () => connections++);
  server.on('tlsClientError', () => {});
  const port = await new Promise<number>((r) => server.listen(0, '127.0.0.1', () => r((server.address() as { port: number }).port)));
  try {
    const agent = writeAgentConfig({ name: 'pve2', collector: `https://127.0.0.1:${port}`, jobs: JOB, extraAgent: `  collectorFingerprint: "${a.fingerprint}"\n` });
    assert.equal(cli(AGENT_BIN, ['keygen', '--config', agent.config]).code, 0);
    const run = await cliAsync(AGENT_BIN, ['run', 'etc', '--config', agent.config]);
    assert.match(run.stderr, new RegExp(`fingerprint ${b.fingerprint}, not the pinned ${a.fingerprint}`));
    assert.ok(connections >= 1, 'the agent did connect');
    assert.equal(received, 0);
  } finally {
    server.close();
  }
});

test('a CA file instead of a pin: the collector\'s own certificate vouches for it; another collector\'s is refused', async () => {
  const agent = writeAgentConfig({ name: 'ca1', collector: a.url, jobs: JOB, extraAgent: `  collectorCa: ${join(a.dir, 'tls', 'cert.pem')}\n` });
  assert.equal(cli(AGENT_BIN, ['keygen', '--config', agent.config]).code, 0);
  const doctor = await cliAsync(AGENT_BIN, ['doctor', '--config', agent.config]);
  assert.match(doctor.stdout, /^ok\s+collector\s+https:/m);
  assert.match(doctor.stdout, /^PROBLEM\s+key accepted\s+refused \(401 E_UNKNOWN_AGENT\)/m);
  writeFileSync(agent.config, readFileSync(agent.config, 'utf8').replace(a.url, b.url));
  const other = await cliAsync(AGENT_BIN, ['doctor', '--config', agent.config]);
  assert.match(other.stdout, /^PROBLEM\s+collector\s+.*failed the certificate check: .*\(checked against agent.collectorCa .*\); nothing was sent/m);
});
