import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { World } from '../fixtures/pve/world';
import { tempDir } from './processes';
import { editLocked } from './world-lock';

// The Proxmox VE stand-ins (test/fixtures/pve/bin: pvesh, qm, pct) answer from a world file
// named by PVE_WORLD. They replay the documented formats of ../shared/REFERENCE-INTEGRATIONS.md
// §3–4, since real PVE tools cannot run here. These helpers write a world, point an agent's
// config at the stand-ins and read back what the stand-ins did.

export const PVE_BIN = fileURLToPath(new URL('../fixtures/pve/bin', import.meta.url));
export const pveTool = (name: string): string => join(PVE_BIN, name);

/** Writes the world to a new temp dir (or `dir`) and returns its path. */
export function writeWorld(world: World, dir = tempDir('lifeline-pve-')): string {
  const file = join(dir, 'world.json');
  writeFileSync(file, JSON.stringify(world, null, 1));
  return file;
}

export function readWorld(file: string): World {
  return JSON.parse(readFileSync(file, 'utf8')) as World;
}

/** Changes the world the way a test needs (the stand-ins read it afresh on every call). */
export const editWorld = (file: string, edit: (w: World) => void): void => editLocked(file, edit);

/** The environment an agent (and so the stand-ins it spawns) needs to find the world. */
export const worldEnv = (file: string): NodeJS.ProcessEnv => ({ PVE_WORLD: file });

/** agent.yaml's `proxmox:` section with every tool pointing at the stand-ins. */
export function proxmoxYaml(opts: { node?: string; scan?: string; tiers?: Record<number, number>; exclude?: number[]; timeout?: string } = {}): string {
  const tiers = Object.entries(opts.tiers ?? {}).map(([vmid, tier]) => `\n    "${vmid}": ${tier}`).join('');
  return `proxmox:
  node: ${opts.node ?? 'pve1'}
  scan: ${opts.scan ?? '15m'}
  timeout: ${opts.timeout ?? '30s'}
  tools: { pvesh: ${pveTool('pvesh')}, qm: ${pveTool('qm')}, pct: ${pveTool('pct')} }
  tiers: {${tiers ? `${tiers}\n  ` : ''}}
  exclude: [${(opts.exclude ?? []).join(', ')}]
`;
}

const DAY = 86_400;
/** Epoch seconds of a local wall-clock time (vzdump names file archives in local time). */
export const localEpoch = (y: number, mo: number, d: number, h: number, mi: number, s: number): number => new Date(y, mo - 1, d, h, mi, s).getTime() / 1000;
const pad = (n: number) => String(n).padStart(2, '0');
/** vzdump's archive name for a backup at that epoch: the node's local time. */
export function archiveName(type: 'qemu' | 'lxc', vmid: number, epoch: number): string {
  const d = new Date(epoch * 1000);
  const stamp = `${d.getFullYear()}_${pad(d.getMonth() + 1)}_${pad(d.getDate())}-${pad(d.getHours())}_${pad(d.getMinutes())}_${pad(d.getSeconds())}`;
  return `vzdump-${type}-${vmid}-${stamp}.${type === 'qemu' ? 'vma' : 'tar'}.zst`;
}
/** PBS snapshot name for a backup at that epoch: UTC. */
export const pbsName = (type: 'qemu' | 'lxc', vmid: number, epoch: number): string =>
  `${type === 'qemu' ? 'vm' : 'ct'}/${vmid}/${new Date(epoch * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z')}`;

/**
 * A node `pve1` in a two-node cluster, with what discovery must get right: tiers by pool, nested
 * pool, tag and agent.yaml; a template; a guest on `pve2` whose RRD data is missing; a disabled
 * job; a job over all guests minus some, restricted to pve1; file archives (local-time names)
 * and PBS snapshots (UTC names); guest snapshots listed unsorted with `current`.
 * `now` (epoch s) anchors every time in it.
 */
export function sampleWorld(now = Math.floor(Date.now() / 1000)): World {
  const t1 = now - 2 * DAY;
  const t2 = now - 1 * DAY;
  return {
    node: 'pve1',
    guests: [
      { vmid: 100, type: 'qemu', name: 'web01', node: 'pve1', status: 'running', pool: 'tier-1', tags: 'prod;web' },
      { vmid: 101, type: 'qemu', name: 'db01', node: 'pve1', status: 'running', pool: 'prod/tier-2', tags: 'db' },
      { vmid: 102, type: 'qemu', name: 'lab01', node: 'pve1', status: 'stopped', tags: 'lab;tier-3' },
      { vmid: 103, type: 'qemu', name: 'debian-tmpl', node: 'pve1', status: 'stopped', template: true, pool: 'tier-1' },
      { vmid: 104, type: 'qemu', name: 'old01', node: 'pve1', status: 'stopped', tags: 'misc' },
      { vmid: 105, type: 'lxc', name: 'dns01', node: 'pve1', status: 'running', tags: 'dns;tier-2' },
      { vmid: 106, type: 'lxc', name: 'mail01', node: 'pve2', status: 'running', pool: 'tier-1', rrd: false },
      { vmid: 108, type: 'qemu', name: 'nas-vm', node: 'pve1', status: 'running', pool: 'tier-4' },
      { vmid: 109, type: 'qemu', name: 'scratch', node: 'pve1', status: 'running', pool: 'scratch' },
    ],
    pools: [{ poolid: 'tier-1', comment: 'critical' }, { poolid: 'prod' }, { poolid: 'prod/tier-2' }, { poolid: 'tier-4' }, { poolid: 'scratch' }],
    backupJobs: [
      { id: 'backup-daily', type: 'vzdump', schedule: '02:00', enabled: 1, pool: 'tier-1', storage: 'pbs1', mode: 'snapshot', 'prune-backups': { 'keep-daily': 30 }, 'next-run': now + 3600 },
      { id: 'backup-weekly', type: 'vzdump', schedule: 'sun 01:00', enabled: 1, all: 1, exclude: '104,109', node: 'pve1', storage: 'nas-nfs', mode: 'snapshot' },
      { id: 'backup-lab', type: 'vzdump', schedule: 'mon..fri 21:30', vmid: '102,105', storage: 'local', mode: 'stop', 'prune-backups': { 'keep-last': 3 } },
      { id: 'backup-old', type: 'vzdump', schedule: 'sat 02:00', enabled: 0, vmid: '104', storage: 'local' },
    ],
    storages: [
      { storage: 'local', type: 'dir', content: 'iso,vztmpl,backup', path: '/var/lib/vz' },
      { storage: 'local-lvm', type: 'lvmthin', content: 'images,rootdir' },
      { storage: 'nas-nfs', type: 'nfs', content: 'backup', path: '/mnt/pve/nas-nfs', shared: 1, 'prune-backups': 'keep-daily=7,keep-weekly=4' } as World['storages'][number],
      { storage: 'pbs1', type: 'pbs', content: 'backup', datastore: 'store1' },
    ],
    snapshots: {
      '100': [
        { name: 'before-upgrade', snaptime: now - 30 * DAY, description: 'before the 8.2 upgrade\nsecond line', vmstate: 0 },
        { name: 'weekly-a', snaptime: now - 7 * DAY, parent: 'before-upgrade' },
        { name: 'zz-first', snaptime: now - 60 * DAY, description: 'oldest' },
        { name: 'ancient', snaptime: 0 },
      ],
      '105': [{ name: 'pre-dns-change', snaptime: now - 2 * DAY, description: 'bind 9.20' }],
    },
    content: {
      pbs1: [
        { volid: `pbs1:backup/${pbsName('qemu', 100, t1)}`, vmid: 100, ctime: t1, size: 3_221_225_472, format: 'pbs-vm', subtype: 'qemu', verification: { state: 'ok' } },
        { volid: `pbs1:backup/${pbsName('qemu', 100, t2)}`, vmid: 100, ctime: t2, size: 3_300_000_000, format: 'pbs-vm', subtype: 'qemu' },
        { volid: `pbs1:backup/${pbsName('lxc', 106, t2)}`, vmid: 106, ctime: t2, size: 900_000_000, format: 'pbs-ct', subtype: 'lxc' },
      ],
      'nas-nfs': [
        { volid: `nas-nfs:backup/${archiveName('qemu', 100, t1)}`, vmid: 100, ctime: t1, size: 2_000_000_000, format: 'vma.zst', subtype: 'qemu' },
        { volid: `nas-nfs:backup/${archiveName('lxc', 105, t1)}`, vmid: 105, ctime: t1, size: 300_000_000, format: 'tar.zst', subtype: 'lxc', protected: 1 },
      ],
      local: [
        { volid: `local:backup/${archiveName('qemu', 102, t2)}`, vmid: 102, ctime: t2, size: 1_000_000_000, format: 'vma.zst', subtype: 'qemu', notes: 'lab01' },
        { volid: `local:backup/${archiveName('lxc', 105, t2)}`, vmid: 105, ctime: t2, size: 310_000_000, format: 'tar.zst', subtype: 'lxc' },
      ],
    },
    taskDir: '/nonexistent/pve/tasks',
    logDir: '/nonexistent/vzdump',
    calls: [],
  };
}
