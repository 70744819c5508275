import type { Retention } from '../../shared/retention-policy';

// Pure readings of proxmox-backup-client's output (REFERENCE-INTEGRATIONS §5) and the prune
// flags of a retention policy.

/** `{type}/{id}/{rfc3339 UTC}`, as PBS displays a snapshot. */
export const snapshotPath = (type: string, id: string, epoch: number): string => `${type}/${id}/${new Date(epoch * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z')}`;

export interface PbsSnapshot {
  /** `host/pve1/2026-11-29T03:00:00Z`. */
  path: string;
  type: string;
  id: string;
  /** Epoch seconds. */
  time: number;
  /** Archive names without the server's `.didx`/`.fidx`/`.blob`: `etc.pxar`, `index.json`… */
  archives: { name: string; size?: number; crypt?: string }[];
  size?: number;
  protected: boolean;
  verification?: { state: 'ok' | 'failed'; upid?: string };
  owner?: string;
}

const SERVER_EXT = /\.(didx|fidx|blob)$/;
const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const count = (v: unknown): number | undefined => (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0 ? v : undefined);

/** One `SnapshotListItem` (kebab-case), or undefined for anything that is not one. */
export function snapshotFrom(item: unknown): PbsSnapshot | undefined {
  if (!isRecord(item)) return undefined;
  const type = item['backup-type'];
  const id = item['backup-id'];
  const time = count(item['backup-time']);
  if (typeof type !== 'string' || typeof id !== 'string' || time === undefined) return undefined;
  const archives = (Array.isArray(item.files) ? item.files : []).flatMap((f) => {
    // Older servers list plain file names.
    const name = typeof f === 'string' ? f : isRecord(f) && typeof f.filename === 'string' ? f.filename : undefined;
    if (name === undefined) return [];
    const size = isRecord(f) ? count(f.size) : undefined;
    const crypt = isRecord(f) && typeof f['crypt-mode'] === 'string' ? f['crypt-mode'] : undefined;
    return [{ name: name.replace(SERVER_EXT, ''), ...(size !== undefined ? { size } : {}), ...(crypt ? { crypt } : {}) }];
  });
  const v = item.verification;
  const state = isRecord(v) && (v.state === 'ok' || v.state === 'failed') ? v.state : undefined;
  const size = count(item.size);
  return {
    path: snapshotPath(type, id, time),
    type,
    id,
    time,
    archives,
    ...(size !== undefined ? { size } : {}),
    protected: item.protected === true,
    ...(state ? { verification: { state, ...(isRecord(v) && typeof v.upid === 'string' ? { upid: v.upid } : {}) } } : {}),
    ...(typeof item.owner === 'string' ? { owner: item.owner } : {}),
  };
}

/**
 * The snapshots of one group in `snapshot list --output-format json`, newest first; null when the
 * text is not a JSON list (the caller says so).
 */
export function groupSnapshots(json: string, group: string): PbsSnapshot[] | null {
  const doc = jsonList(json);
  if (!doc) return null;
  return doc
    .map(snapshotFrom)
    .filter((s): s is PbsSnapshot => s !== undefined && `${s.type}/${s.id}` === group)
    .sort((a, b) => b.time - a.time);
}

/** PBS's HumanByte units, binary and decimal (newer clients print SI units). */
const UNIT: Record<string, number> = {
  B: 1, KiB: 2 ** 10, MiB: 2 ** 20, GiB: 2 ** 30, TiB: 2 ** 40, PiB: 2 ** 50,
  KB: 1e3, MB: 1e6, GB: 1e9, TB: 1e12, PB: 1e15,
};

/** `4.71 MiB` → bytes (rounded: the client prints at most a few decimals). */
export function parseHumanBytes(text: string): number | undefined {
  const m = /^(\d+(?:\.\d+)?)\s*(B|[KMGTP]i?B)$/.exec(text.trim());
  if (!m || UNIT[m[2]] === undefined) return undefined;
  return Math.round(Number(m[1]) * UNIT[m[2]]);
}

export interface BackupReport {
  /** From `Starting backup: host/elsa/2019-12-03T09:35:01Z`. */
  snapshot?: string;
  /** From `Duration: 87.12s`, in ms. */
  durationMs?: number;
  /**
   * Sum of the per-archive `NAME: had to backup X of Y (compressed Z) …` lines: the client's
   * upload statistics, not in the reference; absent when no such line was printed.
   */
  bytesAdded?: number;
  /** The last `Error: …` line (proxmox-router CLIs print their error so and exit 255). */
  error?: string;
}

/** Reads the backup's output line by line (stdout and stderr alike: versions differ in which they use). */
export class BackupOutput {
  readonly report: BackupReport = {};
  line(line: string): void {
    let m: RegExpExecArray | null;
    if ((m = /^Starting backup: (\S+)\s*$/.exec(line))) this.report.snapshot = m[1];
    else if ((m = /^Duration: (\d+(?:\.\d+)?)\s*s\s*$/.exec(line))) this.report.durationMs = Math.round(Number(m[1]) * 1000);
    else if ((m = /^\S+: had to backup (.+?) of (.+?) \(compressed/.exec(line))) {
      const added = parseHumanBytes(m[1]);
      if (added !== undefined) this.report.bytesAdded = (this.report.bytesAdded ?? 0) + added;
    } else if ((m = /^Error: (.+)$/.exec(line))) this.report.error = m[1].trim();
  }
}

/** The client's `--keep-*` names for our GFS retention: PBS has every rule Lifeline has (a new rule fails to compile here). */
const KEEP: Readonly<Record<keyof Retention, string>> = {
  last: '--keep-last', hourly: '--keep-hourly', daily: '--keep-daily',
  weekly: '--keep-weekly', monthly: '--keep-monthly', yearly: '--keep-yearly',
};

/**
 * `--keep-* N` pairs for the rules that keep something. Empty when none does: PBS then keeps
 * every snapshot, which the caller must not mistake for a prune.
 */
export function keepArgs(retention: Retention): string[] {
  return (Object.keys(KEEP) as (keyof Retention)[]).flatMap((rule) => (retention[rule] ? [KEEP[rule], String(retention[rule])] : []));
}

export interface PruneDecision {
  kept: string[];
  removed: string[];
  protectedKept: string[];
}

/** `prune --output-format json` (PruneListItems: backup-type, backup-id, backup-time, keep, protected); null when unreadable. */
export function pruneDecision(json: string): PruneDecision | null {
  const doc = jsonList(json);
  if (!doc) return null;
  const out: PruneDecision = { kept: [], removed: [], protectedKept: [] };
  for (const item of doc) {
    if (!isRecord(item) || typeof item['backup-type'] !== 'string' || typeof item['backup-id'] !== 'string' || count(item['backup-time']) === undefined) continue;
    const path = snapshotPath(item['backup-type'], item['backup-id'], item['backup-time'] as number);
    if (item.keep === false) out.removed.push(path);
    else {
      out.kept.push(path);
      if (item.protected === true) out.protectedKept.push(path);
    }
  }
  return out;
}

/** The JSON list the client printed; null when it is not one. */
function jsonList(text: string): unknown[] | null {
  try {
    const doc: unknown = JSON.parse(text);
    return Array.isArray(doc) ? doc : null;
  } catch {
    return null;
  }
}
