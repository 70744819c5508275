import assert from 'node:assert/strict';
import { test } from 'node:test';
import { agentSilent } from '../collector/rules/agent-silent';
import { clockSkew } from '../collector/rules/clock-skew';
import { evaluate, RULES } from '../collector/rules/index';
import { severityFor } from '../collector/rules/severity';
import { MIN, at, agent, input, job } from './helpers/rules-fixtures';

const NOW = at('2026-02-01T12:00:00Z');

const SILENT: [string, number, boolean][] = [
  ['an agent heard exactly 3 heartbeats ago is not silent', NOW - 3 * MIN, false],
  ['an agent heard 3 heartbeats + 1 ms ago is silent', NOW - 3 * MIN - 1, true],
];
for (const [behaviour, lastSeen, silent] of SILENT) {
  test(behaviour, () => {
    const findings = agentSilent(input({ agents: [agent({ lastSeen, heartbeatMs: MIN })] }), NOW);
    assert.deepEqual(findings.map((f) => [f.key, f.since]), silent ? [['agent-silent|pve1', lastSeen + 3 * MIN]] : []);
  });
}

test('an agent never heard from is left to the missed-run rule', () => {
  assert.deepEqual(agentSilent(input({ agents: [agent({ lastSeen: null })] }), NOW), []);
});

test('a silent agent running a tier 1 job is critical, one running only tier 4 jobs is info', () => {
  const a = agent({ lastSeen: NOW - 10 * MIN });
  assert.equal(agentSilent(input({ agents: [a], jobs: [job({ tier: 1 })] }), NOW)[0].severity, 'critical');
  assert.equal(agentSilent(input({ agents: [a], jobs: [job({ tier: 4 })] }), NOW)[0].severity, 'info');
});

const SKEW: [string, number | null, boolean][] = [
  ['a clock offset of exactly 5 min is tolerated', 5 * MIN, false],
  ['a clock 5 min + 1 ms ahead is skewed', 5 * MIN + 1, true],
  ['a clock 5 min + 1 ms behind is skewed', -5 * MIN - 1, true],
  ['an unknown clock offset raises nothing', null, false],
];
for (const [behaviour, clockOffsetMs, skewed] of SKEW) {
  test(behaviour, () => {
    const findings = clockSkew(input({ agents: [agent({ lastSeen: NOW, clockOffsetMs })] }), NOW);
    assert.equal(findings.length, skewed ? 1 : 0);
  });
}

test('severity scales critical rules by tier: critical, critical, warning, info', () => {
  assert.deepEqual([1, 2, 3, 4].map((t) => severityFor('missed-run', t as 1 | 2 | 3 | 4)), ['critical', 'critical', 'warning', 'info']);
});

test('severity puts warning rules one step lower: warning, warning, info, info', () => {
  assert.deepEqual([1, 2, 3, 4].map((t) => severityFor('backup-warning', t as 1 | 2 | 3 | 4)), ['warning', 'warning', 'info', 'info']);
});

test('RULES registers one function per rule module', () => {
  assert.deepEqual(Object.keys(RULES).sort(), [
    'agent-silent', 'anomalies', 'capacity', 'clock-skew', 'failed-run', 'missed-run', 'restore-drill',
    'retention-audit', 'rpo', 'running-too-long', 'smart', 'three-two-one', 'verification',
  ]);
});

test('evaluate returns a dead agent\'s findings most severe first', () => {
  const j = job({ tier: 1, timezone: 'UTC', knownSince: at('2026-01-30T00:00:00Z') });
  const findings = evaluate(input({ jobs: [j], agents: [agent({ lastSeen: at('2026-01-30T00:00:00Z') })] }), NOW);
  assert.deepEqual(findings.map((f) => [f.severity, f.rule]), [
    ['critical', 'agent-silent'],
    ['critical', 'missed-run'],
    ['critical', 'rpo'],
    ['warning', 'three-two-one'],
  ]);
});

test('evaluate does not depend on the wall clock: same input and now, same findings', () => {
  const j = job({ knownSince: at('2026-01-30T00:00:00Z') });
  const i = input({ jobs: [j], agents: [agent({ lastSeen: at('2026-01-30T00:00:00Z') })] });
  assert.deepEqual(evaluate(i, NOW), evaluate(structuredClone(i), NOW));
});
