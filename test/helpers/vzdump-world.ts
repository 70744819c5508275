import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { World } from '../fixtures/pve/world';
import { AGENT_BIN, tempDir } from './processes';
import { editLocked } from './world-lock';

// The vzdump stand-in (test/fixtures/pve/bin/vzdump) and a world for it: real vzdump cannot run
// here, so the stand-in replays pve-manager's documented behaviour (argv, the emptied hook
// environment, phase order, task and guest logs, archive and PBS names;
// ../shared/REFERENCE-INTEGRATIONS.md §1–2) over a world file named by PVE_WORLD.

export const VZDUMP = fileURLToPath(new URL('../fixtures/pve/bin/vzdump', import.meta.url));
export const HOOK_BIN = resolve(AGENT_BIN, '..', 'lifeline-vzdump-hook.cjs');

/** A hook call as the stand-in records it. */
export interface HookCallRecord {
  tool: 'vzdump-hook';
  argv: string[];
  env: Record<string, string>;
  ms: number;
  code: number | null;
}

export interface VzdumpWorld {
  dir: string;
  file: string;
  /** Where the file storage `local` keeps its dumps. */
  dumpDir: string;
}

/**
 * Node pve1 with web01 (VM 100, running), db01 (VM 101, running) and dns (CT 102, stopped, so
 * backed up in stop mode); storages `local` (a directory) and `pbs1` (a Proxmox Backup Server).
 */
export function vzdumpWorld(opts: { fail?: Record<string, string>; script?: string } = {}): VzdumpWorld {
  const dir = tempDir('lifeline-vzdump-');
  const world: World = {
    node: 'pve1',
    guests: [
      { vmid: 100, type: 'qemu', name: 'web01', node: 'pve1', status: 'running' },
      { vmid: 101, type: 'qemu', name: 'db01', node: 'pve1', status: 'running' },
      { vmid: 102, type: 'lxc', name: 'dns', node: 'pve1', status: 'stopped' },
    ],
    pools: [],
    backupJobs: [],
    storages: [
      { storage: 'local', type: 'dir', content: 'backup,iso,vztmpl', path: join(dir, 'local') },
      { storage: 'pbs1', type: 'pbs', content: 'backup', datastore: 'store1' },
    ],
    snapshots: {},
    content: {},
    taskDir: join(dir, 'tasks'),
    logDir: join(dir, 'vzdump-log'),
    ...(opts.script ? { vzdumpScript: opts.script } : {}),
    fail: opts.fail ?? {},
    backupMs: 30,
    calls: [],
  };
  const file = join(dir, 'world.json');
  writeFileSync(file, JSON.stringify(world, null, 1));
  return { dir, file, dumpDir: join(dir, 'local', 'dump') };
}

export const readVzdumpWorld = (w: VzdumpWorld): World => JSON.parse(readFileSync(w.file, 'utf8')) as World;

export function setVzdumpScript(w: VzdumpWorld, script: string | undefined): void {
  editLocked<World>(w.file, (world) => {
    if (script) world.vzdumpScript = script;
    else delete world.vzdumpScript;
  });
}

export const hookCalls = (w: VzdumpWorld): HookCallRecord[] =>
  (readVzdumpWorld(w).calls ?? []).filter((c) => c.tool === 'vzdump-hook') as unknown as HookCallRecord[];

/** Runs a backup job as the scheduler would: `vzdump ARGS…` with the world in the environment. */
export function runVzdump(w: VzdumpWorld, args: string[]): { code: number | null; stderr: string } {
  const r = spawnSync(VZDUMP, args, { env: { ...process.env, PVE_WORLD: w.file }, encoding: 'utf8', timeout: 120_000 });
  return { code: r.status, stderr: r.stderr };
}

/** agent.yaml's `proxmox:` section pointing the agent at this world's logs. */
export const proxmoxSection = (w: VzdumpWorld, scan = '1h') =>
  `proxmox:\n  node: pve1\n  scan: ${scan}\n  logDir: ${join(w.dir, 'vzdump-log')}\n  taskDir: ${join(w.dir, 'tasks')}\n` +
  `  tools: { pvesh: ${fileURLToPath(new URL('../fixtures/pve/bin/pvesh', import.meta.url))}, qm: ${fileURLToPath(new URL('../fixtures/pve/bin/qm', import.meta.url))}, pct: ${fileURLToPath(new URL('../fixtures/pve/bin/pct', import.meta.url))}, vzdump: ${VZDUMP} }\n`;

/** The size the stand-in gives a guest's backup (1 GiB to 2.75 GiB by VMID). */
export const standInSize = (vmid: number) => (4 + (vmid % 8)) * 2 ** 28;
