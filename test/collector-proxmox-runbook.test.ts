import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { restoreRunbook, RUNBOOK_WRITERS, type RunbookInput } from '../collector/runbook/index';
import { tempDir } from './helpers/temp';

// The restore runbook of a guest backed up by a Proxmox backup job (driver 'vzdump'). qmrestore,
// pct, pvesm and pvesh cannot run here: the bash tests replace them with functions that record
// their argv, and pvesm prints a listing in its documented layout (pve-storage
// src/PVE/CLI/pvesm.pm: a header line, then "volid format type size vmid", sorted by volid).

const T = Date.UTC(2025, 0, 31, 1, 0, 3);
const PBS_VM = 'pbs1:backup/vm/100/2025-01-31T01:00:03Z';
const FILE_CT = 'local:backup/vzdump-lxc-105-2025_01_31-02_00_03.tar.zst';
const ZFS = { id: 'local-zfs', content: 'images,rootdir' };
const LOCAL = { id: 'local', content: 'iso,vztmpl,backup' };

const input = (restore: Record<string, string> | null, snapshotId: string | null, pveStorages?: RunbookInput['pveStorages']): RunbookInput => ({
  driver: 'vzdump',
  agent: 'pve1',
  job: 'vzdump-100-pbs1',
  asset: 'vm-100',
  restore,
  snapshot: snapshotId === null ? null : { id: snapshotId, time: T },
  ...(pveStorages ? { pveStorages } : {}),
});
const vm = { vmtype: 'qemu', vmid: '100', storage: 'pbs1', storageType: 'pbs', node: 'pve1' };
const ct = { vmtype: 'lxc', vmid: '105', storage: 'local', storageType: 'dir', node: 'pve1' };
const newest = (storage: string, vmid: string, volumes: string) =>
  `"$(pvesm list ${storage} --content backup --vmid ${vmid} | awk 'NR > 1 && $1 ~ /${volumes}/ { print $1 }' | tail -n 1)"`;

const TABLE: { name: string; in: RunbookInput; commands: string[]; notes?: RegExp[]; without?: RegExp[] }[] = [
  {
    name: 'a VM is restored from its newest PBS snapshot with qmrestore, its disks back where they were',
    in: input(vm, PBS_VM),
    commands: [`qmrestore ${PBS_VM} 100`],
    notes: [/^Run as root on pve1, where pbs1 holds the backup\.$/, /disks go back to the storages they were on/, /--live-restore 1/, /never overwrites/, /^--force 1 replaces/],
  },
  {
    name: 'a VM from an archive on a file storage: no live restore',
    in: input({ ...vm, storage: 'local', storageType: 'dir' }, 'local:backup/vzdump-qemu-100-2025_01_31-02_00_03.vma.zst'),
    commands: ['qmrestore local:backup/vzdump-qemu-100-2025_01_31-02_00_03.vma.zst 100'],
    without: [/live-restore/],
  },
  {
    name: "a container's volumes go to the node's storage for container data",
    in: input(ct, FILE_CT, [LOCAL, ZFS]),
    commands: [`pct restore 105 ${FILE_CT} --storage local-zfs`],
    notes: [/pct restore refuses VMID 105/],
    without: [/another storage/],
  },
  {
    name: 'with several storages for container data, the first is used and the others named',
    in: input(ct, FILE_CT, [ZFS, { id: 'nvme-thin', content: 'rootdir, images' }]),
    commands: [`pct restore 105 ${FILE_CT} --storage local-zfs`],
    notes: [/works as well: nvme-thin\./],
  },
  {
    name: 'with no storage for container data known, no --storage is guessed and the default is explained',
    in: input(ct, FILE_CT),
    commands: [`pct restore 105 ${FILE_CT}`],
    notes: [/on 'local' unless --storage names one that holds container data/],
  },
  {
    name: "without an inventory the newest of the guest's backups is listed with pvesm when the command runs",
    in: input(vm, null),
    commands: [`qmrestore ${newest('pbs1', '100', ':backup\\/(vzdump-qemu-|vm\\/)')} 100`],
    notes: [/No inventory/],
  },
  {
    name: "a container without an inventory looks for container backups only",
    in: input(ct, null, [ZFS]),
    commands: [`pct restore 105 ${newest('local', '105', ':backup\\/(vzdump-lxc-|ct\\/)')} --storage local-zfs`],
  },
  {
    name: 'an inventory id without its storage gets the job storage',
    in: input({ ...vm, storage: 'local' }, 'vzdump-qemu-100-2025_01_31-02_00_03.vma.zst'),
    commands: ['qmrestore local:backup/vzdump-qemu-100-2025_01_31-02_00_03.vma.zst 100'],
  },
];

for (const row of TABLE) {
  test(row.name, () => {
    const book = restoreRunbook(row.in);
    assert.deepEqual(book.commands, row.commands);
    for (const note of row.notes ?? []) assert.ok(book.notes.some((n) => note.test(n)), `no note matches ${note}: ${JSON.stringify(book.notes, null, 1)}`);
    for (const note of row.without ?? []) assert.ok(!book.notes.some((n) => note.test(n)), `a note matches ${note}`);
  });
}

test('a guest type other than qemu or lxc, or missing facts, give notes and no command', () => {
  const odd = restoreRunbook(input({ ...vm, vmtype: 'openvz' }, PBS_VM));
  assert.deepEqual(odd.commands, []);
  assert.match(odd.notes.join(' '), /neither qemu nor lxc/);
  const partial = restoreRunbook(input({ vmid: '100', storage: 'pbs1' }, PBS_VM));
  assert.deepEqual(partial.commands, []);
  assert.match(partial.notes.join(' '), /lack vmtype/);
});

test('the vzdump driver has its writer in the registry', () => {
  assert.ok(RUNBOOK_WRITERS.vzdump);
});

// ---- the commands in bash, against stand-ins that record their argv ----

const bash = (script: string, cwd: string, env: NodeJS.ProcessEnv) => spawnSync('bash', ['-c', script], { cwd, env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });

const LISTING = [
  'Volid                                                    Format  Type            Size VMID',
  'local:backup/vzdump-lxc-100-2025_01_29-02_00_03.tar.zst  tar.zst backup     123456 100',
  'local:backup/vzdump-qemu-100-2025_01_30-02_00_03.vma.zst vma.zst backup     123456 100',
  'local:backup/vzdump-qemu-100-2025_01_31-02_00_03.vma.zst vma.zst backup     123456 100',
  'pbs1:backup/ct/100/2025-01-29T01:00:03Z                  pbs-ct  backup     123456 100',
  'pbs1:backup/vm/100/2025-01-30T01:00:03Z                  pbs-vm  backup     123456 100',
  'pbs1:backup/vm/100/2025-01-31T01:00:03Z                  pbs-vm  backup     123456 100',
].join('\n');

/** Runs each command with qmrestore, pct, pvesm and pvesh as recording stand-ins; returns each call's argv. */
function runStubbed(commands: string[]): { calls: string[][]; dir: string } {
  const dir = tempDir('lifeline-pve-runbook-');
  writeFileSync(join(dir, 'listing'), `${LISTING}\n`);
  writeFileSync(join(dir, 'args'), '');
  const stubs = [
    `record() { printf '%s\\0' "$@" >> "$ARGS"; printf '\\n' >> "$ARGS"; }`,
    'qmrestore() { record qmrestore "$@"; }',
    'pct() { record pct "$@"; }',
    // pvesm lists the storage's backups of the guest it is asked for (only vmid 100 here).
    `pvesm() { record pvesm "$@"; grep -E "^(Volid|$2:)" "$LISTING"; }`,
    "pvesh() { record pvesh \"$@\"; echo 107; }",
  ].join('\n');
  for (const command of commands) {
    const r = bash(`${stubs}\n${command}`, dir, { ...process.env, ARGS: join(dir, 'args'), LISTING: join(dir, 'listing') });
    assert.equal(r.status, 0, `${command}\n${r.stderr}`);
  }
  const calls = readFileSync(join(dir, 'args'), 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((line) => line.split('\0').slice(0, -1));
  return { calls, dir };
}

const sideBySide = (notes: string[]) => notes.find((n) => n.includes('nextid'))!.replace(/^.*new MAC addresses: /, '');

test('bash: without an inventory, qmrestore gets the newest VM backup of the storage, never a container one', () => {
  const book = restoreRunbook(input({ ...vm, storage: 'local' }, null));
  const { calls } = runStubbed([...book.commands, sideBySide(book.notes)]);
  assert.deepEqual(calls, [
    ['pvesm', 'list', 'local', '--content', 'backup', '--vmid', '100'],
    ['qmrestore', 'local:backup/vzdump-qemu-100-2025_01_31-02_00_03.vma.zst', '100'],
    ['pvesm', 'list', 'local', '--content', 'backup', '--vmid', '100'],
    ['pvesh', 'get', '/cluster/nextid'],
    ['qmrestore', 'local:backup/vzdump-qemu-100-2025_01_31-02_00_03.vma.zst', '107', '--unique', '1'],
  ]);
});

test('bash: from PBS, a container restore gets the newest ct snapshot and the storage for its volumes', () => {
  const book = restoreRunbook(input({ ...ct, vmid: '100', storage: 'pbs1', storageType: 'pbs' }, null, [ZFS]));
  const { calls } = runStubbed(book.commands);
  assert.deepEqual(calls, [
    ['pvesm', 'list', 'pbs1', '--content', 'backup', '--vmid', '100'],
    ['pct', 'restore', '100', 'pbs1:backup/ct/100/2025-01-29T01:00:03Z', '--storage', 'local-zfs'],
  ]);
});

test('bash: the inventoried volume id and a new VMID reach qmrestore as single words', () => {
  const book = restoreRunbook(input(vm, PBS_VM));
  const { calls } = runStubbed([...book.commands, sideBySide(book.notes)]);
  assert.deepEqual(calls, [
    ['qmrestore', PBS_VM, '100'],
    ['pvesh', 'get', '/cluster/nextid'],
    ['qmrestore', PBS_VM, '107', '--unique', '1'],
  ]);
});

const EVIL = `x'"; touch PWNED; echo $(touch PWNED) \`touch PWNED\` *`;

test('bash: hostile facts, volume ids and storage names stay inert words', () => {
  for (const vmtype of ['qemu', 'lxc']) {
    const facts = { vmtype, vmid: `${EVIL}/vmid`, storage: `${EVIL}/storage`, storageType: EVIL, node: EVIL };
    for (const snapshot of [`${EVIL}:backup/x`, null]) {
      const book = restoreRunbook(input(facts, snapshot, [{ id: `${EVIL}/target`, content: 'rootdir' }]));
      assert.equal(book.commands.length, 1);
      const { calls, dir } = runStubbed([...book.commands, sideBySide(book.notes)]);
      assert.equal(existsSync(join(dir, 'PWNED')), false, `a command ran: ${book.commands.join('\n')}`);
      const restore = calls.find((c) => c[0] === 'qmrestore' || c[0] === 'pct')!;
      assert.ok(restore.includes(`${EVIL}/vmid`), JSON.stringify(calls));
      if (snapshot) assert.ok(restore.includes(snapshot), JSON.stringify(calls));
      if (vmtype === 'lxc') assert.ok(restore.includes(`${EVIL}/target`), JSON.stringify(calls));
      if (!snapshot) assert.ok(calls.some((c) => c[0] === 'pvesm' && c[2] === `${EVIL}/storage` && c[6] === `${EVIL}/vmid`), JSON.stringify(calls));
    }
  }
});
