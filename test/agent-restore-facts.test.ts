import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { z } from 'zod';
import { catalogEntry } from '../agent/catalog';
import { loadAgentConfig } from '../agent/config';
import { DRIVERS } from '../agent/drivers';
import { withoutPassword } from '../agent/drivers/restore-facts';
import { publicLocation } from '../agent/drivers/rclone';
import { ConfigError } from '../shared/config-file';
import { catalogJobSchema } from '../shared/protocol';
import { tempDir } from './helpers/temp';

const dir = tempDir('lifeline-restore-facts-');
const PASSWORD = 'hunter2-Secret-Value';
// Every secret file holds the same recognisable password, in its tool's format.
const secretFile = (name: string, text: string) => {
  const file = join(dir, name);
  writeFileSync(file, text, { mode: 0o600 });
  return file;
};
const files = {
  restic: secretFile('restic.pass', `${PASSWORD}\n`),
  borg: secretFile('borg.pass', `${PASSWORD}\n`),
  pgpass: secretFile('pgpass', `db:5432:app:backup:${PASSWORD}\n`),
  mycnf: secretFile('my.cnf', `[client]\npassword = ${PASSWORD}\n`),
  mongo: secretFile('mongo.yaml', `password: ${PASSWORD}\n`),
  rclone: secretFile('rclone.conf', `[b2]\ntype = b2\naccount = id\nkey = ${PASSWORD}\n`),
  borgmatic: secretFile('borgmatic.yaml', `encryption_passphrase: ${PASSWORD}\n`),
};

/** The driver's facts for options as a config would give them (parsed by its own schema). */
function factsOf(driver: string, options: unknown): Record<string, string> {
  const d = DRIVERS[driver];
  return d.restoreFacts!(d.options(z).parse(options));
}

const assertNoSecret = (facts: Record<string, string>) => {
  for (const [key, value] of Object.entries(facts)) assert.ok(!value.includes(PASSWORD) && !value.includes('s3cr3t'), `fact ${key} holds a secret: ${value}`);
};

// One row per driver: options, the facts that must be there, and the facts expected exactly.
const CASES: { driver: string; options: unknown; expect: Record<string, string> }[] = [
  {
    driver: 'restic',
    options: { repository: 'rest:https://backup:s3cr3t@rest.example.net:8000/web/', passwordFile: files.restic, paths: ['/srv/www/'], host: 'web1', tags: ['a', 'b'] },
    expect: { repository: 'rest:https://rest.example.net:8000/web/', passwordFile: files.restic, host: 'web1', paths: '/srv/www', tags: 'a,b' },
  },
  {
    driver: 'borg',
    options: { repository: 'ssh://u123@u123.your-storagebox.de:23/./borg', passphraseFile: files.borg, paths: ['/srv'], rsh: 'ssh -p 23', archivePrefix: 'web-' },
    expect: { repository: 'ssh://u123@u123.your-storagebox.de:23/./borg', passphraseFile: files.borg, rsh: 'ssh -p 23', archivePrefix: 'web-' },
  },
  {
    driver: 'borgmatic',
    options: { config: files.borgmatic, repository: '/srv/borg' },
    expect: { config: files.borgmatic, repository: '/srv/borg' },
  },
  {
    driver: 'postgres',
    options: { database: 'app', host: 'db', port: 5432, user: 'backup', passFile: files.pgpass, dir: '/srv/dumps/pg' },
    expect: { dir: '/srv/dumps/pg', database: 'app', host: 'db', port: '5432', user: 'backup', passFile: files.pgpass },
  },
  {
    driver: 'mysql',
    options: { database: 'shop', user: 'backup', optionsFile: files.mycnf, dir: '/srv/dumps/my', compress: 'zstd', dumpBin: 'mysqldump' },
    expect: { dir: '/srv/dumps/my', database: 'shop', compress: 'zstd', user: 'backup', optionsFile: files.mycnf, client: 'mysql' },
  },
  {
    driver: 'mongodb',
    options: { uri: 'mongodb://backup@mongo:27017', configFile: files.mongo, database: 'shop', dir: '/srv/dumps/mongo' },
    expect: { dir: '/srv/dumps/mongo', uri: 'mongodb://backup@mongo:27017', configFile: files.mongo, database: 'shop' },
  },
  {
    driver: 'paths',
    options: { paths: ['/etc', '/srv/app'], volumes: ['nextcloud_data'], dir: '/mnt/usb/archives' },
    expect: { dir: '/mnt/usb/archives', compress: 'zstd', paths: '/etc\n/srv/app', volumes: 'nextcloud_data' },
  },
  {
    driver: 'rclone',
    options: { source: '/srv/restic', destination: ':sftp,host=h,user=u,pass=s3cr3t:backups/restic', configFile: files.rclone },
    expect: { destination: ':sftp,host=h,user=u:backups/restic', source: '/srv/restic', configFile: files.rclone, mode: 'copy' },
  },
  {
    driver: 'command',
    options: { argv: ['vzdump', '101'], restore: { kind: 'qemu', vmid: '101', storage: 'local-lvm' }, runbook: ['qm start 101'] },
    expect: { kind: 'qemu', vmid: '101', storage: 'local-lvm', dumpdir: '/var/lib/vz/dump', runbook: 'qm start 101' },
  },
];

for (const { driver, options, expect } of CASES) {
  test(`${driver}: the restore facts name the copy's location and credential files, never a secret`, () => {
    const facts = factsOf(driver, options);
    assert.deepEqual(facts, expect);
    assertNoSecret(facts);
  });
}

test('every driver describes its restore', () => {
  assert.deepEqual(
    Object.values(DRIVERS).filter((d) => !d.restoreFacts).map((d) => d.name),
    [],
  );
});

test('a restic repository without a configured host is filtered by this host name, as the driver lists snapshots', () => {
  const facts = factsOf('restic', { repository: '/srv/restic', passwordFile: files.restic, paths: ['/srv'] });
  assert.ok(facts.host && facts.host.length > 0);
  assert.equal(facts.tags, undefined);
});

test('URL passwords are removed with the user they belong to; a user alone stays', () => {
  assert.equal(withoutPassword('rest:https://user:pw@host/'), 'rest:https://host/');
  assert.equal(withoutPassword('rest:https://user:p@ss@host:8000/repo'), 'rest:https://host:8000/repo');
  assert.equal(withoutPassword('sftp://user@host/srv/borg'), 'sftp://user@host/srv/borg');
  assert.equal(withoutPassword('rest:https://host:8000/'), 'rest:https://host:8000/');
  assert.equal(withoutPassword('sftp:user@host:/srv/restic'), 'sftp:user@host:/srv/restic');
  assert.equal(publicLocation('remote:bucket/path'), 'remote:bucket/path');
  assert.equal(publicLocation(':s3,access_key_id=AK,secret_access_key=s3cr3t,provider=AWS:bucket'), ':s3,provider=AWS:bucket');
});

const config = (jobs: string) => `agent:
  name: pve1
  stateDir: ${dir}/state
targets:
  - { name: usb, location: onsite, media: usb }
jobs:
${jobs}`;

test('the catalog carries the facts as a valid restore record, and omits it when a job has none', () => {
  const file = secretFile(
    'agent.yaml',
    config(`  - name: web
    asset: web
    tier: 1
    target: usb
    driver: restic
    restic: { repository: "rest:https://u:${PASSWORD}@host/", passwordFile: ${files.restic}, paths: [/srv/www] }
  - name: vm101
    asset: vm101
    tier: 2
    target: usb
    driver: command
    command:
      argv: [vzdump, "101", --compress, zstd]
      restore: { kind: lxc, vmid: 101, dumpdir: /mnt/pve/dump }
  - name: plain
    asset: plain
    tier: 2
    target: usb
    driver: command
    command: [true]
`),
  );
  const [web, vm, plain] = loadAgentConfig(file).jobs.map(catalogEntry);
  for (const job of [web, vm, plain]) assert.ok(catalogJobSchema.safeParse(job).success);
  assert.equal(web.restore?.repository, 'rest:https://host/');
  assertNoSecret(web.restore!);
  assert.deepEqual(vm.restore, { kind: 'lxc', vmid: '101', dumpdir: '/mnt/pve/dump' });
  assert.equal('restore' in plain, false);
});

test('facts beyond the protocol bounds are left out rather than making the hello invalid', () => {
  const many = Array.from({ length: 200 }, (_, i) => `/srv/data/a-rather-long-directory-name-${i}`);
  const file = secretFile(
    'long.yaml',
    config(`  - name: big
    asset: big
    tier: 1
    target: usb
    driver: restic
    restic: { repository: /srv/restic, passwordFile: ${files.restic}, paths: ${JSON.stringify(many)} }
`),
  );
  const [entry] = loadAgentConfig(file).jobs.map(catalogEntry);
  assert.ok(catalogJobSchema.safeParse(entry).success);
  assert.equal(entry.restore?.paths, undefined);
  assert.equal(entry.restore?.repository, '/srv/restic');
});

test("a command job's restore declaration is validated with the other options, errors naming file:line", () => {
  const file = secretFile(
    'bad-restore.yaml',
    config(`  - name: vm
    asset: vm
    tier: 2
    target: usb
    driver: command
    command:
      argv: [vzdump, "101"]
      restore: { kind: kvm, vmid: 42, storage: "local lvm", extra: 1 }
      runbook: ["two\\nlines"]
`),
  );
  let err: unknown;
  try {
    loadAgentConfig(file);
  } catch (e) {
    err = e;
  }
  assert.ok(err instanceof ConfigError);
  const got = err.problems.map((p) => p.path).sort();
  assert.deepEqual(got, [
    'jobs.0.command.restore',
    'jobs.0.command.restore.kind',
    'jobs.0.command.restore.storage',
    'jobs.0.command.restore.vmid',
    'jobs.0.command.runbook.0',
  ]);
  assert.match(err.message, new RegExp(`${file}:14:\\d+: jobs.0.command.restore.kind: expected "qemu"`));
  assert.match(err.message, /jobs.0.command.restore.vmid: expected a Proxmox VMID/);
  assert.match(err.message, /jobs.0.command.runbook.0: expected one command on one line/);
});
