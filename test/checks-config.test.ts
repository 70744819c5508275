import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { loadCollectorConfig } from '../collector/config';
import { ConfigError } from '../shared/config-file';
import { tempDir } from './collector-helpers';

// collector.yaml `checks:` is validated at load like the rest: every problem at once, each with
// the file, line, key path and what was expected.

const good = `  - id: 5F0C7D2E-8A41-4B3E-9F6A-1C2D3E4F5A6B
    name: nas-rsync
    asset: nas-photos
    tier: 2
    target: { name: nas, location: onsite, media: nas }
    schedule: "30 1 * * *"
    grace: 2h
`;

function load(yaml: string) {
  const file = join(tempDir(), 'collector.yaml');
  writeFileSync(file, yaml);
  return { file, load: () => loadCollectorConfig(file) };
}

test('a valid check loads with its id lowercased and durations in ms', () => {
  const { load: read } = load(`checks:\n${good}`);
  const [c] = read().checks;
  assert.equal(c.id, '5f0c7d2e-8a41-4b3e-9f6a-1c2d3e4f5a6b');
  assert.equal(c.grace, 2 * 3_600_000);
  assert.equal(c.schedule, '30 1 * * *');
});

test('bad checks are refused with file, line, key path and what was expected, all at once', () => {
  const { file, load: read } = load(`checks:
${good}  - id: not-a-uuid
    name: nas-rsync
    asset: win-docs
    tier: 5
    target: { name: b2, location: offsite, media: floppy }
    period: 5d
  - id: 5f0c7d2e-8a41-4b3e-9f6a-1c2d3e4f5a6b
    name: no-schedule
    asset: x
    tier: 1
    target: { name: b2, location: offsite, media: cloud }
    proxmox: { type: backup }
    colour: red
  - id: 0b1c2d3e-4f5a-4b6c-8d7e-9f0a1b2c3d4e
    name: no-schedule
    asset: y
    tier: 1
    target: { name: b2, location: offsite, media: cloud }
intake:
  pingKeyFile: relative/ping.key
`);
  let err: unknown;
  try {
    read();
  } catch (e) {
    err = e;
  }
  assert.ok(err instanceof ConfigError);
  const byPath = new Map(err.problems.map((p) => [p.path, p]));
  const expect: [string, RegExp][] = [
    ['checks.1.id', /expected a UUID/],
    ['checks.1.name', /duplicate check name "nas-rsync"/],
    ['checks.1.tier', /expected a tier number 1..4/],
    ['checks.1.target.media', /./],
    ['checks.1.period', /divides an hour or a day/],
    ['checks.2.id', /duplicate check id/],
    ['checks.3.name', /duplicate check name "no-schedule"/],
    ['checks.3.schedule', /expected either schedule or period/],
    ['checks.2.proxmox.type', /expected one of vzdump/],
    ['checks.2.colour', /unknown key/],
    ['intake.pingKeyFile', /absolute path/],
  ];
  for (const [path, message] of expect) {
    const p = byPath.get(path);
    assert.ok(p, `no problem at ${path}: ${err.message}`);
    assert.match(p.message, message, path);
    assert.equal(p.file, file);
    assert.ok(p.line > 0, path);
  }
});
