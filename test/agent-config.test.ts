import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { loadAgentConfig } from '../agent/config';
import { ConfigError } from '../shared/config-file';
import { DEFAULT_TIERS } from '../shared/tiers';
import { tempDir } from './helpers/temp';

const dir = tempDir('lifeline-config-');
const write = (name: string, text: string) => {
  const file = join(dir, name);
  writeFileSync(file, text);
  return file;
};

const GOOD = `agent:
  name: pve1
  collector: http://127.0.0.1:9470
  stateDir: ${dir}/state
targets:
  - { name: usb-ssd, location: onsite, media: usb }
tiers:
  1: { retention: { daily: 14 } }
jobs:
  - name: etc-archive
    asset: pve1-etc
    tier: 2
    target: usb-ssd
    driver: command
    command: [tar, -czf, /tmp/etc.tgz, /etc]
    timeout: 30m
  - name: db-dump
    asset: postgres
    tier: 1
    target: usb-ssd
    driver: command
    command: { argv: [pg_dumpall], warningExitCodes: [3] }
`;

test('resolves tier defaults and overrides, targets and durations, and freezes the result', () => {
  const cfg = loadAgentConfig(write('good.yaml', GOOD));
  const [etc, db] = cfg.jobs;
  assert.equal(etc.schedule, DEFAULT_TIERS[2].schedule);
  assert.deepEqual(etc.retention, DEFAULT_TIERS[2].retention);
  assert.deepEqual(db.retention, { daily: 14 });
  assert.equal(etc.timeoutMs, 30 * 60_000);
  assert.deepEqual(etc.target, { name: 'usb-ssd', location: 'onsite', media: 'usb' });
  assert.deepEqual(etc.options, { argv: ['tar', '-czf', '/tmp/etc.tgz', '/etc'], warningExitCodes: [] });
  assert.equal(cfg.keyFile, `${dir}/state/agent.key`);
  assert.ok(Object.isFrozen(cfg) && Object.isFrozen(cfg.jobs[0]));
});

test('reports every problem at once with file, line and key path', () => {
  const file = write(
    'bad.yaml',
    `agent:
  name: pve1
  heartbeat: 10x
targets:
  - { name: usb, location: onsite, media: floppy }
jobs:
  - name: etc
    asset: etc
    tier: 5
    target: usbx
    driver: command
    command: [tar]
    bogus: 1
  - name: two
    asset: a
    tier: 1
    target: usb
    driver: nope
`,
  );
  let err: unknown;
  try {
    loadAgentConfig(file);
  } catch (e) {
    err = e;
  }
  assert.ok(err instanceof ConfigError);
  const got = err.problems.map((p) => `${p.line} ${p.path}`);
  assert.deepEqual(got, ['3 agent.heartbeat', '5 targets.0.media', '9 jobs.0.tier', '10 jobs.0.target', '13 jobs.0.bogus', '18 jobs.1.driver']);
  assert.match(err.message, new RegExp(`^${file}:3:14: agent.heartbeat: expected a duration`));
  assert.match(err.message, /jobs.0.tier: expected a tier number 1..4/);
});

test('a missing secret file is a config error before anything runs', () => {
  const file = write('secret.yaml', GOOD.replace('    timeout: 30m\n', `    timeout: 30m\n    envFiles: { PGPASSWORD: ${dir}/missing.pass }\n`));
  assert.throws(() => loadAgentConfig(file), /jobs.0.envFiles.PGPASSWORD: secret file .*missing.pass is missing or not readable/);
});

test('YAML syntax errors and a missing file name the file', () => {
  assert.throws(() => loadAgentConfig(write('syntax.yaml', 'agent: [\n')), /syntax.yaml:\d+:\d+: YAML syntax/);
  assert.throws(() => loadAgentConfig(join(dir, 'nope.yaml')), /nope.yaml: cannot read config: file not found/);
});
