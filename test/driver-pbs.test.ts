import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArchive, parseRepository, type PbsArchive } from '../agent/drivers/pbs-options';
import { BackupOutput, keepArgs, parseHumanBytes, pruneDecision, snapshotPath } from '../agent/drivers/pbs-output';
import { pickArchive } from '../agent/drivers/pbs-restore';
import type { PbsWorld, PbsWorldSnapshot } from './fixtures/pbs/world';
import { driverHarness, type Harness } from './helpers/driver-harness';
import { AGENT_BIN, cli, tempDir, writeAgentConfig } from './helpers/processes';
import { editLocked } from './helpers/world-lock';

// proxmox-backup-client cannot run here: test/fixtures/pbs/bin/proxmox-backup-client stands in
// for it, replaying REFERENCE-INTEGRATIONS §5 (its backup lines, `snapshot list` JSON items,
// `Error: …` on stderr with exit 255, auth from PBS_PASSWORD_FILE's first line, PBS_FINGERPRINT,
// PBS's prune selection) and keeping real copies of what it backs up, so restores are real files.
// The bundled agent runs it, and a real collector stores what the agent reports.

// PBS buckets prune rules in the server's local time; the stand-in runs with this zone too.
process.env.TZ = 'Europe/Berlin';

const CLIENT = fileURLToPath(new URL('./fixtures/pbs/bin/proxmox-backup-client', import.meta.url));
const dir = tempDir('lifeline-pbs-');
const store = join(dir, 'store1');
const worldFile = join(dir, 'world.json');
const src = join(dir, 'src');

// Distinctive strings, looked for everywhere they must not be.
const TOKEN_SECRET = 'pbs-token-secret-Hq83vZ';
const ENC_PASSWORD = 'pbs-key-password-Wm27cT';
const WRONG_SECRET = 'not-the-token-secret-Kd52';
const FINGERPRINT = Array.from({ length: 32 }, (_, i) => (0xa0 + i).toString(16)).join(':');
const SECRETS = [TOKEN_SECRET, ENC_PASSWORD, WRONG_SECRET, FINGERPRINT];

const REPO = 'root@pam!backup@pbs.lan:store1';
const passFile = join(dir, 'pbs.pass');
const wrongPassFile = join(dir, 'wrong.pass');
const keyFile = join(dir, 'pbs.key');
const keyPassFile = join(dir, 'pbs.key.pass');
const imageFile = join(src, 'disk.img');

const readWorld = (): PbsWorld => JSON.parse(readFileSync(worldFile, 'utf8'));
const editWorld = (edit: (w: PbsWorld) => void): void => editLocked(worldFile, edit);

// The pruned group: 16 Wednesdays at noon, two more snapshots in the newest week, and a
// protected one in a week beyond the 12 weeks tier 2 keeps. Verification states on some.
const wednesday = (weeksBack: number, hour = 12) => new Date(2026, 10, 25 - 7 * weeksBack, hour).getTime() / 1000;
const old = (time: number, extra: Partial<PbsWorldSnapshot> = {}): PbsWorldSnapshot => ({
  'backup-type': 'host', 'backup-id': 'old-host', 'backup-time': time,
  files: [{ filename: 'etc.pxar.didx', 'crypt-mode': 'none', size: 1000 }, { filename: 'index.json.blob', 'crypt-mode': 'none', size: 300 }],
  size: 1300, owner: 'root@pam!backup', ...extra,
});
const WEEKLY = Array.from({ length: 16 }, (_, w) => wednesday(w));
const SAME_WEEK = [wednesday(0, 11), wednesday(0, 10)];
const PROTECTED = wednesday(14, 9) - 86_400; // Tuesday of week 14
const FAILED_UPID = 'UPID:pbs1:00001234:00ABCDEF:00000007:6B000000:verify_snapshot:store1\\x3ahost-old\\x2dhost:root@pam:';

const job = (name: string, pbs: string, extra = '') => `  - name: ${name}
    asset: ${name}-data
    tier: 2
    target: local-disk
    driver: pbs
    pbs: ${pbs}
${extra}`;
const common = `repository: "${REPO}", passwordFile: ${passFile}, client: ${CLIENT}`;
const mainOptions = `{ ${common}, archives: ["etc.pxar:${src}/etc", "data.pxar:${src}/data"], namespace: homelab, backupId: pve1, encryptionKeyFile: ${keyFile}, encryptionPasswordFile: ${keyPassFile}, fingerprint: "${FINGERPRINT}" }`;
const fp = `fingerprint: "${FINGERPRINT}"`;

let h: Harness;

before(async () => {
  writeFileSync(passFile, `${TOKEN_SECRET}\nonly the first line counts\n`, { mode: 0o600 });
  writeFileSync(wrongPassFile, `${WRONG_SECRET}\n`, { mode: 0o600 });
  writeFileSync(keyFile, JSON.stringify({ kdf: 'scrypt', data: randomBytes(48).toString('base64') }), { mode: 0o600 });
  writeFileSync(keyPassFile, `${ENC_PASSWORD}\n`, { mode: 0o600 });
  mkdirSync(join(src, 'etc', 'ssh'), { recursive: true });
  mkdirSync(join(src, 'data', 'db'), { recursive: true });
  writeFileSync(join(src, 'etc', 'hosts'), '127.0.0.1 localhost\n');
  writeFileSync(join(src, 'etc', 'ssh', 'sshd_config'), 'PermitRootLogin no\n');
  writeFileSync(join(src, 'data', 'db', 'big.bin'), randomBytes(200_000));
  writeFileSync(join(src, 'data', 'notes.txt'), 'restore me\n');
  writeFileSync(imageFile, randomBytes(64 * 1024));
  mkdirSync(store);
  const world: PbsWorld = {
    node: 'pbs1',
    datastores: [{ name: 'store1', path: store }],
    snapshots: {
      store1: [
        ...WEEKLY.map((t, i) => old(t, i === 0 ? { verification: { upid: 'UPID:pbs1:1:2:3:4:verify_snapshot::root@pam:', state: 'ok' } } : i === 1 ? { verification: { upid: FAILED_UPID, state: 'failed' } } : {})),
        ...SAME_WEEK.map((t) => old(t)),
        old(PROTECTED, { protected: true }),
      ],
    },
    tasks: [],
    tokens: { 'root@pam!backup': TOKEN_SECRET },
    fingerprint: FINGERPRINT,
    keyPasswords: { [keyFile]: ENC_PASSWORD },
  };
  writeFileSync(worldFile, JSON.stringify(world, null, 1));
  // The agent (and so the stand-in it starts) finds the world through the environment.
  process.env.PBS_WORLD = worldFile;
  h = await driverHarness(
    'pbs-host',
    [
      job('main', mainOptions),
      job('image', `{ ${common}, archives: ["disk.img:${imageFile}"], backupId: pve1-image, ${fp} }`),
      job('pruned', `{ ${common}, archives: ["etc.pxar:${src}/etc"], backupId: old-host, ${fp} }`),
      job('badpass', `{ repository: "${REPO}", passwordFile: ${wrongPassFile}, client: ${CLIENT}, archives: ["etc.pxar:${src}/etc"], backupId: badpass, ${fp} }`),
      job('nofingerprint', `{ ${common}, archives: ["etc.pxar:${src}/etc"], backupId: nofp }`),
    ].join(''),
  );
  // A file changed within the second of its snapshot cannot be judged by the drill: let the
  // sources age past the first backup's time.
  await sleep(1100);
});

after(async () => {
  await h?.close();
  rmSync(dir, { recursive: true, force: true });
});

const lastRun = (name: string, operation: string) => {
  const rows = h.runs(name, operation);
  assert.ok(rows.length > 0, `no ${operation} run of ${name}`);
  return rows[rows.length - 1];
};

// ---- pure parts, as tables ------------------------------------------------------------------

test('repositories parse as [[user@realm[!token]@]host[:port]:]datastore, with PBS defaults', () => {
  const table: [string, ReturnType<typeof parseRepository>][] = [
    ['root@pam!backup@pbs.lan:store1', { authid: 'root@pam!backup', host: 'pbs.lan', port: 8007, datastore: 'store1' }],
    ['backup@pbs@10.0.0.5:8008:tank', { authid: 'backup@pbs', host: '10.0.0.5', port: 8008, datastore: 'tank' }],
    ['pbs.lan:store1', { authid: 'root@pam', host: 'pbs.lan', port: 8007, datastore: 'store1' }],
    ['store1', { authid: 'root@pam', host: 'localhost', port: 8007, datastore: 'store1' }],
    ['[fd00::5]:store1', { authid: 'root@pam', host: '[fd00::5]', port: 8007, datastore: 'store1' }],
    ['root@pam@pbs.lan:', null],
    ['root@pbs.lan:store1', null], // a user needs its realm
    ['pbs.lan:99999:store1', null],
    ['sftp://pbs.lan/store1', null],
  ];
  for (const [text, expected] of table) assert.deepEqual(parseRepository(text), expected, text);
});

test('archives are name.pxar:/dir or name.img:/file, with absolute paths', () => {
  assert.deepEqual(parseArchive('etc.pxar:/etc'), { archive: 'etc.pxar', name: 'etc', type: 'pxar', source: '/etc', spec: 'etc.pxar:/etc' });
  assert.deepEqual(parseArchive('root-disk.img:/dev/sda'), { archive: 'root-disk.img', name: 'root-disk', type: 'img', source: '/dev/sda', spec: 'root-disk.img:/dev/sda' });
  assert.match(parseArchive('etc:/etc') as string, /expected "name\.pxar:\/absolute\/path"/);
  assert.match(parseArchive('etc.tar:/etc') as string, /expected "name\.pxar/);
  assert.match(parseArchive('etc.pxar:etc') as string, /the path must be absolute/);
  assert.match(parseArchive('-x.pxar:/etc') as string, /expected/);
});

test('retention maps onto --keep-* with every GFS rule; zero rules keep nothing and are left out', () => {
  assert.deepEqual(keepArgs({ last: 3, hourly: 0, daily: 7, weekly: 4, monthly: 12, yearly: 2 }), ['--keep-last', '3', '--keep-daily', '7', '--keep-weekly', '4', '--keep-monthly', '12', '--keep-yearly', '2']);
  assert.deepEqual(keepArgs({ weekly: 12 }), ['--keep-weekly', '12']);
  assert.deepEqual(keepArgs({}), []);
});

test('backup output gives the snapshot, duration, bytes added (summed over archives) and the error', () => {
  const out = new BackupOutput();
  for (const line of [
    'Starting backup: host/elsa/2019-12-03T09:35:01Z',
    'Client name: elsa',
    'etc.pxar: had to backup 1.5 MiB of 4.71 MiB (compressed 300 KiB) in 0.28 s (average 5.36 MiB/s)',
    'data.pxar: had to backup 12 B of 17 B (compressed 6 B) in 0.01 s (average 1.2 KiB/s)',
    'Duration: 87.12s',
    'End Time: Tue Dec  3 10:36:29 2019',
  ]) out.line(line);
  assert.deepEqual(out.report, { snapshot: 'host/elsa/2019-12-03T09:35:01Z', bytesAdded: 1_572_864 + 12, durationMs: 87_120 });
  const failed = new BackupOutput();
  failed.line('Error: unable to acquire lock on snapshot directory');
  assert.equal(failed.report.error, 'unable to acquire lock on snapshot directory');
  assert.equal(parseHumanBytes('2.5 GB'), 2_500_000_000);
  assert.equal(parseHumanBytes('3 bananas'), undefined);
});

test('prune JSON tells kept, removed and protected snapshots apart', () => {
  const json = JSON.stringify([
    { 'backup-type': 'host', 'backup-id': 'a', 'backup-time': 1_700_000_000, keep: true },
    { 'backup-type': 'host', 'backup-id': 'a', 'backup-time': 1_600_000_000, keep: true, protected: true },
    { 'backup-type': 'host', 'backup-id': 'a', 'backup-time': 1_500_000_000, keep: false },
  ]);
  assert.deepEqual(pruneDecision(json), {
    kept: ['host/a/2023-11-14T22:13:20Z', 'host/a/2020-09-13T12:26:40Z'],
    removed: ['host/a/2017-07-14T02:40:00Z'],
    protectedKept: ['host/a/2020-09-13T12:26:40Z'],
  });
  assert.equal(pruneDecision('not json'), null);
});

test('the drill picks one archive per snapshot, the same again for the same snapshot, and spreads over all', () => {
  const archives = ['etc.pxar:/etc', 'data.pxar:/srv', 'disk.img:/dev/sdb'].map((a) => parseArchive(a) as PbsArchive);
  const held = archives.map((a) => ({ name: a.archive }));
  const picks = Array.from({ length: 30 }, (_, i) => pickArchive({ path: snapshotPath('host', 'pve1', 1_790_000_000 + i * 86_400), archives: held }, archives)!.archive);
  assert.deepEqual(new Set(picks), new Set(['etc.pxar', 'data.pxar', 'disk.img']));
  const one = { path: 'host/pve1/2026-11-29T02:00:00Z', archives: held };
  assert.equal(pickArchive(one, archives), pickArchive(one, archives));
  // Only archives the snapshot holds (one added to the config later is not there yet).
  assert.equal(pickArchive({ path: one.path, archives: [{ name: 'data.pxar' }] }, archives)?.archive, 'data.pxar');
  assert.equal(pickArchive({ path: one.path, archives: [{ name: 'index.json' }] }, archives), undefined);
});

test("the stand-in prunes as PBS does: keep-last first, a day held by it counts for keep-daily, protected never removed, no rule keeps all", () => {
  // The stand-in's own selection (pbs-datastore prune.rs), which the prune test below relies on.
  const { pruneMarks } = createRequire(import.meta.url)('./fixtures/pbs/client.cjs') as { pruneMarks: (s: PbsWorldSnapshot[], keep: Record<string, number>) => { mark: Map<string, string> } };
  const at = (d: number, hour: number) => new Date(2026, 10, d, hour).getTime() / 1000;
  const snaps = { A: at(29, 23), B: at(29, 10), C: at(28, 22), D: at(28, 8), E: at(27, 12), F: at(26, 12) };
  const list = Object.entries(snaps).map(([name, t]) => ({ ...old(t), ...(name === 'E' ? { protected: true } : {}) }));
  const decide = (keep: Record<string, number>) => {
    const { mark } = pruneMarks(list, keep);
    return Object.fromEntries(Object.entries(snaps).map(([name, t]) => [name, mark.get(snapshotPath('host', 'old-host', t))]));
  };
  assert.deepEqual(decide({ 'keep-last': 1, 'keep-daily': 2 }), { A: 'keep', B: 'remove', C: 'keep', D: 'remove', E: 'protected', F: 'keep' });
  assert.deepEqual(decide({ 'keep-weekly': 1 }), { A: 'keep', B: 'remove', C: 'remove', D: 'remove', E: 'protected', F: 'remove' });
  assert.deepEqual(decide({}), { A: 'keep', B: 'keep', C: 'keep', D: 'keep', E: 'protected', F: 'keep' });
});

// ---- config --------------------------------------------------------------------------------

test('bad pbs options are refused at load with file:line and what was expected', () => {
  const bad = writeAgentConfig({
    name: 'pbs-bad',
    jobs: [
      job('badarchive', `{ ${common}, archives: ["etc:/etc"] }`),
      job('relative', `{ ${common}, archives: ["etc.pxar:etc"] }`),
      job('dup', `{ ${common}, archives: ["etc.pxar:/etc", "etc.pxar:/srv/etc"] }`),
      job('badrepo', `{ repository: "sftp://pbs/store", passwordFile: ${passFile}, archives: ["etc.pxar:/etc"] }`),
      job('openpass', `{ repository: "${REPO}", passwordFile: ${join(dir, 'open.pass')}, archives: ["etc.pxar:/etc"] }`),
    ].join(''),
  });
  writeFileSync(join(dir, 'open.pass'), 'x\n', { mode: 0o644 });
  try {
    const r = cli(AGENT_BIN, ['check-config', '--config', bad.config]);
    assert.equal(r.code, 2);
    const at = (line: number) => `${bad.config}:${line}:\\d+: `;
    for (const expected of [
      new RegExp(`${at(15)}jobs\\.0\\.pbs\\.archives\\.0: expected "name\\.pxar:/absolute/path" \\(or "name\\.img:/dev/…" for a block device or image file\\), got "etc:/etc"`),
      new RegExp(`${at(21)}jobs\\.1\\.pbs\\.archives\\.0: "etc\\.pxar:etc": the path must be absolute`),
      new RegExp(`${at(27)}jobs\\.2\\.pbs\\.archives\\.1: duplicate archive name "etc\\.pxar"`),
      new RegExp(`${at(33)}jobs\\.3\\.pbs\\.repository: expected \\[\\[user@realm\\[!token\\]@\\]host\\[:port\\]:\\]datastore`),
      new RegExp(`${at(39)}jobs\\.4\\.pbs\\.passwordFile: secret file .*open\\.pass is readable by other users`),
    ]) assert.match(r.stderr, expected);
    assert.ok(!r.stderr.includes('    at '), 'no stack trace');
  } finally {
    rmSync(bad.dir, { recursive: true, force: true });
  }
});

// ---- backup --------------------------------------------------------------------------------

test('a client error (exit 255, "Error: …" on stderr) fails the backup with that text', async () => {
  editWorld((w) => {
    w.fail = { backup: 'unable to create backup - datastore store1 has no space left' };
  });
  const r = await h.agentCli('run', 'main');
  assert.notEqual(r.code, 0);
  const run = lastRun('main', 'backup');
  assert.equal(run.status, 'failure');
  assert.equal(run.exit_code, 255);
  assert.equal(run.error, 'proxmox-backup-client backup: unable to create backup - datastore store1 has no space left');
});

test('a backup reports its snapshot, the server size, the bytes added and its duration', async () => {
  const r = await h.agentCli('run', 'main');
  assert.equal(r.code, 0, r.stderr + r.stdout);
  const snaps = readWorld().snapshots.store1.filter((s) => s['backup-id'] === 'pve1');
  assert.equal(snaps.length, 1);
  const made = snaps[0];
  assert.equal(made.ns, 'homelab');
  assert.equal(made.owner, 'root@pam!backup');
  assert.deepEqual(made.files.map((f) => [f.filename, f['crypt-mode']]), [
    ['etc.pxar.didx', 'encrypt'], ['data.pxar.didx', 'encrypt'], ['catalog.pcat1.didx', 'encrypt'], ['index.json.blob', 'sign-only'],
  ]);
  const run = lastRun('main', 'backup');
  assert.equal(run.status, 'success');
  assert.equal(run.exit_code, 0);
  assert.equal(run.snapshot_id, snapshotPath('host', 'pve1', made['backup-time']));
  assert.match(run.snapshot_id!, /^host\/pve1\/\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
  assert.equal(run.bytes_total, made.size);
  // All new: the sources' bytes, as the client's statistics print them (rounded to 0.01 KiB/MiB).
  const sourceBytes = 200_000 + 11 + 20 + 19;
  assert.ok(Math.abs(run.bytes_added! - sourceBytes) < 2048, `bytes added ${run.bytes_added}`);
  assert.ok(run.duration_ms! > 0);
  assert.match(run.log_tail!, /Starting backup: host\/pve1\//);
  assert.match(run.log_tail!, /\[lifeline\] snapshot host\/pve1\/\S+: \d+ bytes in 4 files \(etc\.pxar, data\.pxar, catalog\.pcat1, index\.json\), \d+ bytes new .* in \d+\.\d\d s/);
  // The run's prune and inventory followed (tier 2: 12 weekly).
  assert.equal(lastRun('main', 'prune').status, 'success');
  assert.deepEqual(h.inventory('main').map((s) => s.id), [run.snapshot_id]);
  const task = readWorld().tasks.find((t) => t.worker_type === 'backup');
  assert.equal(task?.worker_id, 'store1:host/pve1');
  assert.match(task!.upid, /^UPID:pbs1:[0-9A-F]{8}:[0-9A-F]{8}:[0-9A-F]{8}:[0-9A-F]{8}:backup:store1\\x3ahost-pve1:root@pam!backup:$/);
});

test('a wrong password fails clearly, and so does a self-signed server without its fingerprint', async () => {
  await h.agentCli('run', 'badpass');
  const bad = lastRun('badpass', 'backup');
  assert.equal(bad.status, 'failure');
  assert.equal(bad.exit_code, 255);
  assert.equal(bad.error, 'proxmox-backup-client backup: authentication failed - invalid credentials');
  await h.agentCli('run', 'nofingerprint');
  assert.match(lastRun('nofingerprint', 'backup').error!, /^proxmox-backup-client backup: error trying to connect: .*certificate verify failed$/);
});

// ---- inventory and prune -------------------------------------------------------------------

test('the inventory is the group\'s snapshot list with sizes, verification states and the protected flag', async () => {
  const r = await h.agentCli('inventory', 'pruned');
  assert.equal(r.code, 0, r.stderr);
  const inv = h.inventory('pruned');
  assert.equal(inv.length, WEEKLY.length + SAME_WEEK.length + 1);
  const byTime = new Map(inv.map((s) => [Date.parse(s.time) / 1000, s as { id: string; bytes?: number; verified?: string; protected?: boolean }]));
  assert.deepEqual(byTime.get(WEEKLY[0]), { id: snapshotPath('host', 'old-host', WEEKLY[0]), time: new Date(WEEKLY[0] * 1000).toISOString(), bytes: 1300, verified: 'ok' });
  assert.equal(byTime.get(WEEKLY[1])?.verified, 'failed');
  assert.equal(byTime.get(WEEKLY[2])?.verified, undefined);
  assert.equal(byTime.get(PROTECTED)?.protected, true);
  // Only this group: the other jobs' snapshots in the same datastore are not in it.
  assert.ok(inv.every((s) => s.id.startsWith('host/old-host/')));
});

test('prune applies the tier\'s retention (12 weekly) with PBS\'s rules: extra snapshots in a week and weeks past 12 go, protected stays', async () => {
  const r = await h.agentCli('prune', 'pruned');
  assert.equal(r.code, 0, r.stderr + r.stdout);
  const run = lastRun('pruned', 'prune');
  assert.equal(run.status, 'success');
  const left = readWorld().snapshots.store1.filter((s) => s['backup-id'] === 'old-host').map((s) => s['backup-time']).sort((a, b) => b - a);
  assert.deepEqual(left, [...WEEKLY.slice(0, 12), PROTECTED].sort((a, b) => b - a));
  assert.match(run.log_tail!, /host\/old-host pruned with --keep-weekly 12: kept 13 snapshots \(1 of them protected\), removed 6/);
  const call = readWorld().calls!.filter((c) => c.argv[0] === 'prune').pop()!;
  assert.deepEqual(call.argv, ['prune', 'host/old-host', '--keep-weekly', '12', '--output-format', 'json', '--repository', REPO]);
});

// ---- verify --------------------------------------------------------------------------------

test('verify reads the newest snapshot\'s verification: never verified warns, ok passes, failed names the snapshot and task', async () => {
  await h.agentCli('verify', 'main');
  const never = lastRun('main', 'verify');
  assert.equal(never.status, 'warning');
  assert.match(never.error!, /^snapshot host\/pve1\/\S+ has never been verified: PBS verifies on the server, so schedule a verify job on datastore store1/);
  const newest = () => readWorld().snapshots.store1.filter((s) => s['backup-id'] === 'pve1').sort((a, b) => b['backup-time'] - a['backup-time'])[0];
  const path = snapshotPath('host', 'pve1', newest()['backup-time']);
  const setState = (state: 'ok' | 'failed') =>
    editWorld((w) => {
      const s = w.snapshots.store1.find((x) => x['backup-id'] === 'pve1' && x['backup-time'] === newest()['backup-time'])!;
      s.verification = { upid: FAILED_UPID, state };
    });
  setState('ok');
  await h.agentCli('verify', 'main');
  assert.equal(lastRun('main', 'verify').status, 'success');
  setState('failed');
  await h.agentCli('verify', 'main');
  const failed = lastRun('main', 'verify');
  assert.equal(failed.status, 'failure');
  assert.equal(failed.error, `snapshot ${path} failed its last verification (task ${FAILED_UPID}): its data is damaged on the server; read that task's log on the PBS`);
});

// ---- restore drill -------------------------------------------------------------------------

/** The stand-in's stored copy of the archive the next drill of `group`'s newest snapshot restores. */
function drilledCopy(id: string, ns: string, archives: string[]): { archive: PbsArchive; dir: string; snapshot: string } {
  const newest = readWorld().snapshots.store1.filter((s) => s['backup-id'] === id).sort((a, b) => b['backup-time'] - a['backup-time'])[0];
  const path = snapshotPath('host', id, newest['backup-time']);
  const parsed = archives.map((a) => parseArchive(a) as PbsArchive);
  const archive = pickArchive({ path, archives: newest.files.map((f) => ({ name: f.filename.replace(/\.(didx|fidx|blob)$/, '') })) }, parsed)!;
  const at = join(store, '.standin', ...(ns ? ['ns', ns] : []), 'host', id, path.split('/')[2], archive.archive);
  return { archive, dir: at, snapshot: path };
}

test('the restore drill restores a sampled archive of the newest snapshot and checks it against the live files', async () => {
  const { archive, snapshot } = drilledCopy('pve1', 'homelab', [`etc.pxar:${src}/etc`, `data.pxar:${src}/data`]);
  await h.agentCli('restore-test', 'main');
  const run = lastRun('main', 'restore-test');
  assert.equal(run.status, 'success', run.error ?? '');
  assert.equal(run.snapshot_id, snapshot);
  assert.equal(run.files, 2);
  assert.equal(run.bytes_total, archive.name === 'etc' ? 20 + 19 : 200_000 + 11);
  assert.match(run.log_tail!, new RegExp(`restoring archive ${archive.archive} \\(of 2\\) of snapshot ${snapshot}`));
  assert.match(run.log_tail!, /2 file\(s\) restored; live: 2 file\(s\), 2 unchanged since the snapshot, checked by size, 2 by SHA-256/);
  const call = readWorld().calls!.filter((c) => c.argv[0] === 'restore').pop()!;
  assert.equal(call.argv[1], snapshot);
  assert.equal(call.argv[2], archive.archive);
  assert.match(call.argv[3], new RegExp(`/scratch/main-[^/]+/${archive.name}$`));
  assert.deepEqual(call.argv.slice(4), ['--keyfile', keyFile, '--repository', REPO, '--ns', 'homelab']);
});

test('the drill fails, saying what differed, when the stored copy was altered or lost a file', async () => {
  const { dir: copy, archive } = drilledCopy('pve1', 'homelab', [`etc.pxar:${src}/etc`, `data.pxar:${src}/data`]);
  const file = archive.name === 'etc' ? 'hosts' : 'notes.txt';
  const original = readFileSync(join(copy, file));
  writeFileSync(join(copy, file), Buffer.from(original.toString('utf8').toUpperCase())); // same size, other bytes
  await h.agentCli('restore-test', 'main');
  const changed = lastRun('main', 'restore-test');
  assert.equal(changed.status, 'failure');
  assert.match(changed.error!, new RegExp(`^restore drill of ${archive.archive} from host/pve1/\\S+: ${file}: restored content differs from the live file \\(unchanged since the snapshot\\)$`));

  writeFileSync(join(copy, file), original);
  const other = archive.name === 'etc' ? 'ssh/sshd_config' : 'db/big.bin';
  rmSync(join(copy, other));
  await h.agentCli('restore-test', 'main');
  const lost = lastRun('main', 'restore-test');
  assert.equal(lost.status, 'failure');
  assert.match(lost.error!, new RegExp(`: ${other}: missing from the restored archive \\(the live file is unchanged since the snapshot\\)$`));
  assert.equal(lost.files, 1);
});

test('an image archive is restored to a file and compared with the unchanged live image', async () => {
  const r = await h.agentCli('run', 'image');
  assert.equal(r.code, 0, r.stderr + r.stdout);
  assert.equal(lastRun('image', 'backup').bytes_total, 64 * 1024 + readWorld().snapshots.store1.find((s) => s['backup-id'] === 'pve1-image')!.files[1].size);
  await h.agentCli('restore-test', 'image');
  const ok = lastRun('image', 'restore-test');
  assert.equal(ok.status, 'success', ok.error ?? '');
  assert.match(ok.log_tail!, /image of 65536 bytes restored, compared by SHA-256/);
  const { dir: copy } = drilledCopy('pve1-image', '', [`disk.img:${imageFile}`]);
  const bytes = readFileSync(copy);
  bytes[100] ^= 0xff;
  writeFileSync(copy, bytes);
  await h.agentCli('restore-test', 'image');
  assert.match(lastRun('image', 'restore-test').error!, /^restore drill of disk\.img from host\/pve1-image\/\S+: restored image content differs from the live file/);
});

// ---- secrets -------------------------------------------------------------------------------

test('password, encryption password and fingerprint reach the client through the environment only, never argv, logs or reports', () => {
  const calls = readWorld().calls!;
  assert.ok(calls.length >= 10);
  for (const call of calls) {
    for (const secret of SECRETS) assert.ok(!call.argv.join('\0').includes(secret), `secret in argv: ${call.argv.join(' ')}`);
    assert.equal(call.env.PBS_PASSWORD, undefined);
  }
  const mainCalls = calls.filter((c) => c.argv.includes('host/pve1') || c.argv.some((a) => a.startsWith('host/pve1/')) || c.argv.includes('pve1'));
  assert.ok(mainCalls.length > 0);
  for (const c of mainCalls) {
    assert.equal(c.env.PBS_PASSWORD_FILE, passFile);
    assert.equal(c.env.PBS_ENCRYPTION_PASSWORD_FILE, keyPassFile);
    assert.equal(c.env.PBS_FINGERPRINT, FINGERPRINT);
  }
  for (const name of ['main', 'image', 'pruned', 'badpass', 'nofingerprint']) {
    for (const run of h.runs(name)) {
      const text = JSON.stringify(run);
      for (const secret of SECRETS) assert.ok(!text.includes(secret), `secret in the ${run.operation} run of ${name}`);
    }
  }
  // Nor anywhere in the agent's state (spool, last runs).
  const stateFiles = (d: string): string[] => readdirSync(d, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? stateFiles(join(d, e.name)) : [join(d, e.name)]));
  for (const file of stateFiles(h.agent.stateDir).filter((f) => !f.endsWith('agent.key'))) {
    const text = readFileSync(file, 'utf8');
    for (const secret of [TOKEN_SECRET, ENC_PASSWORD, WRONG_SECRET]) assert.ok(!text.includes(secret), `secret in ${file}`);
  }
});
