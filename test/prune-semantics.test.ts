import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DRIVERS } from '../agent/drivers';
import { retentionAudit, semanticsFor } from '../collector/rules/retention-audit';
import { PRUNE_SEMANTICS } from '../shared/prune-semantics';
import { DAY, at, input, job, inventoryOf } from './helpers/rules-fixtures';

// retention-audit gave every driver it did not list restic's prune semantics, silently. Each
// driver now declares its semantics in one table the agent and the collector share.

test('every agent driver declares how its tool prunes; the collector reads the same table', () => {
  for (const name of Object.keys(DRIVERS)) {
    assert.ok(PRUNE_SEMANTICS[name], `driver ${name} has no entry in shared/prune-semantics.ts`);
    assert.equal(semanticsFor(name), PRUNE_SEMANTICS[name], name);
  }
  // Listed by the PBS scan, not an agent driver of its own.
  assert.equal(semanticsFor('pbs-group'), 'borg');
  assert.equal(semanticsFor('some-future-driver'), null);
});

test('a job of a driver the collector does not know is not audited with a guess: a finding says so', () => {
  const NOW = at('2026-02-01T12:00:00Z');
  const snapshots = Array.from({ length: 9 }, (_, i) => ({ id: `s${i}`, time: at('2026-02-01T02:00:00Z') - i * DAY }));
  const base = { timezone: 'UTC', schedule: '0 2 * * *', retention: { daily: 7 }, inventory: inventoryOf(snapshots, NOW), knownSince: NOW - 10 * DAY };
  const known = retentionAudit(input({ jobs: [job({ ...base, driver: 'restic' })] }), NOW);
  assert.deepEqual(known.map((f) => f.rule), ['retention-not-pruned']);
  const unknown = retentionAudit(input({ jobs: [job({ ...base, driver: 'tape-robot' })] }), NOW);
  assert.deepEqual(unknown.map((f) => f.rule), ['retention-unknown-semantics']);
  assert.match(unknown[0].detail, /driver "tape-robot"/);
  assert.match(unknown[0].detail, /not audited/);
});
