import assert from 'node:assert/strict';
import { test } from 'node:test';
import { vzdumpRunId } from '../agent/proxmox/reported';
import {
  backupTimeOf,
  parseStatusLine,
  parseTaskIndex,
  parseTaskLog,
  parseUpid,
  parseVzdumpCommand,
  parseVzdumpDuration,
  parseVzdumpSize,
  snapshotIdOf,
} from '../agent/proxmox/task-log';
import { runSchema } from '../shared/protocol';

// vzdump cannot run here: these are its logs in the formats pve-manager PVE/VZDump.pm,
// qemu-server and pve-common write them (../shared/REFERENCE-INTEGRATIONS.md §2), parsed as the
// hook (per-guest logs) and the task-history scan (task logs) read them.

const local = (y: number, mo: number, d: number, h: number, mi: number, s: number) => new Date(y, mo - 1, d, h, mi, s).getTime();

// A job of three guests to a directory storage; VM 101 fails; a hook prints a line per guest.
const FILE_JOB = `INFO: starting new backup job: vzdump 100 101 105 --mode snapshot --compress zstd --storage local --prune-backups 'keep-daily=7' --node pve1
INFO: Starting Backup of VM 100 (qemu)
INFO: Backup started at 2024-01-31 02:00:03
INFO: status = running
INFO: VM Name: web01
INFO: include disk 'scsi0' 'local-zfs:vm-100-disk-0' 32G
INFO: backup mode: snapshot
INFO: ionice priority: 7
INFO: creating vzdump archive '/var/lib/vz/dump/vzdump-qemu-100-2024_01_31-02_00_03.vma.zst'
INFO:  42% (13.4 GiB of 32.0 GiB) in 30s, read: 450.0 MiB/s, write: 440.0 MiB/s
INFO: 100% (32.0 GiB of 32.0 GiB) in 1m 12s, read: 455.1 MiB/s, write: 440.0 MiB/s
INFO: backup is sparse: 10.0 GiB (31%) total zero data
INFO: transferred 32.00 GiB in 72 seconds (455.1 MiB/s)
INFO: archive file size: 1.20GB
INFO: prune older backups with retention: keep-daily=7
INFO: pruned 1 backup(s) not covered by keep-retention policy
INFO: lifeline-agent: VM 100: success, 1.20 GiB recorded (job vzdump-100-local)
INFO: Finished Backup of VM 100 (00:01:15)
INFO: Backup finished at 2024-01-31 02:01:18
INFO: Starting Backup of VM 101 (qemu)
INFO: Backup started at 2024-01-31 02:01:18
INFO: status = running
INFO: VM Name: db01
INFO: backup mode: snapshot
INFO: ionice priority: 7
INFO: creating vzdump archive '/var/lib/vz/dump/vzdump-qemu-101-2024_01_31-02_01_18.vma.zst'
ERROR: Backup of VM 101 failed - vma_queue_write: write error - Broken pipe
INFO: Failed at 2024-01-31 02:01:40
INFO: Starting Backup of VM 105 (lxc)
INFO: Backup started at 2024-01-31 02:01:40
INFO: status = stopped
INFO: CT Name: dns
INFO: backup mode: stop
INFO: ionice priority: 7
WARN: unable to add notes - unexpected variable name 'x'
INFO: creating vzdump archive '/var/lib/vz/dump/vzdump-lxc-105-2024_01_31-02_01_40.tar.zst'
INFO: archive file size: 532MB
INFO: Finished Backup of VM 105 (00:00:09)
INFO: Backup finished at 2024-01-31 02:01:49
INFO: Backup job finished with errors
TASK ERROR: job errors
`;

test('a task log of three guests gives each its outcome, size, duration, copy and error', () => {
  const log = parseTaskLog(FILE_JOB);
  assert.equal(log.cmdline, "vzdump 100 101 105 --mode snapshot --compress zstd --storage local --prune-backups 'keep-daily=7' --node pve1");
  assert.deepEqual(log.command, { vmids: [100, 101, 105], all: false, pool: null, storage: 'local', dumpdir: null });
  assert.deepEqual(log.status, { kind: 'error', message: 'job errors' });
  assert.equal(log.jobError, null);
  assert.deepEqual(
    log.guests.map(({ lines: _l, ...g }) => g),
    [
      {
        vmid: 100, vmtype: 'qemu', startedAt: local(2024, 1, 31, 2, 0, 3), endedAt: local(2024, 1, 31, 2, 1, 18),
        target: '/var/lib/vz/dump/vzdump-qemu-100-2024_01_31-02_00_03.vma.zst', pbs: false,
        archiveBytes: Math.round(1.2 * 2 ** 30), transferredBytes: 32 * 2 ** 30, durationSec: 75, outcome: 'success', error: null, warnings: 0,
      },
      {
        vmid: 101, vmtype: 'qemu', startedAt: local(2024, 1, 31, 2, 1, 18), endedAt: local(2024, 1, 31, 2, 1, 40),
        target: '/var/lib/vz/dump/vzdump-qemu-101-2024_01_31-02_01_18.vma.zst', pbs: false,
        archiveBytes: null, transferredBytes: null, durationSec: null, outcome: 'failure', error: 'vma_queue_write: write error - Broken pipe', warnings: 0,
      },
      {
        vmid: 105, vmtype: 'lxc', startedAt: local(2024, 1, 31, 2, 1, 40), endedAt: local(2024, 1, 31, 2, 1, 49),
        target: '/var/lib/vz/dump/vzdump-lxc-105-2024_01_31-02_01_40.tar.zst', pbs: false,
        archiveBytes: 532 * 2 ** 20, transferredBytes: null, durationSec: 9, outcome: 'success', error: null, warnings: 1,
      },
    ],
  );
  // Each guest keeps its own lines, from its "Starting Backup" to its end.
  assert.equal(log.guests[1].lines[0], 'INFO: Starting Backup of VM 101 (qemu)');
  assert.equal(log.guests[1].lines.at(-1), 'INFO: Failed at 2024-01-31 02:01:40');
  assert.ok(!log.guests[0].lines.some((l) => l.includes('VM 101')));
});

test('a PBS job names snapshots in UTC and tells the size by what it transferred', () => {
  const log = parseTaskLog(`INFO: starting new backup job: vzdump --all 1 --storage pbs1 --mode snapshot --exclude 103
INFO: Starting Backup of VM 100 (qemu)
INFO: Backup started at 2024-01-31 02:00:03
INFO: creating Proxmox Backup Server archive 'vm/100/2024-01-31T01:00:03Z'
INFO: backup was done incrementally, reused 30.1 GiB (94%)
INFO: transferred 32.00 GiB in 72 seconds (455.1 MiB/s)
INFO: Finished Backup of VM 100 (00:01:14)
INFO: Backup finished at 2024-01-31 02:01:17
INFO: Backup job finished successfully
TASK OK
`);
  assert.deepEqual(log.command, { vmids: [], all: true, pool: null, storage: 'pbs1', dumpdir: null });
  assert.deepEqual(log.status, { kind: 'ok' });
  const [g] = log.guests;
  assert.equal(g.target, 'vm/100/2024-01-31T01:00:03Z');
  assert.equal(g.pbs, true);
  assert.equal(g.archiveBytes, null);
  assert.equal(g.transferredBytes, 32 * 2 ** 30);
  assert.equal(g.outcome, 'success');
});

test("a guest's own log (/var/log/vzdump) is read the same, its time stamps stripped", () => {
  const log = parseTaskLog(`2024-01-31 02:01:18 INFO: Starting Backup of VM 101 (qemu)
2024-01-31 02:01:18 INFO: status = running
2024-01-31 02:01:19 INFO: creating vzdump archive '/mnt/pve/nas/dump/vzdump-qemu-101-2024_01_31-02_01_18.vma.zst'
2024-01-31 02:01:40 ERROR: Backup of VM 101 failed - job failed with err -5 - Input/output error
2024-01-31 02:01:40 ERROR: vma_queue_flush failed
`);
  const [g] = log.guests;
  assert.equal(g.vmid, 101);
  assert.equal(g.outcome, 'failure');
  // A multi-line error is logged one "ERROR:" line each: kept together.
  assert.equal(g.error, 'job failed with err -5 - Input/output error\nvma_queue_flush failed');
  assert.equal(g.startedAt, null, '"Backup started at" is in the task log only');

  // Read from its tail (a long log), its "Starting Backup" line gone: still that guest's lines.
  const tail = parseTaskLog(`2024-01-31 03:10:00 INFO: 100% (32.0 GiB of 32.0 GiB) in 1h 9m, read: 8.0 MiB/s, write: 8.0 MiB/s
2024-01-31 03:10:01 INFO: archive file size: 20.50GB
2024-01-31 03:10:01 INFO: pruned 0 backup(s)
`, { vmid: 105, vmtype: 'lxc' });
  assert.deepEqual(tail.guests.map((x) => [x.vmid, x.vmtype, x.archiveBytes, x.lines.length]), [[105, 'lxc', Math.round(20.5 * 2 ** 30), 3]]);
});

test('a guest that fails before it starts (no such VM) and a task cut short are told apart', () => {
  const log = parseTaskLog(`INFO: starting new backup job: vzdump 100 999 --storage local
ERROR: Backup of VM 999 failed - unable to find VM '999'
INFO: Failed at 2024-01-31 02:00:01
INFO: Starting Backup of VM 100 (qemu)
INFO: Backup started at 2024-01-31 02:00:01
INFO: creating vzdump archive '/var/lib/vz/dump/vzdump-qemu-100-2024_01_31-02_00_01.vma'
`);
  assert.deepEqual(
    log.guests.map((g) => [g.vmid, g.vmtype, g.outcome, g.error]),
    [
      [999, null, 'failure', "unable to find VM '999'"],
      [100, 'qemu', null, null],
    ],
  );
  assert.equal(log.status, null, 'no status line: the task never ended');
});

test('a job-level failure is the job error, not a guest', () => {
  const log = parseTaskLog(`INFO: starting new backup job: vzdump 100 --storage local
ERROR: Backup job failed - command '/usr/lib/lifeline-agent/vzdump-hook job-start' failed: exit code 1
TASK ERROR: command '/usr/lib/lifeline-agent/vzdump-hook job-start' failed: exit code 1
`);
  assert.deepEqual(log.guests, []);
  assert.equal(log.jobError, "command '/usr/lib/lifeline-agent/vzdump-hook job-start' failed: exit code 1");
  assert.equal(log.status?.kind, 'error');
});

test('sizes in format_size and render_bytes forms, all 1024-based', () => {
  const cases: [string, number | null][] = [
    ['532KB', 532 * 1024],
    ['800MB', 800 * 2 ** 20],
    ['1.20GB', Math.round(1.2 * 2 ** 30)],
    ['2.00TB', 2 * 2 ** 40],
    ['32.00 GiB', 32 * 2 ** 30],
    ['455.1 MiB', Math.round(455.1 * 2 ** 20)],
    ['512 B', 512],
    ['12', 12],
    ['lots', null],
    ['1.2 XB', null],
  ];
  for (const [text, bytes] of cases) assert.equal(parseVzdumpSize(text), bytes, text);
});

test('durations as format_time writes them, hours past a day included', () => {
  const cases: [string, number | null][] = [
    ['00:00:12', 12],
    ['01:02:03', 3723],
    ['26:00:00', 93_600],
    ['00:61:00', null],
    ['12s', null],
  ];
  for (const [text, sec] of cases) assert.equal(parseVzdumpDuration(text), sec, text);
});

test("a backup's time from its copy's name: local in archive names, UTC in PBS snapshot names", () => {
  const cases: [string | null, number | null][] = [
    ['/var/lib/vz/dump/vzdump-qemu-100-2024_01_31-02_00_03.vma.zst', local(2024, 1, 31, 2, 0, 3)],
    ['vzdump-lxc-105-2024_12_31-23_59_59.tar.gz', local(2024, 12, 31, 23, 59, 59)],
    ['vzdump-qemu-100-2024_01_31-02_00_03.vma', local(2024, 1, 31, 2, 0, 3)],
    ['vm/100/2024-01-31T01:00:03Z', Date.UTC(2024, 0, 31, 1, 0, 3)],
    ['ct/105/2024-01-31T23:59:59Z', Date.UTC(2024, 0, 31, 23, 59, 59)],
    ['-', null],
    ['/var/lib/vz/dump/backup.tar', null],
    [null, null],
  ];
  for (const [target, t] of cases) assert.equal(backupTimeOf(target), t, String(target));
  assert.equal(snapshotIdOf('/mnt/pve/nas/dump/vzdump-qemu-100-2024_01_31-02_00_03.vma.zst'), 'vzdump-qemu-100-2024_01_31-02_00_03.vma.zst');
  assert.equal(snapshotIdOf('vm/100/2024-01-31T01:00:03Z'), 'vm/100/2024-01-31T01:00:03Z');
  assert.equal(snapshotIdOf('-'), null);
});

test('status lines: OK, warnings with their count, an error with its text', () => {
  assert.deepEqual(parseStatusLine('TASK OK'), { kind: 'ok' });
  assert.deepEqual(parseStatusLine('TASK WARNINGS: 3'), { kind: 'warnings', count: 3 });
  assert.deepEqual(parseStatusLine('TASK ERROR: job errors'), { kind: 'error', message: 'job errors' });
  assert.equal(parseStatusLine('INFO: TASK OK'), null);
});

test('job command lines: listed guests, --all, --pool, --vmid, storage or dumpdir', () => {
  const cases: [string, ReturnType<typeof parseVzdumpCommand>][] = [
    ['vzdump 100 101 --mode snapshot --storage local', { vmids: [100, 101], all: false, pool: null, storage: 'local', dumpdir: null }],
    ['vzdump --all 1 --exclude 102 --storage nas', { vmids: [], all: true, pool: null, storage: 'nas', dumpdir: null }],
    ['vzdump --all 0 --vmid 100,105 --storage nas', { vmids: [100, 105], all: false, pool: null, storage: 'nas', dumpdir: null }],
    ['vzdump --pool tier-1 --storage pbs1 --mode snapshot', { vmids: [], all: false, pool: 'tier-1', storage: 'pbs1', dumpdir: null }],
    ['vzdump 100 --dumpdir /mnt/backup', { vmids: [100], all: false, pool: null, storage: null, dumpdir: '/mnt/backup' }],
    ['qm start 100', null],
  ];
  for (const [line, expected] of cases) assert.deepEqual(parseVzdumpCommand(line), expected, line);
});

test('UPIDs and the path of their task logs (last hex digit of the start time)', () => {
  const u = parseUpid('UPID:pve1:0001A2B3:0123ABCD:65B9A0F3:vzdump::root@pam:');
  assert.deepEqual(u, {
    upid: 'UPID:pve1:0001A2B3:0123ABCD:65B9A0F3:vzdump::root@pam:',
    node: 'pve1', pid: 0x1a2b3, pstart: 0x123abcd, starttime: 0x65b9a0f3, type: 'vzdump', id: '', user: 'root@pam',
    logPath: '3/UPID:pve1:0001A2B3:0123ABCD:65B9A0F3:vzdump::root@pam:',
  });
  assert.equal(parseUpid('UPID:pve1:0001A2B3:0123ABCD:65B9A0F3:vzdump:100:root@pam:')?.id, '100');
  assert.equal(parseUpid('UPID:pve1:1:2:3:vzdump::root@pam:'), null);
});

test('the task index and the active list, running tasks without an end', () => {
  const index = parseTaskIndex(
    [
      'UPID:pve1:0001A2B3:0123ABCD:65B9A0F3:vzdump::root@pam: 65B9A1F3 OK',
      'UPID:pve1:0001A2B4:0123ABCE:65B9B0F3:vzdump:101:root@pam: 65B9B1F3 WARNINGS: 2',
      'UPID:pve1:0001A2B5:0123ABCF:65B9C0F3:vzdump::root@pam: 65B9C1F3 job errors',
      'UPID:pve1:0001A2B6:0123ABD0:65B9D0F3:qmstart:100:root@pam: 65B9D0F4 OK',
      'garbage',
    ].join('\n'),
    'index',
  );
  assert.deepEqual(index.map((t) => [t.type, t.endtime, t.status]), [
    ['vzdump', 0x65b9a1f3, 'OK'],
    ['vzdump', 0x65b9b1f3, 'WARNINGS: 2'],
    ['vzdump', 0x65b9c1f3, 'job errors'],
    ['qmstart', 0x65b9d0f4, 'OK'],
  ]);
  const active = parseTaskIndex(
    ['UPID:pve1:0001A2B7:0123ABD1:65B9E0F3:vzdump::root@pam: 0', 'UPID:pve1:0001A2B3:0123ABCD:65B9A0F3:vzdump::root@pam: 1 65B9A1F3 unexpected status'].join('\n'),
    'active',
  );
  assert.deepEqual(active.map((t) => [t.starttime, t.endtime, t.status]), [
    [0x65b9e0f3, null, null],
    [0x65b9a0f3, 0x65b9a1f3, 'unexpected status'],
  ]);
});

test('the run id of a backup is a UUID fixed by agent, guest, storage and time', () => {
  const id = vzdumpRunId('pve1', 100, 'local', 1706662803);
  assert.equal(id, vzdumpRunId('pve1', 100, 'local', 1706662803));
  assert.match(id, /^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  const others = [vzdumpRunId('pve2', 100, 'local', 1706662803), vzdumpRunId('pve1', 101, 'local', 1706662803), vzdumpRunId('pve1', 100, 'nas', 1706662803), vzdumpRunId('pve1', 100, 'local', 1706662804)];
  assert.equal(new Set([id, ...others]).size, 5);
  // The collector's schema takes it.
  const run = { agent: 'pve1', seq: 1, sentAt: new Date().toISOString(), kind: 'run', runId: id, job: 'vzdump-100-local', trigger: 'schedule', startedAt: new Date().toISOString(), finishedAt: new Date().toISOString(), status: 'success', exitCode: null, durationMs: 1, logTail: '' };
  assert.ok(runSchema.safeParse(run).success);
});
