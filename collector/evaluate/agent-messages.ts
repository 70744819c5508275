import type { HostMessage, PbsMessage, ProxmoxMessage } from '../../shared/protocol';
import type { AgentView, DatastoreView, FilesystemView, ProxmoxView, PbsView } from '../rules/types';

// An agent's stored messages (host facts, Proxmox, PBS) as the rules read them: times as ms, and
// null for a body that cannot be read (the rules then go on without it).

type Body<M> = Omit<M, 'agent' | 'seq' | 'sentAt' | 'kind'>;

/** The fs_usage key of a PBS datastore's usage samples: no mount point starts without '/'. */
export const datastoreMount = (name: string): string => `datastore ${name}`;

export function parse<T>(json: string | null): T | null {
  if (json === null) return null;
  try {
    return JSON.parse(json) as T;
  } catch {
    return null;
  }
}

/** An ISO time as ms; null when absent, unreadable or not after `after`. */
const time = (iso: string | null | undefined, after = -Infinity) => {
  const t = iso ? Date.parse(iso) : Number.NaN;
  return Number.isFinite(t) && t > after ? t : null;
};

/** What an agent's view takes from its host facts (the clock offset only where skew was not measured). */
export type HostView = Pick<AgentView, 'filesystems' | 'disks' | 'pools'> & { clockOffsetMs: number | null };

/** An agent's host facts as its view shows them, with each filesystem's usage history. */
export function hostView(body: string | null, history: (mount: string) => FilesystemView['history']): HostView {
  const facts = parse<Partial<Body<HostMessage>>>(body) ?? {};
  return {
    clockOffsetMs: typeof facts.clockOffsetMs === 'number' ? facts.clockOffsetMs : null,
    filesystems: (facts.filesystems ?? []).map((f) => ({ mount: f.mount, sizeBytes: f.sizeBytes, usedBytes: f.usedBytes, history: history(f.mount) })),
    disks: (facts.disks ?? []).map((d) => ({ device: d.device, smartOk: d.smartOk ?? null, ...(d.detail ? { detail: d.detail } : {}) })),
    ...(facts.pools ? { pools: facts.pools.map((p) => ({ ...p, devices: p.devices ?? [] })) } : {}),
  };
}

/** An agent's stored 'proxmox' message as the rules read it. */
export function proxmoxView(agent: string, timezone: string, body: string | null, updatedAt: number): ProxmoxView | null {
  const m = parse<Body<ProxmoxMessage>>(body);
  if (!m || !Array.isArray(m.guests)) return null;
  return {
    agent,
    timezone,
    node: m.node,
    updatedAt,
    // Proxmox says snaptime 0 when it does not know: no time, not 1970.
    guests: m.guests.map((g) => ({ ...g, snapshots: g.snapshots.map((s) => ({ name: s.name, time: time(s.time, 0), ...(s.description ? { description: s.description } : {}) })) })),
    backupJobs: m.backupJobs ?? [],
    storages: m.storages ?? [],
  };
}

/** An agent's stored 'pbs' message as the rules read it, with each datastore's usage samples from `history`. */
export function pbsView(agent: string, body: string | null, updatedAt: number, history: (mount: string) => DatastoreView['history']): PbsView | null {
  const m = parse<Body<PbsMessage>>(body);
  if (!m || !Array.isArray(m.datastores)) return null;
  return {
    agent,
    updatedAt,
    datastores: m.datastores.map((d) => ({
      name: d.name,
      target: d.target,
      totalBytes: d.totalBytes ?? null,
      usedBytes: d.usedBytes ?? null,
      availBytes: d.availBytes ?? null,
      estimatedFullAt: time(d.estimatedFullAt),
      gc: d.gc
        ? { startedAt: time(d.gc.startedAt), removedBytes: d.gc.removedBytes ?? null, pendingBytes: d.gc.pendingBytes ?? null, stillBad: d.gc.stillBad ?? null }
        : null,
      error: d.error ?? null,
      maintenance: d.maintenance ?? null,
      history: history(datastoreMount(d.name)),
    })),
  };
}
