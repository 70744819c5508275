import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import Database from 'better-sqlite3';
import { z } from 'zod';
import { DRIVERS } from '../agent/drivers';
import { restoreRunbook, RUNBOOK_WRITERS, shellQuote, type RunbookInput } from '../collector/runbook/index';
import { driverHarness } from './helpers/driver-harness';
import { tempDir } from './helpers/temp';

const T = Date.UTC(2026, 10, 23, 2, 0, 0);
const input = (driver: string, restore: Record<string, string> | null, snapshotId: string | null): RunbookInput => ({
  driver,
  agent: 'pve1',
  job: 'web',
  asset: 'web',
  restore,
  snapshot: snapshotId === null ? null : { id: snapshotId, time: T },
});

const bash = (script: string, cwd?: string, env: NodeJS.ProcessEnv = process.env) =>
  spawnSync('bash', ['-c', script], { cwd, env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });

// ---- shellQuote ----

const HOSTILE = [`it's`, '$(touch PWNED)', '`touch PWNED`', 'a b\tc', '*', '~root', "'; touch PWNED; '", 'x\ny', '$HOME', '-rf', '', 'ünïcode', '"quoted"', '\\'];

test('shellQuote leaves plain words as they are and single-quotes everything else', () => {
  const table: [string, string][] = [
    ['/srv/restic', '/srv/restic'],
    ['s3:https://s3.example.net/bucket', 's3:https://s3.example.net/bucket'],
    ['web-2026-11-23T02:00:00Z', 'web-2026-11-23T02:00:00Z'],
    ['user@host:/path', 'user@host:/path'],
    ['a b', `'a b'`],
    [`it's`, `'it'\\''s'`],
    ['$(id)', `'$(id)'`],
    ['{hostname}-web-*', `'{hostname}-web-*'`],
    ['~root', `'~root'`],
    ['', `''`],
  ];
  for (const [value, quoted] of table) assert.equal(shellQuote(value), quoted, value);
});

test('every quoted value reaches a program as one word, unchanged, and runs nothing', () => {
  const dir = tempDir('lifeline-quote-');
  const script = `printf '%s\\0' ${HOSTILE.map(shellQuote).join(' ')}`;
  const r = bash(script, dir);
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(r.stdout.split('\0').slice(0, -1), HOSTILE);
  assert.equal(existsSync(join(dir, 'PWNED')), false);
});

// ---- one table per driver: the exact commands for given facts ----

const RESTIC = { repository: '/srv/restic', passwordFile: '/etc/lifeline/restic.pass', host: 'pve1', paths: '/srv/www\n/etc/nginx' };
const newest = (dir: string, pattern: string) => `"$(ls -1d -- ${dir}/${pattern} | tail -n 1)"`;

const TABLE: { name: string; in: RunbookInput; commands: string[]; notes?: RegExp[] }[] = [
  {
    name: 'restic restores the snapshot by id into /restore/JOB, repository and password file in the environment',
    in: input('restic', RESTIC, '1a2b3c4d'),
    commands: ['RESTIC_REPOSITORY=/srv/restic RESTIC_PASSWORD_FILE=/etc/lifeline/restic.pass restic restore 1a2b3c4d --target /restore/web'],
  },
  {
    name: "restic without an inventory restores latest, filtered to the job's host and paths",
    in: input('restic', { ...RESTIC, tags: 'daily' }, null),
    commands: [
      'RESTIC_REPOSITORY=/srv/restic RESTIC_PASSWORD_FILE=/etc/lifeline/restic.pass restic restore latest --target /restore/web --host pve1 --path /srv/www --path /etc/nginx --tag daily',
    ],
    notes: [/No inventory/],
  },
  {
    name: 'restic on a cloud backend says where the credentials come from',
    in: input('restic', { ...RESTIC, repository: 's3:https://s3.example.net/bucket' }, 'abcd1234'),
    commands: [
      'RESTIC_REPOSITORY=s3:https://s3.example.net/bucket RESTIC_PASSWORD_FILE=/etc/lifeline/restic.pass restic restore abcd1234 --target /restore/web',
    ],
    notes: [/credentials/],
  },
  {
    name: 'borg extracts REPO::ARCHIVE in an empty directory, the passphrase through BORG_PASSCOMMAND',
    in: input('borg', { repository: 'ssh://u1@box:23/./borg', passphraseFile: '/etc/lifeline/borg.pass', rsh: 'ssh -p 23' }, 'pve1-web-2026-11-23T02:00:00Z'),
    commands: [
      'mkdir -p /restore/web && cd /restore/web',
      "BORG_PASSCOMMAND='cat /etc/lifeline/borg.pass' BORG_RSH='ssh -p 23' borg extract --list ssh://u1@box:23/./borg::pve1-web-2026-11-23T02:00:00Z",
    ],
  },
  {
    name: "borg without an inventory extracts the newest archive of the job's prefix",
    in: input('borg', { repository: '/srv/borg', passphraseFile: '/etc/lifeline/borg.pass' }, null),
    commands: [
      'mkdir -p /restore/web && cd /restore/web',
      `BORG_PASSCOMMAND='cat /etc/lifeline/borg.pass' borg extract --list /srv/borg::"$(BORG_PASSCOMMAND='cat /etc/lifeline/borg.pass' borg list --short --sort-by timestamp --last 1 --glob-archives '{hostname}-web-*' /srv/borg)"`,
    ],
    notes: [/No inventory/, /\{hostname\}/],
  },
  {
    name: 'borgmatic extracts with the config and repository, latest without an inventory',
    in: input('borgmatic', { config: '/etc/borgmatic/config.yaml', repository: '/srv/borg' }, null),
    commands: ['borgmatic extract --config /etc/borgmatic/config.yaml --repository /srv/borg --archive latest --destination /restore/web'],
  },
  {
    name: 'borgmatic names the archive of the inventory',
    in: input('borgmatic', { config: '/etc/borgmatic/config.yaml' }, 'pve1-2026-11-23T02:00:00'),
    commands: ['borgmatic extract --config /etc/borgmatic/config.yaml --archive pve1-2026-11-23T02:00:00 --destination /restore/web'],
    notes: [/several repositories/],
  },
  {
    name: 'postgres restores a pg_dump archive with pg_restore --clean --if-exists into the database',
    in: input('postgres', { dir: '/srv/dumps/pg', database: 'app', host: 'db', port: '5433', user: 'backup', passFile: '/etc/lifeline/pgpass' }, 'web-20261123T020000Z.dump'),
    commands: ['PGPASSFILE=/etc/lifeline/pgpass pg_restore -h db -p 5433 -U backup --clean --if-exists -d app /srv/dumps/pg/web-20261123T020000Z.dump'],
    notes: [/createdb -h db -p 5433 -U backup app/],
  },
  {
    name: "postgres without an inventory restores the job's newest dump file, with the configured binaries",
    in: input('postgres', { dir: '/srv/dumps/pg', database: 'app', pgBin: '/usr/lib/postgresql/15/bin' }, null),
    commands: [`/usr/lib/postgresql/15/bin/pg_restore --clean --if-exists -d app ${newest('/srv/dumps/pg', 'web-????????T??????Z.dump')}`],
  },
  {
    name: 'postgres feeds a compressed pg_dumpall script to psql',
    in: input('postgres', { dir: '/srv/dumps/pg', all: 'true', compress: 'zstd', user: 'postgres' }, 'web-20261123T020000Z.sql.gz'),
    commands: ['gzip -dc /srv/dumps/pg/web-20261123T020000Z.sql.gz | psql -X -U postgres -d postgres'],
    notes: [/every role and database/],
  },
  {
    name: 'postgres reads an uncompressed pg_dumpall script with psql -f',
    in: input('postgres', { dir: '/srv/dumps/pg', all: 'true', compress: 'none' }, null),
    commands: [`psql -X -d postgres -f ${newest('/srv/dumps/pg', 'web-????????T??????Z.sql')}`],
  },
  {
    name: 'mysql creates the database, then loads the decompressed dump with the options file first',
    in: input('mysql', { dir: '/srv/dumps/my', database: 'shop', optionsFile: '/etc/lifeline/my.cnf', host: 'db', compress: 'none' }, 'web-20261123T020000Z.sql.zst'),
    commands: [
      "mariadb --defaults-extra-file=/etc/lifeline/my.cnf --host=db -e 'CREATE DATABASE IF NOT EXISTS `shop`'",
      'zstd -dc /srv/dumps/my/web-20261123T020000Z.sql.zst | mariadb --defaults-extra-file=/etc/lifeline/my.cnf --host=db shop',
    ],
    notes: [/MariaDB/],
  },
  {
    name: 'mysql with the mysql client and an uncompressed dump reads it from stdin',
    in: input('mysql', { dir: '/srv/dumps/my', database: 'shop', client: 'mysql', compress: 'none' }, null),
    commands: ["mysql -e 'CREATE DATABASE IF NOT EXISTS `shop`'", `mysql shop < ${newest('/srv/dumps/my', 'web-????????T??????Z.sql')}`],
  },
  {
    name: 'mongodb restores the gzip archive with --drop, the config file holding the password',
    in: input('mongodb', { dir: '/srv/dumps/mongo', uri: 'mongodb://backup@mongo:27017', configFile: '/etc/lifeline/mongo.yaml', database: 'shop' }, 'web-20261123T020000Z.archive.gz'),
    commands: [
      "mongorestore --uri=mongodb://backup@mongo:27017 --config=/etc/lifeline/mongo.yaml --archive=/srv/dumps/mongo/web-20261123T020000Z.archive.gz --gzip --drop '--nsInclude=shop.*'",
    ],
  },
  {
    name: 'mongodb with the oplog replays it',
    in: input('mongodb', { dir: '/srv/dumps/mongo', oplog: 'true' }, null),
    commands: [`mongorestore --archive=${newest('/srv/dumps/mongo', 'web-????????T??????Z.archive.gz')} --gzip --drop --oplogReplay`],
  },
  {
    name: 'paths extracts the archive under /restore/JOB and each Docker volume back in place',
    in: input('paths', { dir: '/mnt/usb/archives', compress: 'zstd', paths: '/etc', volumes: 'nextcloud_data' }, 'web-20261123T020000Z.tar.gz'),
    commands: [
      'mkdir -p /restore/web',
      'tar --extract --gzip --file=/mnt/usb/archives/web-20261123T020000Z.tar.gz -C /restore/web',
      'docker volume create nextcloud_data',
      'tar --extract --gzip --file=/mnt/usb/archives/web-20261123T020000Z.tar.gz -C / var/lib/docker/volumes/nextcloud_data/_data',
    ],
    notes: [/-C \//, /Stop the containers/],
  },
  {
    name: "paths without an inventory extracts the job's newest archive",
    in: input('paths', { dir: '/mnt/usb/archives', compress: 'zstd', paths: '/etc' }, null),
    commands: ['mkdir -p /restore/web', `tar --extract --zstd --file=${newest('/mnt/usb/archives', 'web-????????T??????Z.tar.zst')} -C /restore/web`],
  },
  {
    name: 'rclone copies the destination back with its config file',
    in: input('rclone', { destination: 'b2:bucket/restic', source: '/srv/restic', configFile: '/etc/lifeline/rclone.conf', mode: 'copy' }, 'current'),
    commands: ['RCLONE_CONFIG=/etc/lifeline/rclone.conf rclone copy --progress b2:bucket/restic /restore/web'],
    notes: [/copy of \/srv\/restic/],
  },
  {
    name: 'a Proxmox VM declared on a command job is restored with qmrestore from its newest vzdump archive',
    in: input('command', { kind: 'qemu', vmid: '101', storage: 'local-lvm', dumpdir: '/var/lib/vz/dump' }, null),
    commands: [
      `qmrestore "$(ls -1d -- /var/lib/vz/dump/vzdump-qemu-101-????_??_??-??_??_??.vma* | grep -E '\\.vma(\\.(zst|gz|lzo))?$' | tail -n 1)" 101 --storage local-lvm`,
    ],
    notes: [/No inventory/, /free VMID/],
  },
  {
    name: 'a Proxmox container is restored with pct restore, from the named archive when there is one',
    in: input('command', { kind: 'lxc', vmid: '102', storage: 'local-zfs', dumpdir: '/mnt/pve/nas/dump' }, 'vzdump-lxc-102-2026_11_23-02_00_00.tar.zst'),
    commands: ['pct restore 102 /mnt/pve/nas/dump/vzdump-lxc-102-2026_11_23-02_00_00.tar.zst --storage local-zfs'],
    notes: [/pct restore refuses/],
  },
  {
    name: "a command job's own runbook lines follow, as written",
    in: input('command', { kind: 'qemu', vmid: '101', dumpdir: '/var/lib/vz/dump', runbook: 'qm set 101 --onboot 1\nqm start 101' }, 'vzdump-qemu-101-2026_11_23-02_00_00.vma.zst'),
    commands: ['qmrestore /var/lib/vz/dump/vzdump-qemu-101-2026_11_23-02_00_00.vma.zst 101', 'qm set 101 --onboot 1', 'qm start 101'],
    notes: [/2 commands are shown as written/],
  },
];

for (const row of TABLE) {
  test(row.name, () => {
    const book = restoreRunbook(row.in);
    assert.deepEqual(book.commands, row.commands);
    for (const note of row.notes ?? []) assert.ok(book.notes.some((n) => note.test(n)), `no note matches ${note}: ${JSON.stringify(book.notes)}`);
    assert.equal(book.notes.some((n) => /No inventory/.test(n)), row.in.snapshot === null);
  });
}

test('the title names the job, agent and snapshot with its UTC time, or the newest copy', () => {
  assert.equal(restoreRunbook(input('restic', RESTIC, '1a2b3c4d')).title, 'Restore web on pve1 from restic snapshot 1a2b3c4d of 2026-11-23T02:00:00Z');
  assert.equal(restoreRunbook(input('restic', RESTIC, null)).title, 'Restore web on pve1 from its newest restic copy');
});

// ---- no facts, no commands ----

test('an unknown driver gets a note and no invented command', () => {
  for (const driver of ['tape', '__proto__', 'toString']) {
    const book = restoreRunbook(input(driver, { repository: '/srv/x' }, null));
    assert.deepEqual(book.commands, []);
    assert.match(book.notes.join(' '), /No runbook is known/);
  }
});

test('a job without facts, or without the ones its commands need, gets a note and no command', () => {
  const none = restoreRunbook(input('restic', null, '1a2b3c4d'));
  assert.deepEqual(none.commands, []);
  assert.match(none.notes.join(' '), /were not sent/);
  const partial = restoreRunbook(input('mysql', { dir: '/srv/dumps' }, null));
  assert.deepEqual(partial.commands, []);
  assert.match(partial.notes.join(' '), /lack database/);
  const empty = restoreRunbook(input('paths', { dir: '/mnt/usb/archives' }, null));
  assert.deepEqual(empty.commands, []);
  assert.match(empty.notes.join(' '), /describe nothing to restore/);
  const commandJob = restoreRunbook(input('command', null, null));
  assert.deepEqual(commandJob.commands, []);
  assert.match(commandJob.notes.join(' '), /command\.restore/);
});

test('every agent driver has a runbook writer', () => {
  assert.deepEqual(Object.keys(DRIVERS).filter((d) => !Object.hasOwn(RUNBOOK_WRITERS, d)), []);
});

// ---- hostile facts: run every command with the tools replaced by stubs that record their arguments ----

const EVIL = `x'"; touch PWNED; echo $(touch PWNED) \`touch PWNED\` *`;
const FACT_KEYS = [
  'repository', 'passwordFile', 'host', 'paths', 'tags', 'passphraseFile', 'rsh', 'remotePath', 'archivePrefix', 'config', 'dir', 'database',
  'all', 'compress', 'port', 'user', 'passFile', 'pgBin', 'socket', 'optionsFile', 'client', 'uri', 'configFile', 'oplog', 'volumes',
  'destination', 'source', 'mode', 'kind', 'vmid', 'storage', 'dumpdir', 'storageType', 'node',
  'backupId', 'namespace', 'keyFile', 'encryptionPasswordFile', 'fingerprint',
  'store', 'pbsHost', 'authId',
  'dataset', 'recursive', 'snapshots', 'replicaHost', 'replicaDataset', 'remoteZfs',
];
// vzdump's vmtype only picks one of two commands and is never written into one.
// pbs archives must read name.pxar:/path to give a command; the path is only written in notes.
// pbs-group's backupType picks the command (a host group: proxmox-backup-client; vm/ct need a numeric VMID).
const PICKED: Record<string, Record<string, string>> = { vzdump: { vmtype: 'qemu' }, pbs: { archives: `etc.pxar:${EVIL}` }, 'pbs-group': { backupType: 'host' } };
const STUBBED = ['restic', 'borg', 'borgmatic', 'pg_restore', 'psql', 'mariadb', 'mysql', 'mongorestore', 'tar', 'rclone', 'qmrestore', 'pct', 'pvesm', 'docker', 'zstd', 'gzip', 'mkdir', 'cd', 'ls', 'grep', 'proxmox-backup-client', 'zfs', 'ssh'];
const STUBS = STUBBED.map((t) => `${t}() { printf '%s\\0' ${t} "$@" >> "$ARGS"; }`).join('\n');

for (const driver of Object.keys(RUNBOOK_WRITERS)) {
  test(`${driver}: agent-supplied values with quotes, $(…) and backticks stay inert words`, () => {
    const dir = tempDir('lifeline-hostile-');
    const facts = { ...Object.fromEntries(FACT_KEYS.map((k) => [k, `${EVIL}/${k}`])), ...PICKED[driver] };
    // A hostile pgBin names no stub: that command fails to start, which is inert too.
    writeFileSync(join(dir, 'args'), '');
    let words: string[] = [];
    for (const snapshot of [EVIL, null]) {
      const book = restoreRunbook(input(driver, facts, snapshot));
      assert.ok(book.commands.length > 0, 'hostile facts still give commands');
      assert.ok(!book.commands.some((c) => c.includes('undefined')), book.commands.join('\n'));
      for (const command of book.commands) {
        // Redirections from a hostile path fail harmlessly: the file does not exist.
        bash(`${STUBS}\n${command}`, dir, { ...process.env, ARGS: join(dir, 'args') });
      }
      assert.equal(existsSync(join(dir, 'PWNED')), false, `a command ran: ${book.commands.join('\n')}`);
      words = readFileSync(join(dir, 'args'), 'utf8').split('\0');
    }
    // Each value arrived whole (possibly inside a longer argument such as --file=… or REPO::ARCHIVE).
    assert.ok(words.some((w) => w.includes(EVIL)), `no argument holds the value: ${JSON.stringify(words)}`);
  });
}

test('restic: a hostile repository and snapshot id arrive as the environment and one argument', () => {
  const dir = tempDir('lifeline-hostile-');
  const [command] = restoreRunbook(input('restic', { repository: EVIL, passwordFile: EVIL }, EVIL)).commands;
  const r = bash(`restic() { printf '%s\\0' "$RESTIC_REPOSITORY" "$@"; }\n${command}`, dir);
  assert.deepEqual(r.stdout.split('\0').slice(0, -1), [EVIL, 'restore', EVIL, '--target', '/restore/web']);
  assert.equal(existsSync(join(dir, 'PWNED')), false);
});

// ---- the commands restore real copies made by the real tools ----

/** Runs a runbook's commands in one bash, restoring into `out` instead of /restore/web. */
function runCommands(commands: string[], out: string, env: NodeJS.ProcessEnv = process.env) {
  const r = bash(['set -e', ...commands.map((c) => c.replaceAll('/restore/web', out))].join('\n'), undefined, env);
  assert.equal(r.status, 0, `${commands.join('\n')}\n${r.stderr}`);
}

const agentFacts = (driver: string, options: unknown) => {
  const d = DRIVERS[driver];
  return d.restoreFacts!(d.options(z).parse(options));
};

test('restic: the runbook restores the snapshot by id and as latest', () => {
  const dir = tempDir('lifeline-rb-restic-');
  const src = join(dir, 'src');
  mkdirSync(src);
  writeFileSync(join(src, 'index.html'), 'hello from restic\n');
  writeFileSync(join(dir, 'pass'), 'correct horse\n');
  const facts = agentFacts('restic', { repository: join(dir, 'repo'), passwordFile: join(dir, 'pass'), paths: [src], host: 'pve1' });
  const env = { ...process.env, RESTIC_REPOSITORY: facts.repository, RESTIC_PASSWORD_FILE: facts.passwordFile, RESTIC_CACHE_DIR: join(dir, 'cache') };
  for (const args of [['init'], ['backup', '--host', 'pve1', src]]) {
    const r = spawnSync('restic', args, { env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    assert.equal(r.status, 0, r.stderr);
  }
  const listed = spawnSync('restic', ['snapshots', '--json'], { env, encoding: 'utf8' });
  const [snap] = JSON.parse(listed.stdout) as { short_id: string }[];
  for (const [name, id] of [['by-id', snap.short_id], ['latest', null]] as const) {
    const out = join(dir, name);
    runCommands(restoreRunbook(input('restic', facts, id)).commands, out, { ...process.env, RESTIC_CACHE_DIR: join(dir, 'cache') });
    assert.equal(readFileSync(join(out, src, 'index.html'), 'utf8'), 'hello from restic\n');
  }
});

test("borg: the runbook extracts the job's newest archive through the passphrase file", () => {
  const dir = tempDir('lifeline-rb-borg-');
  const src = join(dir, 'src');
  mkdirSync(src);
  writeFileSync(join(dir, 'pass'), 'correct horse\n');
  const facts = agentFacts('borg', { repository: join(dir, 'repo'), passphraseFile: join(dir, 'pass'), paths: [src] });
  const env = { ...process.env, BORG_BASE_DIR: join(dir, 'base'), BORG_PASSCOMMAND: `cat ${join(dir, 'pass')}`, BORG_DISPLAY_PASSPHRASE: 'n' };
  const borg = (...args: string[]) => {
    const r = spawnSync('borg', args, { env, cwd: dir, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    assert.equal(r.status, 0, r.stderr);
  };
  borg('init', '--encryption=repokey', facts.repository);
  for (const [stamp, text] of [['20261122T020000Z', 'old\n'], ['20261123T020000Z', 'new\n']]) {
    writeFileSync(join(src, 'data.txt'), text);
    borg('create', `${facts.repository}::{hostname}-web-${stamp}`, 'src');
  }
  const out = join(dir, 'out');
  const { BORG_PASSCOMMAND: _, ...withoutPass } = env;
  runCommands(restoreRunbook(input('borg', facts, null)).commands, out, withoutPass);
  assert.equal(readFileSync(join(out, 'src', 'data.txt'), 'utf8'), 'new\n');
});

test("paths: the runbook extracts the job's newest tar archive", () => {
  const dir = tempDir('lifeline-rb-paths-');
  const archives = join(dir, 'archives');
  const src = join(dir, 'etc');
  mkdirSync(archives);
  mkdirSync(src);
  const facts = agentFacts('paths', { paths: [src], dir: archives });
  for (const [stamp, text] of [['20261122T020000Z', 'old\n'], ['20261123T020000Z', 'new\n']]) {
    writeFileSync(join(src, 'hosts'), text);
    // The driver's layout: members relative to /.
    const r = spawnSync('tar', ['--create', '--zstd', `--file=${join(archives, `web-${stamp}.tar.zst`)}`, '-C', '/', src.slice(1)]);
    assert.equal(r.status, 0, String(r.stderr));
  }
  const out = join(dir, 'out');
  runCommands(restoreRunbook(input('paths', facts, null)).commands, out);
  assert.equal(readFileSync(join(out, src, 'hosts'), 'utf8'), 'new\n');
});

test("end to end: a real agent's restic facts, stored by the collector, give a runbook that restores the inventory's newest snapshot", async () => {
  const dir = tempDir('lifeline-rb-e2e-');
  const src = join(dir, 'www');
  const repo = join(dir, 'repo');
  const cache = join(dir, 'cache');
  mkdirSync(src);
  writeFileSync(join(src, 'index.html'), 'served again\n');
  writeFileSync(join(dir, 'pass'), 'correct horse\n', { mode: 0o600 });
  const env = { ...process.env, RESTIC_CACHE_DIR: cache };
  const init = spawnSync('restic', ['init'], { env: { ...env, RESTIC_REPOSITORY: repo, RESTIC_PASSWORD_FILE: join(dir, 'pass') }, encoding: 'utf8' });
  assert.equal(init.status, 0, init.stderr);
  const h = await driverHarness(
    'rb-e2e',
    `  - name: web
    asset: web
    tier: 1
    target: local-disk
    driver: restic
    restic: { repository: ${repo}, passwordFile: ${join(dir, 'pass')}, paths: [${src}], host: pve1, cacheDir: ${cache} }
`,
  );
  try {
    const r = await h.agentCli('run', 'web');
    assert.equal(r.code, 0, r.stderr + r.stdout);
    const db = new Database(h.collector.db, { readonly: true });
    const row = db.prepare("SELECT j.driver, j.asset, j.restore, a.name AS agent FROM jobs j JOIN agents a ON a.id = j.agent_id WHERE j.name = 'web'").get() as {
      driver: string; asset: string; restore: string; agent: string;
    };
    db.close();
    const [snap] = h.inventory('web');
    const book = restoreRunbook({
      driver: row.driver, agent: row.agent, job: 'web', asset: row.asset,
      restore: JSON.parse(row.restore) as Record<string, string>,
      snapshot: { id: snap.id, time: Date.parse(snap.time) },
    });
    assert.equal(book.commands.length, 1);
    assert.match(book.commands[0], new RegExp(`restic restore ${snap.id} --target /restore/web$`));
    const out = join(dir, 'out');
    runCommands(book.commands, out, env);
    assert.equal(readFileSync(join(out, src, 'index.html'), 'utf8'), 'served again\n');
  } finally {
    await h.close();
  }
});
