import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdirSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { test } from 'node:test';
import { clockOffsetMs } from '../agent/clock';
import { collectDisks, collectHostFacts, findSmartctl, listBlockDevices, parseMounts, parseSmartctl, usage } from '../agent/host-facts';
import { Sender } from '../agent/sender';
import { Spool } from '../agent/spool';
import { hostSchema, messageSchema } from '../shared/protocol';
import { generateKeyPair } from '../shared/signing';
import { tempDir as tempDirWith } from './helpers/temp';

const tempDir = () => tempDirWith('lifeline-hostfacts-');

// A Proxmox VE host with Docker: the shape of a real /proc/self/mounts (fields: source, mount
// point, type, options, dump, pass; spaces in paths escaped as \040).
const PVE_MOUNTS = `sysfs /sys sysfs rw,nosuid,nodev,noexec,relatime 0 0
proc /proc proc rw,relatime 0 0
udev /dev devtmpfs rw,nosuid,relatime,size=16318412k,nr_inodes=4079603,mode=755,inode64 0 0
devpts /dev/pts devpts rw,nosuid,noexec,relatime,gid=5,mode=620,ptmxmode=000 0 0
tmpfs /run tmpfs rw,nosuid,nodev,noexec,relatime,size=3270424k,mode=755,inode64 0 0
/dev/mapper/pve-root / ext4 rw,relatime,errors=remount-ro 0 0
securityfs /sys/kernel/security securityfs rw,nosuid,nodev,noexec,relatime 0 0
tmpfs /dev/shm tmpfs rw,nosuid,nodev,inode64 0 0
tmpfs /run/lock tmpfs rw,nosuid,nodev,noexec,relatime,size=5120k,inode64 0 0
cgroup2 /sys/fs/cgroup cgroup2 rw,nosuid,nodev,noexec,relatime 0 0
pstore /sys/fs/pstore pstore rw,nosuid,nodev,noexec,relatime 0 0
bpf /sys/fs/bpf bpf rw,nosuid,nodev,noexec,relatime,mode=700 0 0
systemd-1 /proc/sys/fs/binfmt_misc autofs rw,relatime,fd=30,pgrp=1,timeout=0,minproto=5,maxproto=5,direct 0 0
mqueue /dev/mqueue mqueue rw,nosuid,nodev,noexec,relatime 0 0
hugetlbfs /dev/hugepages hugetlbfs rw,relatime,pagesize=2M 0 0
debugfs /sys/kernel/debug debugfs rw,nosuid,nodev,noexec,relatime 0 0
tracefs /sys/kernel/tracing tracefs rw,nosuid,nodev,noexec,relatime 0 0
fusectl /sys/fs/fuse/connections fusectl rw,nosuid,nodev,noexec,relatime 0 0
configfs /sys/kernel/config configfs rw,nosuid,nodev,noexec,relatime 0 0
/dev/sda2 /boot/efi vfat rw,relatime,fmask=0022,dmask=0022,codepage=437,iocharset=iso8859-1 0 0
rpool /rpool zfs rw,relatime,xattr,noacl,casesensitive 0 0
rpool/data /rpool/data zfs rw,relatime,xattr,noacl,casesensitive 0 0
/dev/sdb1 /mnt/usb\\040backup ext4 rw,relatime 0 0
/dev/sdb1 /srv/backup-bind ext4 rw,relatime 0 0
/dev/mapper/pve-root /var/lib/docker/volumes/bind ext4 rw,relatime 0 0
nas.lan:/export/backups /mnt/nas nfs4 rw,relatime,vers=4.2,rsize=1048576,wsize=1048576 0 0
lxcfs /var/lib/lxcfs fuse.lxcfs rw,nosuid,nodev,relatime,user_id=0,group_id=0,allow_other 0 0
/dev/fuse /etc/pve fuse rw,nosuid,nodev,relatime,user_id=0,group_id=0,default_permissions,allow_other 0 0
overlay /var/lib/docker/overlay2/3f1c/merged overlay rw,relatime,lowerdir=/var/lib/docker/overlay2/l/AB:/var/lib/docker/overlay2/l/CD 0 0
nsfs /run/docker/netns/1a2b nsfs rw 0 0
/dev/loop0 /snap/core22/1380 squashfs ro,nodev,relatime,errors=continue 0 0
tmpfs /tmp tmpfs rw,nosuid,nodev,size=8g 0 0
/dev/sdc1 /run/media/op/USB-SSD exfat rw,nosuid,nodev,relatime 0 0
binfmt_misc /proc/sys/fs/binfmt_misc binfmt_misc rw,nosuid,nodev,noexec,relatime 0 0
`;

test('parseMounts keeps real filesystems and drops pseudo and runtime ones', () => {
  assert.deepEqual(parseMounts(PVE_MOUNTS), [
    { source: '/dev/mapper/pve-root', mount: '/', type: 'ext4' },
    { source: '/dev/sda2', mount: '/boot/efi', type: 'vfat' },
    { source: 'rpool', mount: '/rpool', type: 'zfs' },
    { source: 'rpool/data', mount: '/rpool/data', type: 'zfs' },
    { source: '/dev/sdb1', mount: '/mnt/usb backup', type: 'ext4' },
    { source: 'nas.lan:/export/backups', mount: '/mnt/nas', type: 'nfs4' },
    { source: '/dev/fuse', mount: '/etc/pve', type: 'fuse' },
    { source: 'tmpfs', mount: '/tmp', type: 'tmpfs' },
    { source: '/dev/sdc1', mount: '/run/media/op/USB-SSD', type: 'exfat' },
  ]);
});

test('parseMounts reports a device mounted twice once, at its shorter mount path', () => {
  const text = '/dev/sdb1 /srv/backup/deeper ext4 rw 0 0\n/dev/sdb1 /srv/bk ext4 rw 0 0\n/dev/sdb1 /srv/backup/other ext4 rw 0 0\n';
  assert.deepEqual(parseMounts(text), [{ source: '/dev/sdb1', mount: '/srv/bk', type: 'ext4' }]);
});

test('parseMounts decodes octal escapes in mount paths', () => {
  assert.deepEqual(parseMounts('/dev/sdb1 /mnt/usb\\040backup\\134x ext4 rw 0 0\n'), [{ source: '/dev/sdb1', mount: '/mnt/usb backup\\x', type: 'ext4' }]);
});

test('parseMounts keeps overlay only as the root of a container', () => {
  const text = 'overlay / overlay rw,lowerdir=/l1:/l2,upperdir=/u,workdir=/w 0 0\noverlay /var/lib/docker/overlay2/x/merged overlay rw 0 0\n';
  assert.deepEqual(parseMounts(text), [{ source: 'overlay', mount: '/', type: 'overlay' }]);
});

test('parseMounts keeps the last of two mounts on one mount point (the visible one)', () => {
  const text = 'tmpfs /tmp tmpfs rw,size=1g 0 0\n/dev/sdd1 /tmp ext4 rw 0 0\n';
  assert.deepEqual(parseMounts(text), [{ source: '/dev/sdd1', mount: '/tmp', type: 'ext4' }]);
});

test('usage computes df-style size and used bytes', () => {
  assert.deepEqual(usage({ bsize: 4096, blocks: 1000, bfree: 250 }), { sizeBytes: 4_096_000, usedBytes: 3_072_000 });
});

// smartctl -H -j samples. Written from smartmontools' documented JSON format (json_format_version
// 1.0, smartctl(8) "-j" and "RETURN VALUES"): a healthy SATA disk behind the SAT layer and a
// failing NVMe drive. The third is recorded from this machine: smartctl 7.3 on a virtio disk.
const SMART_ATA_PASSED = JSON.stringify({
  json_format_version: [1, 0],
  smartctl: {
    version: [7, 3],
    svn_revision: '5338',
    platform_info: 'x86_64-linux-6.1.0-18-amd64',
    build_info: '(local build)',
    argv: ['smartctl', '-H', '-j', '/dev/sda'],
    exit_status: 0,
  },
  local_time: { time_t: 1732240000, asctime: 'Fri Nov 22 02:46:40 2024 CET' },
  device: { name: '/dev/sda', info_name: '/dev/sda [SAT]', type: 'sat', protocol: 'ATA' },
  smart_status: { passed: true },
});

const SMART_NVME_FAILED = JSON.stringify({
  json_format_version: [1, 0],
  smartctl: {
    version: [7, 3],
    svn_revision: '5338',
    platform_info: 'x86_64-linux-6.1.0-18-amd64',
    build_info: '(local build)',
    argv: ['smartctl', '-H', '-j', '/dev/nvme0n1'],
    exit_status: 8,
  },
  local_time: { time_t: 1732240000, asctime: 'Fri Nov 22 02:46:40 2024 CET' },
  device: { name: '/dev/nvme0n1', info_name: '/dev/nvme0n1', type: 'nvme', protocol: 'NVMe' },
  smart_status: { passed: false, nvme: { value: 4 } },
});

const SMART_VIRTIO_RECORDED = `{
  "json_format_version": [
    1,
    0
  ],
  "smartctl": {
    "version": [
      7,
      3
    ],
    "svn_revision": "5338",
    "platform_info": "x86_64-linux-6.18.44-fc-v782",
    "build_info": "(local build)",
    "argv": [
      "smartctl",
      "-H",
      "-j",
      "/dev/vda"
    ],
    "messages": [
      {
        "string": "/dev/vda: Unable to detect device type",
        "severity": "error"
      }
    ],
    "exit_status": 1
  },
  "local_time": {
    "time_t": 1795404349,
    "asctime": "Mon Nov 23 03:25:49 2026 UTC"
  }
}`;

test('parseSmartctl reads a passed overall-health check as healthy', () => {
  assert.deepEqual(parseSmartctl(SMART_ATA_PASSED, 0), { smartOk: true });
});

test('parseSmartctl reads a failed overall-health check as failing', () => {
  const v = parseSmartctl(SMART_NVME_FAILED, 8);
  assert.equal(v.smartOk, false);
  assert.match(v.detail ?? '', /FAILED/);
});

test('parseSmartctl gives null with the reason when smartctl cannot ask the device', () => {
  assert.deepEqual(parseSmartctl(SMART_VIRTIO_RECORDED, 1), { smartOk: null, detail: '/dev/vda: Unable to detect device type' });
});

test('parseSmartctl trusts the DISK FAILING exit bit when the output is not JSON', () => {
  assert.equal(parseSmartctl('', 8).smartOk, false);
  assert.equal(parseSmartctl('garbage', 2).smartOk, null);
});

test('parseSmartctl notes prefail attributes at threshold on a disk that still passes', () => {
  const json = JSON.stringify({ smartctl: { exit_status: 16 }, model_name: 'WDC WD40EFRX-68N32N0', smart_status: { passed: true } });
  assert.deepEqual(parseSmartctl(json, 16), { smartOk: true, model: 'WDC WD40EFRX-68N32N0', detail: 'prefail attributes at or below threshold' });
});

test('without smartctl every disk is reported with smart null and nothing is run', async () => {
  const sys = tempDir();
  for (const [name, size, model] of [['sda', '7814037168', 'WDC WD40EFRX-68N'], ['nvme0n1', '1000215216', ''], ['loop0', '100', ''], ['zram0', '100', ''], ['sdb', '0', '']]) {
    mkdirSync(join(sys, name, 'device'), { recursive: true });
    writeFileSync(join(sys, name, 'size'), `${size}\n`);
    if (model) writeFileSync(join(sys, name, 'device', 'model'), `${model}  \n`);
  }
  assert.deepEqual(listBlockDevices(sys), [{ device: '/dev/nvme0n1' }, { device: '/dev/sda', model: 'WDC WD40EFRX-68N' }]);
  const disks = await collectDisks(null, sys);
  assert.deepEqual(
    disks.map((d) => [d.device, d.smartOk]),
    [['/dev/nvme0n1', null], ['/dev/sda', null]],
  );
  assert.match(disks[0].detail ?? '', /not installed/);
});

test('findSmartctl finds an executable smartctl on the PATH', () => {
  const dir = tempDir();
  writeFileSync(join(dir, 'smartctl'), '#!/bin/sh\n', { mode: 0o755 });
  assert.equal(findSmartctl(`/nonexistent:${dir}`), join(dir, 'smartctl'));
});

test('clockOffsetMs compares the collector Date with the middle of the request', () => {
  const sent = Date.parse('2025-03-01T12:00:00.000Z');
  // Date is truncated to the second, so the collector's time is taken as the middle of it.
  assert.equal(clockOffsetMs(sent, sent + 400, 'Sat, 01 Mar 2025 12:00:00 GMT'), 300);
  assert.equal(clockOffsetMs(sent, sent + 1000, 'Sat, 01 Mar 2025 12:00:30 GMT'), 30_000);
  assert.equal(clockOffsetMs(sent, sent + 200, 'Sat, 01 Mar 2025 11:58:00 GMT'), -119_600);
});

test('clockOffsetMs is null without a usable Date header', () => {
  assert.equal(clockOffsetMs(0, 10, null), null);
  assert.equal(clockOffsetMs(0, 10, 'yesterday'), null);
  assert.equal(clockOffsetMs(10, 0, 'Sat, 01 Mar 2025 12:00:00 GMT'), null);
});

test('the sender exposes the clock offset from the collector answer Date header', async () => {
  const server = createServer((req, res) => {
    req.resume().on('end', () => {
      // The collector's clock runs 90 s ahead of ours.
      res.setHeader('date', new Date(Date.now() + 90_000).toUTCString());
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"accepted":1,"duplicates":0}');
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const spool = new Spool(join(tempDir(), 'spool'), { agent: 'a1', maxBytes: 2 ** 20 });
  const sender = new Sender({ spool, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, agent: 'a1', secretKey: generateKeyPair().secretKey });
  try {
    assert.equal(sender.clockOffsetMs(), null);
    spool.append({ kind: 'heartbeat', uptimeMs: 1, spool: { pending: 0, dropped: 0 } });
    assert.equal(await sender.flush(5000), true);
    const offset = sender.clockOffsetMs();
    assert.ok(offset !== null && Math.abs(offset - 90_000) <= 1500, `offset ${offset}`);
  } finally {
    await sender.stop();
    server.close();
  }
});

test('host facts collected on this machine are a valid host message', async () => {
  const facts = await collectHostFacts({ clockOffsetMs: -1234 });
  const message = { ...facts, agent: 'a1', seq: 1, sentAt: new Date().toISOString() };
  const parsed = hostSchema.parse(message);
  assert.equal(messageSchema.parse(message).kind, 'host');
  assert.ok(parsed.filesystems.some((f) => f.mount === '/' && f.sizeBytes > 0 && f.usedBytes <= f.sizeBytes), JSON.stringify(parsed.filesystems));
  assert.ok(!parsed.filesystems.some((f) => ['proc', 'sysfs', 'cgroup', 'devpts'].includes(f.type)));
  assert.equal(parsed.clockOffsetMs, -1234);
  assert.ok(Array.isArray(parsed.disks));
  for (const d of parsed.disks ?? []) assert.ok(d.smartOk === null || typeof d.smartOk === 'boolean');
  assert.ok((parsed.uptimeS ?? 0) > 0);
});

test('host facts without smartctl and without a known offset are still a valid host message', async () => {
  const facts = await collectHostFacts({ clockOffsetMs: null, smartctl: null });
  assert.equal('clockOffsetMs' in facts, false);
  hostSchema.parse({ ...facts, agent: 'a1', seq: 2, sentAt: new Date().toISOString() });
  for (const d of facts.disks ?? []) assert.equal(d.smartOk, null);
});

test('a host message of an older agent (filesystems only) stays valid', () => {
  const old = { agent: 'a1', seq: 3, sentAt: '2025-01-01T00:00:00Z', kind: 'host', filesystems: [{ mount: '/', fs: '/dev/sda1', type: 'ext4', sizeBytes: 10, usedBytes: 5 }] };
  assert.equal(hostSchema.safeParse(old).success, true);
});
