import assert from 'node:assert/strict';
import { chmodSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { loadAgentConfig } from '../agent/config';
import { helloMessage } from '../agent/catalog';
import { buildPbsScan } from '../agent/pbs/scan';
import { ConfigError } from '../shared/config-error';
import { helloSchema } from '../shared/protocol';
import { inventoryOf, pbsYaml, sampleWorld, writeTokenFile } from './helpers/pbs';
import { tempDir } from './helpers/processes';

// The agent's `pbs:` section. No PBS is needed to load it; the world of the PBS stand-ins
// (test/fixtures/pbs, replaying ../shared/REFERENCE-INTEGRATIONS.md §5) feeds the catalog check.

function write(body: string): { file: string; dir: string } {
  const dir = tempDir('lifeline-pbs-config-');
  const file = join(dir, 'agent.yaml');
  writeFileSync(file, `agent: { name: pbs1, stateDir: ${join(dir, 'state')} }\n${body.replaceAll('DIR', dir)}`);
  return { file, dir };
}

test('a pbs: section with defaults: the local API, 10-minute scans, tier 2 (groups 4), the tools under /usr', () => {
  const dir = tempDir('lifeline-pbs-config-');
  const secret = writeTokenFile(dir);
  const { file } = write(`pbs:\n  tokenId: "root@pam!lifeline"\n  tokenSecretFile: ${secret}\n`);
  const { pbs } = loadAgentConfig(file);
  assert.deepEqual(pbs, {
    source: 'api',
    url: 'https://localhost:8007',
    tokenId: 'root@pam!lifeline',
    tokenSecretFile: secret,
    tools: { manager: '/usr/sbin/proxmox-backup-manager', client: '/usr/bin/proxmox-backup-client' },
    scanMs: 600_000,
    tier: 2,
    groupTier: 4,
    datastores: {},
    groups: {},
    exclude: [],
    timeoutMs: 120_000,
  });
});

test('every problem of a pbs: section is refused with its file and line: token id, fingerprint, an open secret file, group keys, tiers', () => {
  const { file, dir } = write(`pbs:
  source: rest
  url: http://localhost:8007
  tokenId: "root@pam"
  tokenSecretFile: DIR/pbs-token
  fingerprint: "AB:CD"
  scan: 1s
  tier: 7
  datastores:
    store1: { target: "pbs 1", tier: 1, colour: blue }
  groups:
    "vm-100": { asset: vm-100 }
`);
  writeFileSync(join(dir, 'pbs-token'), 'secret\n');
  chmodSync(join(dir, 'pbs-token'), 0o644);
  assert.throws(
    () => loadAgentConfig(file),
    (err: ConfigError) => {
      const text = err.message;
      for (const [line, what] of [
        [3, /pbs\.source/],
        [4, /pbs\.url: expected an https:\/\/ URL/],
        [5, /pbs\.tokenId: expected an API token id like "root@pam!lifeline"/],
        [6, /pbs\.tokenSecretFile: secret file .*pbs-token is readable by other users \(mode 0644\); run: chmod 600/],
        [7, /pbs\.fingerprint: expected the SHA-256 fingerprint/],
        [8, /pbs\.scan: expected at least 10s/],
        [9, /pbs\.tier: expected a tier number 1\.\.4/],
        [11, /pbs\.datastores\.store1\.target: expected a name/],
        [11, /pbs\.datastores\.store1\.colour: unknown key/],
        [13, /pbs\.groups\.vm-100: expected a backup group like "vm\/100"/],
      ] as const) {
        assert.match(text, new RegExp(`agent\\.yaml:${line}:\\d+: ${what.source}`), `line ${line}: ${what}\n${text}`);
      }
      return true;
    },
  );
});

test('the hello carries the configured jobs, then the PBS jobs, every one valid for the collector', () => {
  const dir = tempDir('lifeline-pbs-config-');
  const { file } = write(`targets:
  - { name: usb, location: onsite, media: usb }
jobs:
  - { name: etc, asset: etc, tier: 2, target: usb, driver: command, command: [true] }
${pbsYaml({ tokenSecretFile: writeTokenFile(dir) })}`);
  const config = loadAgentConfig(file);
  const scan = buildPbsScan(inventoryOf(sampleWorld()), { targets: config.targets, pbs: config.pbs! });
  const hello = helloMessage(config, scan.jobs);
  const parsed = helloSchema.parse({ ...hello, agent: 'pbs1', seq: 1, sentAt: new Date().toISOString() });
  assert.equal(parsed.jobs[0].name, 'etc');
  assert.ok(parsed.jobs.some((j) => j.name === 'gc-store1' && j.role === 'maintenance'));
  assert.ok(parsed.jobs.some((j) => j.name === 'pbs-scratch-vm-999'), 'nothing excluded here');
});
