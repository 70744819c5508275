import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';
import type { Zpool } from '../../shared/protocol';
import { callTool } from '../tool-call';
import { parsePoolList, parsePoolStatus, POOL_COLUMNS } from './pool-status';

// The host's ZFS pools for the host facts: `zpool list -H -p` for sizes and health, then
// `zpool status -p` for the state, error counters and the devices at fault (its exit code says
// nothing: 0 even for a degraded pool). Never throws: without zpool, or when it fails, no pools.

const TIMEOUT_MS = 30_000;

/**
 * zpool's path: the configured one, else found in PATH or the sbin directories (Debian's
 * zfsutils-linux puts it in /usr/sbin, often not on a user's PATH); null when ZFS is not installed.
 */
export function findZpool(configured?: string, pathEnv = process.env.PATH ?? ''): string | null {
  if (configured) return configured;
  const dirs = [...new Set([...pathEnv.split(delimiter).filter(Boolean), '/usr/sbin', '/sbin'])];
  for (const dir of dirs) {
    const file = join(dir, 'zpool');
    try {
      accessSync(file, constants.X_OK);
      return file;
    } catch {
      /* not here */
    }
  }
  return null;
}

/** Joins both listings by pool name: status's state over list's health (it adds SUSPENDED). */
export function mergePools(listText: string, statusText: string): Zpool[] {
  const status = new Map(parsePoolStatus(statusText).map((s) => [s.name, s]));
  return parsePoolList(listText).map((p) => {
    const s = status.get(p.name);
    return {
      ...p,
      capacityPct: Math.min(100, p.capacityPct),
      health: s && s.state !== 'UNKNOWN' ? s.state : p.health,
      errors: s?.errors ?? { read: 0, write: 0, checksum: 0 },
      ...(s?.status ? { status: s.status } : {}),
      ...(s?.devices.length ? { devices: s.devices } : {}),
      ...(s?.dataErrors ? { dataErrors: s.dataErrors } : {}),
    };
  });
}

export interface PoolsResult {
  pools: Zpool[];
  /** Why nothing could be read (for the agent's log), when zpool failed. */
  error?: string;
}

export async function collectPools(zpool: string, env: NodeJS.ProcessEnv = process.env): Promise<PoolsResult> {
  const call = (args: string[]) => callTool({ path: zpool, args, env, timeoutMs: TIMEOUT_MS, pathKey: 'zfs.zpool', timeoutKey: 'zfs.zpool', background: true });
  try {
    const list = await call(['list', '-H', '-p', '-o', POOL_COLUMNS]);
    if (list.stdout.trim() === '') return { pools: [] };
    const status = await call(['status', '-p']);
    return { pools: mergePools(list.stdout, status.stdout).slice(0, 100) };
  } catch (err) {
    return { pools: [], error: (err as Error).message };
  }
}
