import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DRIVERS } from '../agent/drivers';
import { factsFrom } from '../agent/drivers/restore-facts';
import { RUNBOOK_WRITERS } from '../collector/runbook';
import { RESTORE_FACT_KEYS, type FactDriver } from '../shared/restore-facts';

// The restore facts were plain strings on both sides: a key the agent renamed left the runbook
// reading nothing, and nothing said so. One list (shared/restore-facts.ts) types both: factsFrom
// takes only the driver's keys, each runbook writer reads only them (tsc checks the expected
// errors below: a misspelled key does not compile).

test('every agent driver and every runbook writer share one list of fact keys', () => {
  for (const name of Object.keys(DRIVERS)) assert.ok(Object.hasOwn(RESTORE_FACT_KEYS, name), `${name} lists its restore facts`);
  assert.deepEqual(Object.keys(RUNBOOK_WRITERS).sort(), Object.keys(RESTORE_FACT_KEYS).sort());
  for (const [driver, writer] of Object.entries(RUNBOOK_WRITERS)) {
    const keys: readonly string[] = RESTORE_FACT_KEYS[driver as FactDriver];
    for (const need of writer.needs) assert.ok(keys.includes(need), `${driver} runbook needs ${need}, which the agent never sends`);
  }
});

test("factsFrom keeps the protocol's flat strings and takes only the driver's keys", () => {
  assert.deepEqual(factsFrom('postgres', { dir: '/srv/dumps', all: true, port: 5433, host: undefined, user: '' }), { dir: '/srv/dumps', all: 'true', port: '5433' });
  assert.deepEqual(factsFrom('paths', { dir: '/d', paths: ['/etc', '/home'], volumes: [] }), { dir: '/d', paths: '/etc\n/home' });
  // @ts-expect-error pgbin is not a postgres fact (pgBin is)
  assert.deepEqual(factsFrom('postgres', { pgbin: '/usr/lib/postgresql/16/bin' }), { pgbin: '/usr/lib/postgresql/16/bin' });
  // @ts-expect-error a restic fact is not a borg one
  factsFrom('borg', { passwordFile: '/etc/pw' });
});
