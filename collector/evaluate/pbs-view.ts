import type { PbsMessage } from '../../shared/protocol';
import type { DatastoreView, PbsView } from '../rules/types';

/** The fs_usage key of a PBS datastore's usage samples: no mount point starts without '/'. */
export const datastoreMount = (name: string): string => `datastore ${name}`;

type Body = Omit<PbsMessage, 'agent' | 'seq' | 'sentAt' | 'kind'>;

/**
 * An agent's stored 'pbs' message as the rules read it (times as ms), with each datastore's usage
 * samples from `history`; null when unreadable.
 */
export function pbsView(agent: string, body: string | null, updatedAt: number, history: (mount: string) => DatastoreView['history']): PbsView | null {
  let m: Body;
  try {
    m = JSON.parse(body ?? 'null') as Body;
  } catch {
    return null;
  }
  if (!m || !Array.isArray(m.datastores)) return null;
  const time = (iso: string | null | undefined) => {
    const t = iso ? Date.parse(iso) : Number.NaN;
    return Number.isFinite(t) ? t : null;
  };
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
