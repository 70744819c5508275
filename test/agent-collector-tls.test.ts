import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { pinMismatch } from '../agent/collector-tls';
import { collectorTls, saveEnrollment } from '../agent/collector-url';
import { loadAgentConfig } from '../agent/config';
import { ConfigError } from '../shared/config-file';
import { tempDir } from './helpers/processes';

// How the agent trusts an https:// collector: agent.collectorFingerprint, agent.collectorCa,
// or the pin given to `enroll --fingerprint`.

const FP_A = Array.from({ length: 32 }, (_, i) => (i * 7).toString(16).padStart(2, '0').toUpperCase()).join(':');
const FP_B = Array.from({ length: 32 }, (_, i) => (255 - i).toString(16).padStart(2, '0').toUpperCase()).join(':');

function config(agentYaml: string) {
  const dir = tempDir('lifeline-agent-tls-');
  const file = join(dir, 'agent.yaml');
  writeFileSync(file, `agent:\n  name: pve1\n  stateDir: ${join(dir, 'state')}\n${agentYaml}`);
  return { dir, file, stateDir: join(dir, 'state') };
}

function problems(file: string): string[] {
  try {
    loadAgentConfig(file);
    return [];
  } catch (err) {
    assert.ok(err instanceof ConfigError, String(err));
    return err.problems.map((p) => `${p.path}: ${p.message}`);
  }
}

test('collectorFingerprint takes 32 hex pairs (stored upper case); collectorCa an absolute path; not both', () => {
  const ok = config(`  collector: https://10.0.0.5:9470\n  collectorFingerprint: "${FP_A.toLowerCase()}"\n`);
  assert.equal(loadAgentConfig(ok.file).collectorFingerprint, FP_A);
  assert.deepEqual(problems(config(`  collectorFingerprint: "AA:BB"\n`).file), [
    'agent.collectorFingerprint: expected the SHA-256 fingerprint as 32 hex pairs separated by ":" (lifeline-collector tls fingerprint prints it)',
  ]);
  assert.deepEqual(problems(config(`  collectorCa: ca.pem\n`).file).length, 1);
  assert.deepEqual(problems(config(`  collectorFingerprint: "${FP_A}"\n  collectorCa: /etc/lifeline/ca.pem\n`).file), ['agent.collectorCa: use either collectorFingerprint or collectorCa, not both']);
});

test('trust: the config first, else the pin of the enrollment with that same collector, else the system CAs', () => {
  const cases: { yaml: string; enrolled: { collector: string; fingerprint?: string } | null; want: object }[] = [
    { yaml: `  collectorFingerprint: "${FP_A}"\n`, enrolled: { collector: 'https://c:9470', fingerprint: FP_B }, want: { fingerprint: FP_A } },
    { yaml: `  collectorCa: /etc/lifeline/ca.pem\n`, enrolled: { collector: 'https://c:9470', fingerprint: FP_B }, want: { caFile: '/etc/lifeline/ca.pem' } },
    { yaml: '', enrolled: { collector: 'https://c:9470/', fingerprint: FP_B }, want: { fingerprint: FP_B } },
    { yaml: `  collector: https://c:9470\n`, enrolled: { collector: 'https://c:9470', fingerprint: FP_B }, want: { fingerprint: FP_B } },
    // Pointed elsewhere since enrolling: that pin is not for this collector.
    { yaml: `  collector: https://other:9470\n`, enrolled: { collector: 'https://c:9470', fingerprint: FP_B }, want: {} },
    { yaml: '', enrolled: { collector: 'https://c:9470' }, want: {} },
    { yaml: '', enrolled: null, want: {} },
  ];
  for (const c of cases) {
    const { file, stateDir } = config(c.yaml);
    mkdirSync(stateDir, { recursive: true });
    if (c.enrolled) saveEnrollment(stateDir, { ...c.enrolled, agent: 'pve1', enrolledAt: '2026-11-30T04:00:00.000Z' });
    assert.deepEqual(collectorTls(loadAgentConfig(file)), c.want, JSON.stringify(c));
  }
});

test('a pin mismatch names both fingerprints and says nothing was sent; case and spaces do not matter', () => {
  assert.equal(pinMismatch('https://c:9470', FP_A.toLowerCase(), ` ${FP_A} `), null);
  assert.equal(
    pinMismatch('https://c:9470', FP_B, FP_A),
    `the collector at https://c:9470 presented a certificate with SHA-256 fingerprint ${FP_B}, not the pinned ${FP_A} (agent.collectorFingerprint): nothing was sent. If the collector's certificate was replaced, read the new fingerprint on the collector with: lifeline-collector tls fingerprint`,
  );
  assert.match(pinMismatch('https://c:9470', undefined, FP_A) ?? '', /presented a certificate with SHA-256 fingerprint \(no certificate\)/);
});
