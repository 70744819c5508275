import assert from 'node:assert/strict';
import { chmodSync, copyFileSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { ConfigError } from '../shared/config-file';
import { loadCollectorConfig } from '../collector/config';
import { certFingerprint, generateSelfSigned, subjectAltNames } from '../collector/tls';
import { tempDir } from './helpers/processes';

// collector.yaml's tls: { certFile, keyFile }: a pair the server cannot use is refused at load
// with the key named; generation runs the real openssl CLI.

function configWith(dir: string, tls: { certFile: string; keyFile: string }): string {
  const file = join(dir, 'collector.yaml');
  writeFileSync(file, `database: ${join(dir, 'lifeline.db')}\ntls:\n  certFile: ${tls.certFile}\n  keyFile: ${tls.keyFile}\n`);
  return file;
}

function problems(file: string): string[] {
  try {
    loadCollectorConfig(file);
    return [];
  } catch (err) {
    assert.ok(err instanceof ConfigError, String(err));
    return err.problems.map((p) => `${p.path}: ${p.message}`);
  }
}

test('a generated pair loads; refusals: missing certificate, key of another certificate, key readable by others', () => {
  const dir = tempDir('lifeline-tls-config-');
  const a = generateSelfSigned(join(dir, 'a'), { names: ['backup.home.arpa', '10.0.0.5'] });
  const b = generateSelfSigned(join(dir, 'b'));
  assert.equal(a.fingerprint, certFingerprint(readFileSync(a.certFile)));
  assert.deepEqual(problems(configWith(dir, a)), []);
  assert.deepEqual(problems(configWith(dir, { certFile: join(dir, 'none.pem'), keyFile: a.keyFile })), [
    `tls.certFile: cannot read a PEM certificate from ${join(dir, 'none.pem')}: no such file; make one with: lifeline-collector tls generate`,
  ]);
  assert.deepEqual(problems(configWith(dir, { certFile: a.certFile, keyFile: b.keyFile })), [`tls.keyFile: ${b.keyFile} is not the private key of the certificate in ${a.certFile}`]);
  const open = join(dir, 'open-key.pem');
  copyFileSync(a.keyFile, open);
  chmodSync(open, 0o644);
  assert.deepEqual(problems(configWith(dir, { certFile: a.certFile, keyFile: open })), [`tls.keyFile: secret file ${open} is readable by other users (mode 0644); run: chmod 600 ${open}`]);
});

test('generate refuses to replace a pair unless forced, and the new pair has a new fingerprint', () => {
  const dir = join(tempDir('lifeline-tls-gen-'), 'tls');
  const first = generateSelfSigned(dir);
  assert.throws(() => generateSelfSigned(dir), /exists already; pass --force/);
  const second = generateSelfSigned(dir, { force: true });
  assert.notEqual(second.fingerprint, first.fingerprint);
  assert.equal(statSync(dir).mode & 0o777, 0o700);
  for (const f of [second.certFile, second.keyFile]) assert.equal(statSync(f).mode & 0o777, 0o600);
});

test('without openssl the error says which package to install', () => {
  assert.throws(() => generateSelfSigned(join(tempDir('lifeline-tls-none-'), 'tls'), { openssl: '/nonexistent/openssl' }), /cannot generate a certificate: openssl is not installed \(apt install openssl\)/);
});

test('the certificate names this host, localhost, loopback and the names asked for', () => {
  assert.equal(subjectAltNames(['backup.home.arpa', '10.0.0.5', 'fd00::5'], 'pve1.home.arpa'), 'DNS:pve1.home.arpa,DNS:pve1,DNS:localhost,IP:127.0.0.1,IP:::1,DNS:backup.home.arpa,IP:10.0.0.5,IP:fd00::5');
  assert.equal(subjectAltNames([], 'nas'), 'DNS:nas,DNS:localhost,IP:127.0.0.1,IP:::1');
});
