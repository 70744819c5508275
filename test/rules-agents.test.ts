import assert from 'node:assert/strict';
import { test } from 'node:test';
import { agentSilent } from '../collector/rules/agent-silent';
import { agentSpool } from '../collector/rules/agent-spool';
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

// clockSkewMs is the agent's clock minus the collector's: positive when the agent is ahead.
const SKEW: [string, number | null, RegExp | null][] = [
  ['a clock offset of exactly 5 min is tolerated', 5 * MIN, null],
  ['a clock 5 min + 1 ms ahead is skewed and called ahead', 5 * MIN + 1, /is 5m ahead$/],
  ['a clock 5 min + 1 ms behind is skewed and called behind', -5 * MIN - 1, /is 5m behind$/],
  // Issue 10: an agent 2 h ahead was called "behind".
  ['a clock 2 h ahead is called ahead', 2 * 60 * MIN, /is 2h ahead$/],
  ['an unknown clock offset raises nothing', null, null],
];
for (const [behaviour, clockSkewMs, title] of SKEW) {
  test(behaviour, () => {
    const findings = clockSkew(input({ agents: [agent({ lastSeen: NOW, clockSkewMs })] }), NOW);
    assert.equal(findings.length, title ? 1 : 0);
    if (title) assert.match(findings[0].title, title);
  });
}

test('severity scales critical rules by tier: critical, critical, warning, info', () => {
  assert.deepEqual([1, 2, 3, 4].map((t) => severityFor('missed-run', t as 1 | 2 | 3 | 4)), ['critical', 'critical', 'warning', 'info']);
});

test('severity puts warning rules one step lower: warning, warning, info, info', () => {
  assert.deepEqual([1, 2, 3, 4].map((t) => severityFor('backup-warning', t as 1 | 2 | 3 | 4)), ['warning', 'warning', 'info', 'info']);
});

const SPOOL: [string, { rejected: number; lost: number; error: string | null } | undefined, string[]][] = [
  ['an agent that says nothing of its spool raises nothing', undefined, []],
  ['a healthy spool raises nothing', { rejected: 0, lost: 0, error: null }, []],
  ['a spool that cannot write raises cannot-spool, naming a full disk', { rejected: 0, lost: 2, error: 'cannot spool: no space left on the filesystem holding /var/lib/lifeline-agent/spool' }, ['cannot-spool|Agent cannot spool: disk full on pve1|critical']],
  ['messages set aside raise reports-set-aside with their count', { rejected: 3, lost: 0, error: null }, ['reports-set-aside|3 report(s) from pve1 were set aside|warning']],
];
for (const [behaviour, spool, expected] of SPOOL) {
  test(behaviour, () => {
    const findings = agentSpool(input({ agents: [agent({ lastSeen: NOW, ...(spool ? { spool } : {}) })], jobs: [job({ tier: 1 })] }), NOW);
    assert.deepEqual(findings.map((f) => `${f.rule}|${f.title}|${f.severity}`), expected);
  });
}

test('RULES registers one entry per rule module', () => {
  assert.deepEqual(Object.keys(RULES).sort(), [
    'agent-silent', 'agent-spool', 'anomalies', 'capacity', 'clock-skew', 'copy-chain', 'datastore-capacity', 'failed-run', 'guest-coverage', 'missed-run', 'restore-drill',
    'retention-audit', 'rpo', 'running-too-long', 'smart', 'snapshot-verify', 'stale-snapshot', 'storage-undeclared', 'three-two-one', 'verification',
    'zfs-pool',
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
