import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { pbsDriver } from '../agent/drivers/pbs';
import { restoreRunbook, type RunbookInput } from '../collector/runbook/index';
import type { PbsWorld } from './fixtures/pbs/world';
import { tempDir } from './helpers/temp';

// The restore runbook of a `pbs` job: exact commands for given facts, then the commands run
// against the proxmox-backup-client stand-in (test/fixtures/pbs/bin), which replays
// REFERENCE-INTEGRATIONS §5 since the real client cannot run here.

const T = Date.UTC(2026, 10, 29, 2, 0, 0);
const SNAP = 'host/pve1/2026-11-29T02:00:00Z';
const FULL = {
  repository: 'root@pam!backup@pbs.lan:store1',
  passwordFile: '/etc/lifeline/pbs.pass',
  backupId: 'pve1',
  archives: 'etc.pxar:/etc\ndisk.img:/dev/sdb',
  namespace: 'homelab',
  keyFile: '/etc/lifeline/pbs.key',
  encryptionPasswordFile: '/etc/lifeline/pbs.key.pass',
  fingerprint: 'aa:bb:cc:dd:ee:ff:00:11:22:33:44:55:66:77:88:99:aa:bb:cc:dd:ee:ff:00:11:22:33:44:55:66:77:88:99',
};
const MINIMAL = { repository: 'pbs.lan:store1', passwordFile: '/etc/lifeline/pbs.pass', backupId: 'web01', archives: 'srv.pxar:/srv' };

const input = (restore: Record<string, string> | null, snapshot: RunbookInput['snapshot'], extra: Partial<RunbookInput> = {}): RunbookInput => ({
  driver: 'pbs', agent: 'pve1', job: 'etc-pbs', asset: 'pve1-etc', restore, snapshot, ...extra,
});

const ENV = `PBS_PASSWORD_FILE=/etc/lifeline/pbs.pass PBS_ENCRYPTION_PASSWORD_FILE=/etc/lifeline/pbs.key.pass PBS_FINGERPRINT=${FULL.fingerprint} `;
const WHERE = "--repository 'root@pam!backup@pbs.lan:store1' --ns homelab";

const TABLE: { name: string; in: RunbookInput; commands: string[]; notes?: RegExp[] }[] = [
  {
    name: 'the inventoried snapshot, each archive into /restore/JOB, secrets from files, the key by path',
    in: input(FULL, { id: SNAP, time: T, verified: 'ok' }, { verification: { newerFailed: 1, newerUnverified: 0 } }),
    commands: [
      `${ENV}proxmox-backup-client snapshot list host/pve1 ${WHERE}`,
      'mkdir -p /restore/etc-pbs',
      `${ENV}proxmox-backup-client restore ${SNAP} etc.pxar /restore/etc-pbs/etc ${WHERE} --keyfile /etc/lifeline/pbs.key`,
      `${ENV}proxmox-backup-client restore ${SNAP} disk.img /restore/etc-pbs/disk.img ${WHERE} --keyfile /etc/lifeline/pbs.key`,
    ],
    notes: [
      /to restore another one, put its path in place of host\/pve1\/2026-11-29T02:00:00Z/,
      /etc\.pxar \(of \/etc\) comes back as the directory \/restore\/etc-pbs\/etc/,
      /disk\.img \(of \/dev\/sdb\) comes back as the image file \/restore\/etc-pbs\/disk\.img: check it before writing it to a device/,
      /without the key file \/etc\/lifeline\/pbs\.key nothing restores/,
      /host\/pve1\/2026-11-29T02:00:00Z is the newest snapshot verified ok/,
      /1 newer snapshot failed verification and is passed over/,
    ],
  },
  {
    name: 'no inventory yet: the group, whose newest snapshot the client restores',
    in: input(MINIMAL, null),
    commands: [
      'PBS_PASSWORD_FILE=/etc/lifeline/pbs.pass proxmox-backup-client snapshot list host/web01 --repository pbs.lan:store1',
      'mkdir -p /restore/etc-pbs',
      'PBS_PASSWORD_FILE=/etc/lifeline/pbs.pass proxmox-backup-client restore host/web01 srv.pxar /restore/etc-pbs/srv --repository pbs.lan:store1',
    ],
    notes: [/No inventory of this copy/, /Given the group host\/web01, the client restores its newest snapshot/],
  },
  {
    name: 'an unverified newest snapshot is restored, and the runbook says it was never verified',
    in: input(MINIMAL, { id: 'host/web01/2026-11-29T02:00:00Z', time: T }, { verification: { newerFailed: 0, newerUnverified: 0 } }),
    commands: [
      'PBS_PASSWORD_FILE=/etc/lifeline/pbs.pass proxmox-backup-client snapshot list host/web01 --repository pbs.lan:store1',
      'mkdir -p /restore/etc-pbs',
      'PBS_PASSWORD_FILE=/etc/lifeline/pbs.pass proxmox-backup-client restore host/web01/2026-11-29T02:00:00Z srv.pxar /restore/etc-pbs/srv --repository pbs.lan:store1',
    ],
    notes: [/No snapshot of this copy is verified ok: host\/web01\/2026-11-29T02:00:00Z is the newest whose verification did not fail, and it was never verified/],
  },
  {
    name: 'an inventory id of another shape: the snapshot path is built from its time',
    in: input(MINIMAL, { id: 'something-else', time: T }),
    commands: [
      'PBS_PASSWORD_FILE=/etc/lifeline/pbs.pass proxmox-backup-client snapshot list host/web01 --repository pbs.lan:store1',
      'mkdir -p /restore/etc-pbs',
      'PBS_PASSWORD_FILE=/etc/lifeline/pbs.pass proxmox-backup-client restore host/web01/2026-11-29T02:00:00Z srv.pxar /restore/etc-pbs/srv --repository pbs.lan:store1',
    ],
  },
];

for (const c of TABLE) {
  test(`pbs runbook: ${c.name}`, () => {
    const book = restoreRunbook(c.in);
    assert.deepEqual(book.commands, c.commands);
    for (const note of c.notes ?? []) assert.ok(book.notes.some((n) => note.test(n)), `no note ${note}: ${JSON.stringify(book.notes, null, 1)}`);
  });
}

test('pbs runbook: facts without archives it can read, or without the backup id, give no command', () => {
  const unreadable = restoreRunbook(input({ ...MINIMAL, archives: 'etc:/etc' }, null));
  assert.deepEqual(unreadable.commands, []);
  assert.match(unreadable.notes.join(' '), /none of name\.pxar:\/path or name\.img:\/path/);
  const { backupId: _, ...noId } = MINIMAL;
  const missing = restoreRunbook(input(noId, null));
  assert.deepEqual(missing.commands, []);
  assert.match(missing.notes.join(' '), /lack backupId/);
});

test('pbs runbook: the commands restore the job\'s files through the stand-in client, with the agent\'s own facts', () => {
  const dir = tempDir('lifeline-rb-pbs-');
  try {
    const src = join(dir, 'src');
    mkdirSync(join(src, 'sub'), { recursive: true });
    writeFileSync(join(src, 'hosts'), '127.0.0.1 localhost\n');
    writeFileSync(join(src, 'sub', 'app.conf'), 'key = value\n');
    writeFileSync(join(dir, 'pass'), 'runbook-token-secret\n', { mode: 0o600 });
    const world: PbsWorld = { node: 'pbs1', datastores: [{ name: 'store1', path: join(dir, 'store1') }], snapshots: {}, tasks: [], tokens: { 'root@pam!backup': 'runbook-token-secret' } };
    writeFileSync(join(dir, 'world.json'), JSON.stringify(world));
    const options = pbsDriver.options(z).parse({ repository: 'root@pam!backup@pbs.lan:store1', passwordFile: join(dir, 'pass'), archives: [`etc.pxar:${src}`], backupId: 'pve1', namespace: 'homelab' });
    const facts = pbsDriver.restoreFacts!(options);
    const bin = dirname(fileURLToPath(new URL('./fixtures/pbs/bin/proxmox-backup-client', import.meta.url)));
    const env = { ...process.env, PBS_WORLD: join(dir, 'world.json'), PATH: `${bin}:${process.env.PATH}` };
    const backup = spawnSync('proxmox-backup-client', ['backup', `etc.pxar:${src}`, '--backup-id', 'pve1', '--ns', 'homelab', '--repository', facts.repository], {
      env: { ...env, PBS_PASSWORD_FILE: join(dir, 'pass') }, encoding: 'utf8',
    });
    assert.equal(backup.status, 0, backup.stderr);
    const snapshot = /Starting backup: (\S+)/.exec(backup.stdout)![1];
    for (const [name, snap] of [['by-id', { id: snapshot, time: Date.parse(snapshot.split('/')[2]) }], ['newest', null]] as const) {
      const out = join(dir, name);
      const commands = restoreRunbook(input(facts, snap)).commands.map((c) => c.replaceAll('/restore/etc-pbs', out));
      const r = spawnSync('bash', ['-c', ['set -e', ...commands].join('\n')], { env, encoding: 'utf8' });
      assert.equal(r.status, 0, `${commands.join('\n')}\n${r.stderr}`);
      assert.equal(readFileSync(join(out, 'etc', 'hosts'), 'utf8'), '127.0.0.1 localhost\n');
      assert.equal(readFileSync(join(out, 'etc', 'sub', 'app.conf'), 'utf8'), 'key = value\n');
      assert.match(r.stdout, new RegExp(snapshot.replace(/[/.]/g, '\\$&')));
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
