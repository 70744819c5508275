import assert from 'node:assert/strict';
import { test } from 'node:test';
import { withDerivedCopies } from '../collector/rules/derived-copies';
import type { JobView } from '../collector/rules/types';
import { chainRunbook, chainText } from '../collector/view/chain';
import { HOUR, MIN, at, job, run, inventoryOf } from './helpers/rules-fixtures';

// The asset page's chain of a copy of a copy and its restore runbook in steps (issue 13). Pure.

const NOW = at('2026-02-01T12:00:00Z');
const SNAP = NOW - 10 * HOUR;

const guest = job({
  agent: 'pve1',
  job: 'vzdump-100-pbs1',
  asset: 'vm-100',
  driver: 'vzdump',
  target: { name: 'pbs1', location: 'onsite', media: 'pbs' },
  lastSuccess: SNAP + 5 * MIN,
  inventory: inventoryOf([{ id: `pbs1:backup/vm/100/${new Date(SNAP).toISOString()}`, time: SNAP }], SNAP + 6 * MIN),
  lastRestoreTest: run({ startedAt: NOW - 2 * HOUR, operation: 'restore-test', durationMs: 40 * MIN }),
});
const link = (name: string, source: string, target: JobView['target'], start: number, drillMin: number | null): JobView => {
  const r = run({ startedAt: start, durationMs: 10 * MIN });
  return job({
    agent: 'pbs',
    job: name,
    asset: `${name}-asset`,
    tier: 2,
    driver: 'restic',
    target,
    sourceTarget: source,
    lastBackup: r,
    lastOutcome: r,
    lastSuccess: r.finishedAt,
    recentBackups: [r],
    inventory: inventoryOf([{ id: `${name}-snap`, time: start }], start + 11 * MIN),
    lastRestoreTest: drillMin === null ? null : run({ startedAt: NOW - HOUR, operation: 'restore-test', durationMs: drillMin * MIN }),
  });
};
const USB = { name: 'usb', location: 'onsite', media: 'usb' } as const;
const CLOUD = { name: 'cloud', location: 'offsite', media: 'cloud' } as const;
const facts = new Map<string, Record<string, string> | null>([
  ['pve1\0vzdump-100-pbs1', { vmtype: 'qemu', vmid: '100', storage: 'pbs1', storageType: 'pbs', node: 'pve1' }],
  ['pbs\0usb-sync', { repository: '/mnt/usb/repo', passwordFile: '/etc/lifeline/usb.pass' }],
  ['pbs\0cloud-restic', { repository: 's3:s3.example/pbs', passwordFile: '/etc/lifeline/cloud.pass' }],
]);

function threeHops(cloudDrill: number | null) {
  const jobs = withDerivedCopies([guest, link('usb-sync', 'pbs1', USB, SNAP + HOUR, 30), link('cloud-restic', 'usb', CLOUD, SNAP + 2 * HOUR, cloudDrill)]);
  const derived = jobs.find((j) => j.derivedVia && j.target.name === 'cloud')!;
  const byKey = new Map(jobs.filter((j) => !j.derivedVia).map((j) => [`${j.agent}\0${j.job}`, j]));
  return { derived, byKey };
}

test('the chain reads from the asset through its first target to each link, with media and location', () => {
  const { derived } = threeHops(60);
  assert.equal(chainText('vm-100', derived.derivedVia!), 'vm-100 → pbs1 (pbs, on-site) → usb-sync (usb, on-site) → cloud-restic (cloud, off-site)');
});

test('a three-hop runbook restores the outermost copy first, then each inner one, the guest last from the snapshot the chain holds', () => {
  const { derived, byKey } = threeHops(60);
  const book = chainRunbook({ derived, jobs: byKey, facts, rtoMs: 4 * HOUR });
  assert.deepEqual(book.steps.map((s) => s.job), ['cloud-restic', 'usb-sync', 'vzdump-100-pbs1']);
  assert.deepEqual(book.steps[0].commands, ['RESTIC_REPOSITORY=s3:s3.example/pbs RESTIC_PASSWORD_FILE=/etc/lifeline/cloud.pass restic restore cloud-restic-snap --target /restore/cloud-restic']);
  assert.deepEqual(book.steps[2].commands, [`qmrestore pbs1:backup/vm/100/${new Date(SNAP).toISOString()} 100`]);
  assert.match(book.steps[0].notes[0], /^This gives back what usb held when cloud-restic copied it: put it back where usb keeps it/);
  assert.deepEqual(book.steps.map((s) => s.expectedMs), [60 * MIN, 30 * MIN, 40 * MIN]);
  assert.equal(book.expectedMs, 130 * MIN);
  assert.deepEqual(book.notes, ['Expected 2h 10m through the chain, within the 4h RTO.']);
  assert.deepEqual(book.commands.filter((c) => c.startsWith('#')), [
    '# Step 1: cloud-restic on pbs, from cloud',
    '# Step 2: usb-sync on pbs, from usb',
    '# Step 3: vzdump-100-pbs1 on pve1, from pbs1',
  ]);
});

test('the steps beyond the RTO say so; a step without a drill leaves the total unknown', () => {
  const runbook = (drillMin: number | null) => {
    const { derived, byKey } = threeHops(drillMin);
    return chainRunbook({ derived, jobs: byKey, facts, rtoMs: 4 * HOUR });
  };
  const slow = runbook(200);
  assert.deepEqual(slow.notes, ['Expected 4h 30m through the chain, beyond the 4h RTO.']);
  const unknown = runbook(null);
  assert.equal(unknown.expectedMs, null);
  assert.match(unknown.steps[0].notes.at(-1)!, /^No restore drill of cloud-restic has measured this step\.$/);
  assert.deepEqual(unknown.notes, ['Not every step has a restore drill: the time through the chain is unknown (RTO 4h).']);
});
