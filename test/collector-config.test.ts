import assert from 'node:assert/strict';
import { chmodSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { loadCollectorConfig, parseListen } from '../collector/config';
import { ConfigError } from '../shared/config-file';
import { generateKeyPair } from '../shared/signing';
import { tempDir } from './collector-helpers';

const dir = tempDir();
const write = (name: string, text: string) => {
  const file = join(dir, name);
  writeFileSync(file, text);
  return file;
};
const key = Buffer.from(generateKeyPair().publicKey).toString('base64');

function problems(text: string): string[] {
  const file = write('bad.yaml', text);
  try {
    loadCollectorConfig(file);
  } catch (err) {
    assert.ok(err instanceof ConfigError);
    return err.problems.map((p) => `${p.line}:${p.path}: ${p.message}`);
  }
  assert.fail('expected a ConfigError');
}

test('an empty config gets every default', () => {
  assert.deepEqual({ ...loadCollectorConfig(write('empty.yaml', '')) }, {
    listen: '0.0.0.0:9470',
    logLevel: 'warn',
    database: '/var/lib/lifeline-collector/lifeline.db',
    agents: [],
    limits: { bodyBytes: 1_048_576, ratePerSecond: 50, burst: 200 },
    enrollTokenTtl: 86_400_000,
    notify: [],
    rules: {
      grace: 3_600_000,
      silentHeartbeats: 3,
      clockSkew: 300_000,
      capacityPct: 80,
      capacityPctByTarget: {},
      fullWithinDays: 14,
      sizeChangeShare: 0.5,
      durationFactor: 2,
      runningFactor: 3,
      verifyGrace: 86_400_000,
      minRunsForAnomaly: 5,
      snapshotMaxAge: 7 * 86_400_000,
    },
    tiers: {},
    incidents: { reminder: 86_400_000, flap: 300_000, evaluateEvery: 60_000 },
    history: { runs: 90 * 86_400_000, logsPerJob: 30, summaries: 730 * 86_400_000, notifications: 30 * 86_400_000, incidents: 180 * 86_400_000, dedup: 2 * 86_400_000 },
    reports: { weekly: '0 8 * * 1', monthly: '0 8 1 * *' },
    notifyRetry: { base: 30_000, max: 3_600_000, attempts: 10 },
    watchdog: { outboxStuckAfter: 3_600_000, channelFailures: 3 },
    access: { read: 'open' },
    checks: [],
    intake: {},
  });
});

test('the example config from the design loads and is frozen', () => {
  const token = write('ntfy.token', 'tk_AgQdq7mVBoFD37zQVN29RhuMzNIz2\n');
  chmodSync(token, 0o600);
  const cfg = loadCollectorConfig(
    write(
      'good.yaml',
      `listen: 127.0.0.1:9470
database: ${dir}/lifeline.db
agents:
  - { name: pve1, publicKey: "${key}" }
limits: { bodyBytes: 4MiB, ratePerSecond: 5, burst: 20 }
enrollTokenTtl: 2h
notify:
  - { type: ntfy, url: "https://ntfy.example/homelab-backups", tokenFile: ${token} }
publicUrl: https://backups.example
`,
    ),
  );
  assert.equal(cfg.limits.bodyBytes, 4 * 2 ** 20);
  assert.equal(cfg.enrollTokenTtl, 7_200_000);
  assert.equal(cfg.agents[0].publicKey, key);
  assert.ok(Object.isFrozen(cfg) && Object.isFrozen(cfg.agents[0]));
});

test('a missing secret file (admin token, channel token) is a config error naming the key', () => {
  assert.throws(
    () => loadCollectorConfig(write('secrets.yaml', `adminTokenFile: ${dir}/none.token\nnotify:\n  - { type: ntfy, url: "http://127.0.0.1:1/t", tokenFile: ${dir}/none2 }\n`)),
    (err: Error) => /:1:\d+: adminTokenFile: secret file .*none.token is missing/.test(err.message) && /notify.0.tokenFile: secret file/.test(err.message),
  );
});

test('config problems are all reported with their line and key path', () => {
  assert.deepEqual(
    problems(`listen: nowhere
agents:
  - { name: pve1, publicKey: "${key}" }
  - { name: pve1, publicKey: "not-a-key" }
limits:
  bodyBytes: lots
  burst: 0
enrollTokenTtl: soon
extra: 1
`),
    [
      '1:listen: expected HOST:PORT, e.g. "0.0.0.0:9470" or "[::]:9470"',
      '4:agents.1.name: duplicate agent name "pve1"',
      '4:agents.1.publicKey: expected the base64 of a 32-byte Ed25519 public key (as printed by "lifeline-agent keygen")',
      '6:limits.bodyBytes: expected a size like "64MiB", "500MB" or a number of bytes, got "lots"',
      '7:limits.burst: Too small: expected number to be >=1',
      '8:enrollTokenTtl: expected a duration like "90s", "30m", "1h30m" or a number of seconds, got "soon"',
      '9:extra: unknown key',
    ],
  );
});

test('listen addresses parse as host and port', () => {
  const cases: [string, ReturnType<typeof parseListen>][] = [
    ['0.0.0.0:9470', { host: '0.0.0.0', port: 9470 }],
    ['[::]:9470', { host: '::', port: 9470 }],
    ['localhost:0', { host: 'localhost', port: 0 }],
    ['9470', null],
    ['host:70000', null],
    [':9470', null],
  ];
  for (const [input, expected] of cases) assert.deepEqual(parseListen(input), expected, input);
});
