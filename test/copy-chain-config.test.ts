import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { helloMessage } from '../agent/catalog';
import { loadAgentConfig } from '../agent/config';
import { ConfigError } from '../shared/config-error';
import { helloSchema } from '../shared/protocol';
import { writeTokenFile } from './helpers/pbs';
import { tempDir } from './helpers/processes';

// `source: { target }` (issue 13): a job copying what another target holds, checked at load.

function load(jobs: string, extra = ''): ReturnType<typeof loadAgentConfig> {
  const dir = tempDir('lifeline-chain-config-');
  const file = join(dir, 'agent.yaml');
  writeFileSync(
    file,
    `agent: { name: pbs1, stateDir: ${join(dir, 'state')} }
targets:
  - { name: usb, location: onsite, media: usb }
  - { name: cloud, location: offsite, media: cloud }
${extra.replaceAll('DIR', dir)}jobs:
${jobs}`,
  );
  return loadAgentConfig(file);
}

const job = (name: string, target: string, source?: string) =>
  `  - name: ${name}
    asset: ${name}-asset
    tier: 2
    target: ${target}
    driver: command
    command: [/bin/true]
${source ? `    source: { target: ${source} }\n` : ''}`;

function problems(fn: () => unknown): string[] {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof ConfigError, String(e));
    return e.problems.map((p) => `${p.line} ${p.path}: ${p.message}`);
  }
  assert.fail('expected a ConfigError');
}

test('a job copying a declared target carries its source into the hello, which the collector accepts', () => {
  const cfg = load(job('usb-backup', 'usb') + job('cloud-restic', 'cloud', 'usb'));
  assert.deepEqual(cfg.jobs[1].source, { target: 'usb' });
  assert.equal(cfg.jobs[0].source, undefined);
  const hello = helloMessage(cfg);
  assert.deepEqual(hello.jobs[1].source, { target: 'usb' });
  assert.equal('source' in hello.jobs[0], false);
  assert.ok(helloSchema.safeParse({ ...hello, agent: 'pbs1', seq: 1, sentAt: new Date().toISOString() }).success);
});

test("a PBS datastore's target of this agent's pbs: section is a source (named, or the store's own name)", () => {
  const dir = tempDir('lifeline-chain-secret-');
  const secret = writeTokenFile(dir);
  const pbs = `pbs:\n  tokenId: "root@pam!lifeline"\n  tokenSecretFile: ${secret}\n  datastores:\n    store1: { target: pbs1 }\n    store2: {}\n`;
  const cfg = load(job('cloud-restic', 'cloud', 'pbs1') + job('usb-restic', 'usb', 'store2'), pbs);
  assert.deepEqual(cfg.jobs.map((j) => j.source?.target), ['pbs1', 'store2']);
});

test('an unknown source, a job copying its own target and a bad key are refused with file:line', () => {
  const got = problems(() => load(job('a', 'cloud', 'nas') + job('b', 'usb', 'usb') + `  - name: c\n    asset: c\n    tier: 2\n    target: usb\n    driver: command\n    command: [/bin/true]\n    source: { target: cloud, path: /x }\n`));
  assert.deepEqual(got, [
    '12 jobs.0.source.target: unknown source target "nas"; expected a target declared under "targets:" or a datastore target of "pbs:"',
    '19 jobs.1.source.target: a job cannot copy its own target "usb"',
    '26 jobs.2.source.path: unknown key',
  ]);
});

test('a cycle among the jobs is refused naming its path', () => {
  const got = problems(() => load(job('to-cloud', 'cloud', 'usb') + job('back-home', 'usb', 'cloud')));
  assert.deepEqual(got, ['19 jobs.1.source.target: copies form a cycle: usb → cloud → usb; a chain of copies must end']);
});

test('a longer cycle names every hop; a chain that ends is fine', () => {
  const three = job('u-to-c', 'cloud', 'usb') + job('c-to-n', 'nas', 'cloud') + job('n-to-u', 'usb', 'nas');
  const withNas = (jobs: string) => () => {
    const dir = tempDir('lifeline-chain-config-');
    const file = join(dir, 'agent.yaml');
    writeFileSync(
      file,
      `agent: { name: pbs1, stateDir: ${join(dir, 'state')} }\ntargets:\n  - { name: usb, location: onsite, media: usb }\n  - { name: cloud, location: offsite, media: cloud }\n  - { name: nas, location: onsite, media: nas }\njobs:\n${jobs}`,
    );
    return loadAgentConfig(file);
  };
  const [only] = problems(withNas(three));
  assert.match(only, /copies form a cycle: (usb → cloud → nas → usb|cloud → nas → usb → cloud|nas → usb → cloud → nas);/);
  const chain = withNas(job('u-to-c', 'cloud', 'usb') + job('c-to-n', 'nas', 'cloud'))() as ReturnType<typeof loadAgentConfig>;
  assert.equal(chain.jobs.length, 2);
});
