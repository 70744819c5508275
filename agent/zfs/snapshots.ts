import { planRetention } from '../../shared/retention';
import type { Retention } from '../../shared/retention-policy';

// ZFS snapshot listings and names, pure (REFERENCE-INTEGRATIONS §7): `zfs list -H -p` prints one
// snapshot a line, fields separated by a single tab, `creation` as epoch seconds; sanoid names its
// snapshots `autosnap_<YYYY-MM-DD>_<HH:MM:SS>_<type>` (local time), syncoid its sync snapshots
// `syncoid_[<id>_]<host>_<YYYY-MM-DD>_<HH:MM:SS>-GMT<±HH:MM>`. Lifeline's own are
// `lifeline-<YYYY-MM-DD>_<HH:MM:SS>Z` (UTC), the only ones it ever destroys.

/** The columns Lifeline asks for, in this order: `zfs list -H -p -t snapshot -o name,creation,used`. */
export const SNAPSHOT_COLUMNS = 'name,creation,used';

export interface ZfsSnapshot {
  /** The dataset (`tank/data`). */
  dataset: string;
  /** The snapshot's name after `@`. */
  name: string;
  /** Epoch seconds. */
  creation: number;
  /** Bytes only this snapshot holds; null when ZFS printed `-`. */
  used: number | null;
}

export const fullName = (s: Pick<ZfsSnapshot, 'dataset' | 'name'>): string => `${s.dataset}@${s.name}`;

/**
 * The snapshots of `zfs list -H -p -t snapshot -o name,creation,used` output. A line that is not
 * three tab-separated fields with a snapshot name and a whole creation time is an error: the tool
 * printed something this parser does not know, and guessing would misjudge freshness.
 */
export function parseSnapshotList(text: string): ZfsSnapshot[] {
  const out: ZfsSnapshot[] = [];
  text.split('\n').forEach((raw, i) => {
    const line = raw.replace(/\r$/, '');
    if (line === '') return;
    const [name, creation, used, ...rest] = line.split('\t');
    const at = name?.indexOf('@') ?? -1;
    if (rest.length || used === undefined || at <= 0 || at === name.length - 1 || !/^\d+$/.test(creation)) {
      throw new Error(`zfs list: line ${i + 1} is not "name<TAB>creation<TAB>used" of a snapshot with -p numbers: ${JSON.stringify(line.slice(0, 200))}`);
    }
    out.push({ dataset: name.slice(0, at), name: name.slice(at + 1), creation: Number(creation), used: /^\d+$/.test(used) ? Number(used) : null });
  });
  return out;
}

/** sanoid's retention classes, most frequent first. */
export const SANOID_CLASSES = ['frequently', 'hourly', 'daily', 'weekly', 'monthly', 'yearly'] as const;
export type SnapshotClass = (typeof SANOID_CLASSES)[number] | 'lifeline' | 'syncoid' | 'other';

const SANOID_RE = /^autosnap_\d{4}-\d{2}-\d{2}_\d{2}:\d{2}:\d{2}_(frequently|hourly|daily|weekly|monthly|yearly)$/;
const SYNCOID_RE = /^syncoid_.+_\d{4}-\d{2}-\d{2}_\d{2}:\d{2}:\d{2}-GMT[-+]?\d{2}:\d{2}$/;
const LIFELINE_RE = /^lifeline-\d{4}-\d{2}-\d{2}_\d{2}:\d{2}:\d{2}Z$/;

/** Who took a snapshot and, for sanoid's, its retention class, from its name alone. */
export function snapshotClass(name: string): SnapshotClass {
  const sanoid = SANOID_RE.exec(name);
  if (sanoid) return sanoid[1] as SnapshotClass;
  if (LIFELINE_RE.test(name)) return 'lifeline';
  if (SYNCOID_RE.test(name)) return 'syncoid';
  return 'other';
}

export const isLifelineSnapshot = (name: string): boolean => LIFELINE_RE.test(name);

/** The name of a snapshot Lifeline takes at `at`: UTC, so names sort as times do on any host. */
export function lifelineSnapshotName(at: Date): string {
  const iso = at.toISOString(); // 2026-11-30T06:14:00.123Z
  return `lifeline-${iso.slice(0, 10)}_${iso.slice(11, 19)}Z`;
}

/** How many snapshots of each class, classes with none left out. */
export function classCounts(snapshots: readonly Pick<ZfsSnapshot, 'name'>[]): Partial<Record<SnapshotClass, number>> {
  const out: Partial<Record<SnapshotClass, number>> = {};
  for (const s of snapshots) {
    const c = snapshotClass(s.name);
    out[c] = (out[c] ?? 0) + 1;
  }
  return out;
}

/** `30 daily, 24 hourly, 3 lifeline`, in a fixed order. */
export function describeCounts(counts: Partial<Record<SnapshotClass, number>>): string {
  const order: SnapshotClass[] = ['lifeline', ...SANOID_CLASSES, 'syncoid', 'other'];
  const parts = order.filter((c) => counts[c]).map((c) => `${counts[c]} ${c}`);
  return parts.length ? parts.join(', ') : 'no snapshots';
}

/** The snapshots with one per creation second (the first listed of each): sanoid's classes taken together are one point in time. */
export function onePerSecond(snapshots: readonly ZfsSnapshot[]): ZfsSnapshot[] {
  const seen = new Set<number>();
  return snapshots.filter((s) => !seen.has(s.creation) && seen.add(s.creation));
}

/** Each dataset's snapshots, oldest first. */
export function byDataset(snapshots: readonly ZfsSnapshot[]): Map<string, ZfsSnapshot[]> {
  const out = new Map<string, ZfsSnapshot[]>();
  for (const s of snapshots) {
    const list = out.get(s.dataset) ?? [];
    list.push(s);
    out.set(s.dataset, list);
  }
  for (const list of out.values()) list.sort((a, b) => a.creation - b.creation);
  return out;
}

export interface Freshness {
  dataset: string;
  /** The newest snapshot, or null when the dataset has none. */
  newest: ZfsSnapshot | null;
  /** now − its creation (ms); null without one. */
  ageMs: number | null;
  /** Older than the limit, or none at all. */
  stale: boolean;
}

/** Per dataset (each in `datasets`, listed or not): its newest snapshot against `maxAgeMs`. */
export function freshness(datasets: readonly string[], snapshots: readonly ZfsSnapshot[], maxAgeMs: number, now: number): Freshness[] {
  const grouped = byDataset(snapshots);
  return datasets.map((dataset) => {
    const list = grouped.get(dataset) ?? [];
    const newest = list.at(-1) ?? null;
    const ageMs = newest ? now - newest.creation * 1000 : null;
    return { dataset, newest, ageMs, stale: ageMs === null || ageMs > maxAgeMs };
  });
}

/**
 * The snapshots Lifeline's prune destroys: per dataset, its own snapshots (lifeline-…) that the
 * retention policy does not keep, decided by shared/retention.ts with restic's rules. sanoid's,
 * syncoid's and anyone else's snapshots are never candidates, whatever the policy says. With a
 * recursive job only the top dataset is decided (`zfs destroy -r` takes its children's along).
 */
export function snapshotsToDestroy(snapshots: readonly ZfsSnapshot[], dataset: string, retention: Retention, timeZone?: string): ZfsSnapshot[] {
  const own = snapshots.filter((s) => s.dataset === dataset && isLifelineSnapshot(s.name));
  const plan = planRetention(
    own.map((s) => ({ id: s.name, time: new Date(s.creation * 1000) })),
    retention,
    { semantics: 'restic', ...(timeZone ? { timeZone } : {}) },
  );
  const remove = new Set(plan.remove.map((r) => r.id));
  return own.filter((s) => remove.has(s.name)).sort((a, b) => a.creation - b.creation);
}

export interface ReplicaLag {
  /** The source's newest snapshot; null when it has none. */
  sourceNewest: ZfsSnapshot | null;
  /** The newest snapshot both sides hold (by name), or null. */
  common: ZfsSnapshot | null;
  /** How far the replica is behind: the source's newest − the newest common (ms); null without a common snapshot. */
  lagMs: number | null;
  /** How old the newest common snapshot is at `now` (ms): what is lost if the source died now. */
  ageMs: number | null;
}

/**
 * The replica's lag: the newest snapshot of `source` that `replica` also holds (matched by name,
 * as syncoid matches them), and how far it lies behind the source's newest.
 */
export function replicaLag(source: readonly ZfsSnapshot[], replica: readonly ZfsSnapshot[], now: number): ReplicaLag {
  const sorted = [...source].sort((a, b) => a.creation - b.creation);
  const sourceNewest = sorted.at(-1) ?? null;
  const held = new Set(replica.map((s) => s.name));
  const common = [...sorted].reverse().find((s) => held.has(s.name)) ?? null;
  if (!sourceNewest || !common) return { sourceNewest, common, lagMs: null, ageMs: common ? now - common.creation * 1000 : null };
  return { sourceNewest, common, lagMs: (sourceNewest.creation - common.creation) * 1000, ageMs: now - common.creation * 1000 };
}
