import assert from 'node:assert/strict';
import { test } from 'node:test';
import { capacity } from '../collector/rules/capacity';
import { smart } from '../collector/rules/smart';
import { leastSquares, projectedFullAt } from '../collector/rules/trend';
import { DAY, at, agent, input } from './helpers/rules-fixtures';

const NOW = at('2026-02-01T12:00:00Z');
const SIZE = 1000;
const fs = (usedBytes: number, history: { at: number; usedBytes: number }[] = []) => ({ mount: '/mnt/backup', sizeBytes: SIZE, usedBytes, history });

const PCT: [string, number, boolean][] = [
  ['a filesystem at 79.9% is below the 80% threshold', 799, false],
  ['a filesystem at exactly 80% is over the threshold', 800, true],
];
for (const [behaviour, used, over] of PCT) {
  test(behaviour, () => {
    const findings = capacity(input({ agents: [agent({ filesystems: [fs(used)] })] }), NOW);
    assert.deepEqual(findings.map((f) => f.key), over ? ['capacity|pve1|/mnt/backup'] : []);
  });
}

test('a per-mount threshold overrides capacityPct', () => {
  const i = input({ agents: [agent({ filesystems: [fs(850)] })] });
  i.config.capacityPctByTarget = { '/mnt/backup': 90 };
  assert.deepEqual(capacity(i, NOW), []);
  i.config.capacityPctByTarget = { 'pve1:/mnt/backup': 85 };
  assert.equal(capacity(i, NOW).length, 1);
});

test('capacity dates the finding from the first sample of the current run above the threshold', () => {
  const history = [{ at: NOW - 3 * DAY, usedBytes: 810 }, { at: NOW - 2 * DAY, usedBytes: 790 }, { at: NOW - DAY, usedBytes: 805 }];
  assert.equal(capacity(input({ agents: [agent({ filesystems: [fs(806, history)] })] }), NOW).find((f) => f.rule === 'capacity')?.since, NOW - DAY);
});

test('leastSquares fits an exact line', () => {
  const fit = leastSquares([{ x: 0, y: 1 }, { x: 1, y: 3 }, { x: 2, y: 5 }]);
  assert.deepEqual(fit, { slope: 2, intercept: 1 });
});

test('projectedFullAt is null for flat or shrinking usage and with one sample', () => {
  assert.equal(projectedFullAt([{ at: 0, usedBytes: 5 }, { at: DAY, usedBytes: 5 }], 10), null);
  assert.equal(projectedFullAt([{ at: 0, usedBytes: 6 }, { at: DAY, usedBytes: 5 }], 10), null);
  assert.equal(projectedFullAt([{ at: 0, usedBytes: 5 }], 10), null);
});

// Growing 10 bytes a day; now at `used`: full after (1000 - used) / 10 days.
const FORECAST: [string, number, boolean][] = [
  ['projected full in exactly 14 days raises a forecast', 860, true],
  ['projected full in 14 days + 2.4 h raises nothing', 859, false],
];
for (const [behaviour, used, expected] of FORECAST) {
  test(behaviour, () => {
    const history = [1, 2, 3, 4].map((d) => ({ at: NOW - d * DAY, usedBytes: used - d * 10 }));
    const findings = capacity(input({ agents: [agent({ filesystems: [fs(used, history)] })] }), NOW);
    assert.deepEqual(findings.filter((f) => f.rule === 'capacity-forecast').map((f) => f.key), expected ? ['capacity-forecast|pve1|/mnt/backup'] : []);
  });
}

test('SMART failing raises a finding; passing or unknown raises none', () => {
  const a = agent({ disks: [{ device: '/dev/sda', smartOk: false, detail: 'Reallocated_Sector_Ct 312' }, { device: '/dev/sdb', smartOk: true }, { device: '/dev/sdc', smartOk: null }] });
  const findings = smart(input({ agents: [a] }), NOW);
  assert.deepEqual(findings.map((f) => f.key), ['smart|pve1|/dev/sda']);
  assert.match(findings[0].detail, /Reallocated_Sector_Ct 312/);
});
