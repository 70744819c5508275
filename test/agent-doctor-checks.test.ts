import assert from 'node:assert/strict';
import { test } from 'node:test';
import { BACKLOG_AGE_MS, CLOCK_LIMIT_MS, backlogVerdict, clockVerdict, doctorExit, formatLines, hostTools, jobTools, spaceVerdict, versionLine } from '../agent/doctor-checks';
import { PBS_TOOLS, PVE_TOOLS, type AgentConfig } from '../agent/config';

// The doctor's decisions as tables, at their boundaries.

const MiB = 2 ** 20;

test('the tools of each driver, with the package that provides them', () => {
  const cases: { driver: string; options: unknown; want: string[] }[] = [
    { driver: 'restic', options: {}, want: ['restic version → restic'] },
    { driver: 'borg', options: {}, want: ['borg --version → borgbackup'] },
    { driver: 'borgmatic', options: {}, want: ['borgmatic --version → borgmatic', 'borg --version → borgbackup'] },
    { driver: 'postgres', options: { database: 'app' }, want: ['pg_dump --version → postgresql-client', 'pg_restore --version → postgresql-client'] },
    { driver: 'postgres', options: { all: true, pgBin: '/usr/lib/postgresql/16/bin' }, want: ['/usr/lib/postgresql/16/bin/pg_dumpall --version → postgresql-client', '/usr/lib/postgresql/16/bin/pg_restore --version → postgresql-client', 'zstd --version → zstd'] },
    { driver: 'mysql', options: { compress: 'gzip' }, want: ['mariadb-dump --version → mariadb-client', 'gzip --version → gzip'] },
    { driver: 'mysql', options: { dumpBin: 'mysqldump', compress: 'none' }, want: ['mysqldump --version → default-mysql-client'] },
    { driver: 'mongodb', options: {}, want: ['mongodump --version → mongodb-database-tools'] },
    { driver: 'rclone', options: {}, want: ['rclone version → rclone'] },
    { driver: 'paths', options: {}, want: ['tar --version → tar', 'zstd --version → zstd'] },
    { driver: 'pbs', options: { tools: { client: '/opt/pbs/client' } }, want: ['/opt/pbs/client version → proxmox-backup-client'] },
    { driver: 'vzdump', options: {}, want: ['/usr/bin/vzdump help → pve-manager (Proxmox VE)'] },
    { driver: 'zfs', options: { dataset: 'tank/data' }, want: ['/usr/sbin/zfs version → zfsutils-linux'] },
    { driver: 'zfs', options: { dataset: 'tank/data', replicate: { via: 'syncoid', to: 'backup/data', host: 'nas' } }, want: ['/usr/sbin/zfs version → zfsutils-linux', '/usr/sbin/syncoid --version → sanoid'] },
    { driver: 'zfs', options: { dataset: 'tank/data', replicate: { via: 'send', to: 'backup/data', host: 'nas' }, tools: { ssh: '/opt/ssh' } }, want: ['/usr/sbin/zfs version → zfsutils-linux', '/opt/ssh -V → openssh-client'] },
    { driver: 'command', options: { argv: ['/usr/local/bin/snap', '--all'] }, want: ['/usr/local/bin/snap  → the package that provides /usr/local/bin/snap'] },
  ];
  for (const { driver, options, want } of cases) {
    const got = jobTools({ driver, options }, {}).map((t) => `${t.bin} ${t.versionArgs.join(' ')} → ${t.pkg}`);
    assert.deepEqual(got, want, driver);
  }
  assert.deepEqual(jobTools({ driver: 'mysql', options: {} }, {})[0].anyOf, ['mariadb-dump', 'mysqldump']);
});

test('the proxmox: section needs pvesh, qm and pct; pbs: the manager and client only with source cli', () => {
  const proxmox = { tools: PVE_TOOLS } as unknown as AgentConfig['proxmox'];
  const pbs = (source: 'api' | 'cli') => ({ source, tools: PBS_TOOLS }) as unknown as AgentConfig['pbs'];
  const show = (c: Pick<AgentConfig, 'proxmox' | 'pbs'>) => hostTools(c).map(({ section, spec }) => `${section} ${spec.bin} → ${spec.pkg}`);
  assert.deepEqual(show({}), []);
  assert.deepEqual(show({ proxmox }), ['proxmox: /usr/bin/pvesh → pve-manager (Proxmox VE)', 'proxmox: /usr/sbin/qm → qemu-server (Proxmox VE)', 'proxmox: /usr/sbin/pct → pve-container (Proxmox VE)']);
  assert.deepEqual(show({ pbs: pbs('api') }), []);
  assert.deepEqual(show({ pbs: pbs('cli') }), ['pbs: /usr/sbin/proxmox-backup-manager → proxmox-backup-server', 'pbs: /usr/bin/proxmox-backup-client → proxmox-backup-client']);
});

test('the clock is a problem beyond one minute either way', () => {
  const cases: [number | null, string][] = [
    [null, 'skipped'],
    [0, 'ok'],
    [CLOCK_LIMIT_MS, 'ok'],
    [-CLOCK_LIMIT_MS, 'ok'],
    [CLOCK_LIMIT_MS + 1, 'problem'],
    [-CLOCK_LIMIT_MS - 1, 'problem'],
  ];
  for (const [offset, verdict] of cases) assert.equal(clockVerdict(offset).verdict, verdict, String(offset));
  assert.match(clockVerdict(-7_200_000).detail, /7200\.0 s ahead of the collector's/);
  assert.match(clockVerdict(90_000).detail, /90\.0 s behind the collector's/);
});

test('the spool is a problem when a message waited over five minutes, or some were set aside or lost', () => {
  const now = Date.parse('2026-11-30T04:00:00Z');
  const clean = { pending: 0, rejected: 0, lost: 0, dropped: 0, error: null };
  const cases: { stats: typeof clean | (Omit<typeof clean, 'error'> & { error: string }); oldest: number | null; verdict: string }[] = [
    { stats: clean, oldest: null, verdict: 'ok' },
    { stats: { ...clean, pending: 3 }, oldest: now - BACKLOG_AGE_MS, verdict: 'ok' },
    { stats: { ...clean, pending: 3 }, oldest: now - BACKLOG_AGE_MS - 1, verdict: 'problem' },
    { stats: { ...clean, rejected: 1 }, oldest: null, verdict: 'problem' },
    { stats: { ...clean, lost: 2 }, oldest: null, verdict: 'problem' },
    { stats: { ...clean, dropped: 5 }, oldest: null, verdict: 'ok' },
    { stats: { ...clean, error: 'cannot spool: no space left on device' }, oldest: null, verdict: 'problem' },
  ];
  for (const c of cases) assert.equal(backlogVerdict(c.stats, c.oldest, now, '/s/spool').verdict, c.verdict, JSON.stringify(c));
});

test('free space is a problem below the spool bound or 5 %', () => {
  const cases: [number, number, string][] = [
    [64 * MiB, 1000 * MiB, 'ok'],
    [64 * MiB - 1, 1000 * MiB, 'problem'],
    [5 * 1000 * MiB, 100_000 * MiB, 'ok'],
    [5 * 1000 * MiB - MiB, 100_000 * MiB, 'problem'],
  ];
  for (const [free, total, verdict] of cases) assert.equal(spaceVerdict('/s', free, total, 64 * MiB).verdict, verdict, `${free}/${total}`);
});

test('lines are aligned, continuation lines indented, and any problem exits 1', () => {
  const lines = [
    { name: 'config', verdict: 'ok' as const, detail: 'fine' },
    { name: 'key accepted', verdict: 'skipped' as const, detail: 'no collector' },
    { name: 'disk', verdict: 'problem' as const, detail: 'full\nsecond' },
  ];
  assert.equal(
    formatLines(lines),
    'ok       config        fine\nskipped  key accepted  no collector\nPROBLEM  disk          full\n                       second\n',
  );
  assert.equal(doctorExit(lines), 1);
  assert.equal(doctorExit(lines.slice(0, 2)), 0);
  assert.equal(versionLine('\n  pg_dump (PostgreSQL) 15.8\nmore'), 'pg_dump (PostgreSQL) 15.8');
});
