import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { restoreRunbook, type RunbookInput } from '../collector/runbook/index';
import { restoreSnapshot, type ListedSnapshot } from '../collector/runbook/verified';
import { tempDir } from './helpers/temp';

// The restore runbook of copies on a Proxmox Backup Server: a PVE guest's vzdump copy restores
// its newest *verified* snapshot; a PBS backup group (driver pbs-group) restores through the PVE
// storage named like its target (vm/ct) or with proxmox-backup-client (host). qmrestore, pct and
// proxmox-backup-client cannot run here: the bash test replaces proxmox-backup-client with a
// function that records its argv and environment, as test/runbook.test.ts does.

const at = (iso: string) => Date.parse(iso);
const snap = (iso: string, verified?: 'ok' | 'failed', prefix = 'pbs1:backup/vm/100/'): ListedSnapshot => ({ id: `${prefix}${iso}`, time: at(iso), ...(verified ? { verified } : {}) });
const D1 = '2025-01-01T01:00:03Z';
const D2 = '2025-01-02T01:00:03Z';
const D3 = '2025-01-03T01:00:03Z';

const CHOICES: [string, ListedSnapshot[], string | null, { newerFailed: number; newerUnverified: number }][] = [
  ['the newest snapshot verified ok is chosen', [snap(D1, 'ok'), snap(D2, 'ok'), snap(D3, 'ok')], D3, { newerFailed: 0, newerUnverified: 0 }],
  ['a newer failed snapshot is passed over', [snap(D1, 'ok'), snap(D2, 'ok'), snap(D3, 'failed')], D2, { newerFailed: 1, newerUnverified: 0 }],
  ['newer unverified snapshots are passed over for a verified one', [snap(D1, 'ok'), snap(D2), snap(D3)], D1, { newerFailed: 0, newerUnverified: 2 }],
  ['none verified ok: the newest not failed', [snap(D1), snap(D2), snap(D3, 'failed')], D2, { newerFailed: 1, newerUnverified: 0 }],
  ['every one failed: the newest, with a warning', [snap(D1, 'failed'), snap(D2, 'failed')], D2, { newerFailed: 0, newerUnverified: 0 }],
  ['an empty listing: nothing', [], null, { newerFailed: 0, newerUnverified: 0 }],
];
for (const [behaviour, listed, chosen, verification] of CHOICES) {
  test(`restoreSnapshot: ${behaviour}`, () => {
    const r = restoreSnapshot([...listed].reverse());
    assert.equal(r.snapshot?.id ?? null, chosen && `pbs1:backup/vm/100/${chosen}`);
    assert.deepEqual(r.verification, verification);
  });
}

const vzdump = (listed: ListedSnapshot[]): RunbookInput => ({
  driver: 'vzdump',
  agent: 'pve1',
  job: 'vzdump-100-pbs1',
  asset: 'vm-100',
  restore: { vmtype: 'qemu', vmid: '100', storage: 'pbs1', storageType: 'pbs', node: 'pve1' },
  target: 'pbs1',
  ...restoreSnapshot(listed),
});

const VZDUMP: [string, ListedSnapshot[], string, RegExp[]][] = [
  ['qmrestore of the newest verified snapshot', [snap(D1, 'ok'), snap(D2, 'ok')], `qmrestore pbs1:backup/vm/100/${D2} 100`, [/is the newest snapshot verified ok\.$/]],
  ['a failed newer snapshot is skipped and said so', [snap(D1, 'ok'), snap(D2, 'failed')], `qmrestore pbs1:backup/vm/100/${D1} 100`, [/^1 newer snapshot failed verification and is passed over\.$/]],
  [
    'none verified: the newest not failed, with a warning that it was never verified',
    [snap(D1), snap(D2, 'failed')],
    `qmrestore pbs1:backup/vm/100/${D1} 100`,
    [/^No snapshot of this copy is verified ok: .* never verified\./],
  ],
  ['every snapshot failed: the newest, warned', [snap(D1, 'failed'), snap(D2, 'failed')], `qmrestore pbs1:backup/vm/100/${D2} 100`, [/^Every listed snapshot of this copy failed verification/]],
  ['newer unverified snapshots are named beside the verified one', [snap(D1, 'ok'), snap(D2)], `qmrestore pbs1:backup/vm/100/${D1} 100`, [/^1 newer snapshot is not verified yet/]],
];
for (const [behaviour, listed, command, notes] of VZDUMP) {
  test(`vzdump on PBS: ${behaviour}`, () => {
    const book = restoreRunbook(vzdump(listed));
    assert.deepEqual(book.commands, [command]);
    for (const n of notes) assert.ok(book.notes.some((x) => n.test(x)), `${n} in ${JSON.stringify(book.notes)}`);
  });
}

test('vzdump without verification states (a file storage) says nothing of verification', () => {
  const book = restoreRunbook({ ...vzdump([]), verification: undefined, snapshot: { id: 'local:backup/vzdump-qemu-100-2025_01_01-01_00_03.vma.zst', time: at(D1) } });
  assert.ok(!book.notes.some((n) => /verif/.test(n)), JSON.stringify(book.notes));
});

const group = (restore: Record<string, string>, listed: ListedSnapshot[] | null, target = 'pbs1'): RunbookInput => ({
  driver: 'pbs-group',
  agent: 'pbs',
  job: `pbs-store1-${restore.backupType}-${restore.backupId}`,
  asset: 'x',
  restore: { store: 'store1', pbsHost: 'pbs.lan', ...restore },
  target,
  ...(listed ? restoreSnapshot(listed) : { snapshot: null }),
});

const GROUPS: [string, RunbookInput, string[]][] = [
  ['a vm group restores with qmrestore from the PVE storage named like the target', group({ backupType: 'vm', backupId: '100' }, [snap(D1, 'ok', 'vm/100/'), snap(D2, 'failed', 'vm/100/')]), [`qmrestore pbs1:backup/vm/100/${D1} 100`]],
  ['a ct group restores with pct restore', group({ backupType: 'ct', backupId: '101' }, [snap(D1, undefined, 'ct/101/')], 'pbs-main'), [`pct restore 101 pbs-main:backup/ct/101/${D1}`]],
  [
    'an id that is not a PBS path is rebuilt from the group and the time',
    group({ backupType: 'vm', backupId: '100' }, [{ id: 'odd', time: at(D1) }]),
    [`qmrestore pbs1:backup/vm/100/${D1} 100`],
  ],
  [
    'a host group restores with proxmox-backup-client, the password from a file',
    group({ backupType: 'host', backupId: 'web', authId: 'lifeline@pbs!restore' }, [snap(D1, 'ok', 'host/web/')]),
    [
      `PBS_PASSWORD_FILE=/root/pbs-password proxmox-backup-client snapshot files host/web/${D1} --repository 'lifeline@pbs!restore@pbs.lan:store1'`,
      `PBS_PASSWORD_FILE=/root/pbs-password proxmox-backup-client restore host/web/${D1} ARCHIVE.pxar /restore/pbs-store1-host-web --repository 'lifeline@pbs!restore@pbs.lan:store1'`,
    ],
  ],
  [
    'a host group without an inventory restores its newest snapshot, in its namespace, each known archive',
    group({ backupType: 'host', backupId: 'web', namespace: 'site-a', archives: 'etc.pxar\nroot.pxar:/', fingerprint: 'aa:bb' }, null),
    [
      'PBS_PASSWORD_FILE=/root/pbs-password PBS_FINGERPRINT=aa:bb proxmox-backup-client restore host/web etc.pxar /restore/pbs-store1-host-web/etc --repository pbs.lan:store1 --ns site-a',
      'PBS_PASSWORD_FILE=/root/pbs-password PBS_FINGERPRINT=aa:bb proxmox-backup-client restore host/web root.pxar /restore/pbs-store1-host-web/root --repository pbs.lan:store1 --ns site-a',
    ],
  ],
];
for (const [behaviour, input, commands] of GROUPS) {
  test(`pbs-group: ${behaviour}`, () => {
    assert.deepEqual(restoreRunbook(input).commands, commands);
  });
}

test('pbs-group vm/ct runbooks say the storage-name assumption; a vm group with no VMID gives no command', () => {
  const book = restoreRunbook(group({ backupType: 'vm', backupId: '100' }, [snap(D1, 'ok', 'vm/100/')]));
  assert.match(book.notes[0], /^Run on a Proxmox VE node\. The commands take the PBS storage there to be named pbs1, like this copy's target, and to read datastore store1 on pbs\.lan/);
  assert.ok(!book.notes.some((n) => n.startsWith('Run as root')), 'no PVE node is known from a PBS agent');
  const bad = restoreRunbook(group({ backupType: 'vm', backupId: 'web' }, null));
  assert.deepEqual(bad.commands, []);
  assert.match(bad.notes[0], /no Proxmox VMID/);
});

test('pbs-group host: the password reaches proxmox-backup-client through PBS_PASSWORD_FILE, never its argv', () => {
  const dir = tempDir('lifeline-pbs-runbook-');
  writeFileSync(join(dir, 'args'), '');
  const { commands } = restoreRunbook(group({ backupType: 'host', backupId: 'web', passwordFile: join(dir, 'pbs.pass'), archives: 'etc.pxar:/etc' }, [snap(D1, 'ok', 'host/web/')]));
  const stub = `proxmox-backup-client() { printf '%s\\0' "PBS_PASSWORD_FILE=$PBS_PASSWORD_FILE" "$@" >> "$ARGS"; }`;
  for (const c of commands) {
    const r = spawnSync('bash', ['-c', `${stub}\n${c}`], { cwd: dir, env: { ...process.env, ARGS: join(dir, 'args') }, encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
  }
  assert.deepEqual(readFileSync(join(dir, 'args'), 'utf8').split('\0').slice(0, -1), [
    `PBS_PASSWORD_FILE=${join(dir, 'pbs.pass')}`,
    'restore',
    `host/web/${D1}`,
    'etc.pxar',
    '/restore/pbs-store1-host-web/etc',
    '--repository',
    'pbs.lan:store1',
  ]);
  assert.equal(existsSync(join(dir, 'pbs.pass')), false, 'the runbook names the file, never writes a secret');
});
