import type { z as Z } from 'zod';
import { parseDuration } from '../../shared/duration';
import type { ProxmoxConfig } from '../config';
import { backupTime } from '../proxmox/discovery';
import { pveTools, type PveTools } from '../proxmox/tools';
import type { DriverContext, OperationOutcome, Zod } from './types';

// What the vzdump driver's parts share: its options, the Proxmox tools of the job's context, and
// the guest's backups on the storage as PVE lists them (REFERENCE-INTEGRATIONS §2, §5).

/** pve-storage's `pve-storage-id` format. */
const STORAGE_ID = /^[a-z][a-z0-9\-_.]*[a-z0-9]$/i;
const VMID_MAX = 999_999_999;

/** "9900-9999" (or one VMID): the scratch VMIDs a restore drill may use. */
export interface VmidRange {
  from: number;
  to: number;
  text: string;
}

export const options = (z: Zod) => {
  const storageId = z.string().regex(STORAGE_ID, 'expected a Proxmox storage ID (letters, digits, "-", "_", ".")');
  const duration = z.union([z.string(), z.number()]).transform((v, ctx) => {
    const ms = parseDuration(v);
    if (ms === null) {
      ctx.addIssue({ code: 'custom', message: `expected a duration like "90s", "5m" or a number of seconds, got ${JSON.stringify(v)}` });
      return z.NEVER;
    }
    return ms;
  });
  const range = z.union([z.string(), z.number()]).transform((v, ctx): VmidRange => {
    const m = /^\s*(\d+)\s*(?:-\s*(\d+)\s*)?$/.exec(String(v));
    const from = m ? Number(m[1]) : NaN;
    const to = m ? Number(m[2] ?? m[1]) : NaN;
    if (!(from >= 100 && to <= VMID_MAX && from <= to)) {
      ctx.addIssue({ code: 'custom', message: `expected a range of VMIDs like "9900-9999" (100 to ${VMID_MAX}, low to high), got ${JSON.stringify(v)}` });
      return z.NEVER;
    }
    return { from, to, text: from === to ? String(from) : `${from}-${to}` };
  });
  const wait = z.union([
    z.object({ agent: z.literal(true) }).strict(),
    z.object({ port: z.int().min(1).max(65_535), host: z.string().min(1).max(253).optional() }).strict(),
  ]);
  return z
    .object({
      vmid: z.int().min(100).max(VMID_MAX),
      storage: storageId,
      mode: z.enum(['snapshot', 'suspend', 'stop']).default('snapshot'),
      compress: z.enum(['zstd', 'gzip', 'lzo', 'none']).default('zstd'),
      restoreDrill: z
        .object({
          vmids: range,
          storage: storageId,
          start: z.boolean().default(false),
          wait: wait.optional(),
          timeout: duration.default(300_000),
        })
        .strict()
        .refine((d) => !d.wait || d.start, { message: 'waiting for the guest needs start: true', path: ['wait'] })
        .optional(),
    })
    .strict();
};

export type VzdumpOptions = Z.output<ReturnType<typeof options>>;
export type DrillOptions = NonNullable<VzdumpOptions['restoreDrill']>;
export type VzdumpCtx = DriverContext<VzdumpOptions>;
export type GuestType = 'qemu' | 'lxc';

/** The job's Proxmox context; the config refuses a vzdump job without `proxmox:`. */
export function pveOf(ctx: VzdumpCtx): { config: ProxmoxConfig; stateDir: string; tools: PveTools } {
  if (!ctx.proxmox) throw new Error("a vzdump job needs agent.yaml's proxmox: section (the node and the paths of the Proxmox tools)");
  return { ...ctx.proxmox, tools: pveTools(ctx.proxmox.config, ctx.env) };
}

export function failure(ctx: VzdumpCtx, error: string, extra: Partial<OperationOutcome> = {}): OperationOutcome {
  ctx.tail.line(`[lifeline] ${error}`);
  return { status: 'failure', exitCode: null, ...extra, error };
}

/** The guest type an asset named as DESIGN.md names guests (`vm-<vmid>`, `ct-<vmid>`) stands for. */
export const assetType = (asset: string): GuestType | null => (asset.startsWith('vm-') ? 'qemu' : asset.startsWith('ct-') ? 'lxc' : null);

/** One backup in `pvesh get /nodes/{node}/storage/{storage}/content --content backup --vmid N`. */
export interface BackupVolume {
  volid: string;
  vmid?: number | string;
  ctime?: number;
  size?: number;
  format?: string;
  subtype?: string;
  /** PBS storages: the last verify task's result (pve-storage PBSPlugin list_volumes). */
  verification?: { state?: string; upid?: string };
}

/** The guest's backups on the storage, oldest first (by ctime, else the time in the name). */
export async function listBackups(ctx: VzdumpCtx): Promise<{ v: BackupVolume; time: number }[]> {
  const { config, tools } = pveOf(ctx);
  const { vmid, storage } = ctx.options;
  const list = await tools.get<BackupVolume[]>(`/nodes/${config.node}/storage/${storage}/content`, { content: 'backup', vmid });
  if (!Array.isArray(list)) throw new Error(`pvesh answered no list of ${storage}'s backups`);
  return list
    .filter((v) => typeof v?.volid === 'string' && (v.vmid === undefined || Number(v.vmid) === vmid))
    .map((v) => ({ v, time: backupTime(v) }))
    .filter((x): x is { v: BackupVolume; time: number } => x.time !== null)
    .sort((a, b) => a.time - b.time || a.v.volid.localeCompare(b.v.volid));
}

/** Which guest a backup holds: PVE's subtype, else its name (`vzdump-qemu-…`, `vm/…`). */
export function volumeType(v: BackupVolume): GuestType | null {
  if (v.subtype === 'qemu' || v.subtype === 'lxc') return v.subtype;
  if (/:backup\/(?:vzdump-qemu-|vm\/)/.test(v.volid)) return 'qemu';
  if (/:backup\/(?:vzdump-(?:lxc|openvz)-|ct\/)/.test(v.volid)) return 'lxc';
  return null;
}


export const seconds = (ms: number) => `${(ms / 1000).toFixed(1)}s`;
