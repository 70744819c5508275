import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SEVERITY_RANK as INCIDENT_RANK } from '../collector/incidents/types';
import { sortFindings } from '../collector/rules/index';
import { SEVERITY_RANK, worseFirst } from '../collector/rules/severity';
import type { Finding, Severity } from '../collector/rules/types';

// There was one table per place, in opposite orders (rules: critical 0; incidents: critical 2).
test('one severity order: incidents use the same table, and findings sort worst first by it', () => {
  assert.equal(INCIDENT_RANK, SEVERITY_RANK);
  const f = (key: string, severity: Severity) => ({ key, severity }) as Finding;
  const sorted = sortFindings([f('b', 'info'), f('a', 'warning'), f('c', 'critical'), f('a', 'info'), f('a', 'critical')]);
  assert.deepEqual(sorted.map((x) => `${x.severity}:${x.key}`), ['critical:a', 'critical:c', 'warning:a', 'info:a', 'info:b']);
  for (const [a, b] of [['critical', 'warning'], ['warning', 'info'], ['critical', 'info']] as const) {
    assert.ok(SEVERITY_RANK[a] > SEVERITY_RANK[b], `${a} outranks ${b}`);
    assert.ok(worseFirst(a, b) < 0);
  }
});
