import { restoreRunbook } from '../runbook/index';
import { restoreSnapshot } from '../runbook/verified';
import type { ChainHop, JobView, SnapshotView } from '../rules/types';
import type { Runbook } from './asset';
import { humanDuration, isGood } from '../rules/util';

// The asset page's side of copies of copies: the chain a derived copy came through, and its
// restore runbook as steps in order — the outermost copy first (the link's own restore gives back
// what its source held), the asset's own restore last — each with the time its drills measured. Pure.

const where = (t: ChainHop['target']) => `${t.media}, ${t.location === 'offsite' ? 'off-site' : 'on-site'}`;

/** "vm-100 → pbs1 (pbs, on-site) → cloud-restic (cloud, off-site)": the first hop by its target, the links by their jobs. */
export function chainText(asset: string, via: readonly ChainHop[]): string {
  return [asset, ...via.map((h, i) => `${i === 0 ? h.target.name : h.job} (${where(h.target)})`)].join(' → ');
}

/** One restore of a chain's runbook: a job's runbook (its target: the copy restored from), and its drills' time. */
export interface ChainStep extends Pick<Runbook, 'agent' | 'job' | 'target' | 'title' | 'commands' | 'notes'> {
  /** What the newest successful restore drill of this job took; null: none measured. */
  expectedMs: number | null;
}

export interface ChainRunbook {
  title: string;
  commands: string[];
  notes: string[];
  steps: ChainStep[];
  /** The steps' expected times added up; null when a step has none. */
  expectedMs: number | null;
}

export interface ChainRunbookInput {
  derived: JobView;
  /** The views of every job on the chain (the asset's own and the links), by agent\0job. */
  jobs: ReadonlyMap<string, JobView>;
  facts: ReadonlyMap<string, Record<string, string> | null>;
  pveStorages?: (agent: string) => readonly { id: string; content: string }[] | undefined;
  rtoMs: number;
}

const keyOf = (h: { agent: string; job: string }) => `${h.agent}\0${h.job}`;

/** The listing's snapshots (times finite), else null. */
function listed(j: JobView): SnapshotView[] | null {
  const inv = j.inventory;
  if (!inv || inv.times.length === 0) return null;
  const ids = inv.ids();
  const states = inv.verified();
  return inv.times.map((time, i) => ({ id: ids[i], time, ...(states?.[i] ? { verified: states[i]! } : {}) })).filter((s) => Number.isFinite(s.time));
}

/** The restore drill's time when the newest one succeeded. */
const drillMs = (j: JobView | undefined): number | null => (j?.lastRestoreTest && isGood(j.lastRestoreTest) ? j.lastRestoreTest.durationMs : null);

/**
 * The steps restoring `derived` (a copy of a copy): from its last hop back to its first. The
 * links' steps restore their newest copy; the first hop's restores the snapshot the chain holds
 * (its time is the derived copy's), or the newest in what was restored when it is not listed.
 */
export function chainRunbook({ derived, jobs, facts, pveStorages, rtoMs }: ChainRunbookInput): ChainRunbook {
  const via = derived.derivedVia ?? [];
  const steps: ChainStep[] = [];
  for (let i = via.length - 1; i >= 0; i--) {
    const hop = via[i];
    const view = jobs.get(keyOf(hop));
    const snaps = view ? listed(view) : null;
    const inner = i === 0;
    const chosen = inner
      ? { snapshot: snaps?.find((s) => s.time === derived.lastSuccess) ?? null }
      : snaps
        ? restoreSnapshot(snaps)
        : { snapshot: null };
    const book = restoreRunbook({
      driver: hop.driver,
      agent: hop.agent,
      job: hop.job,
      asset: view?.asset ?? derived.asset,
      restore: facts.get(keyOf(hop)) ?? null,
      ...chosen,
      target: hop.target.name,
      pveStorages: pveStorages?.(hop.agent),
    });
    const notes = [...book.notes];
    if (!inner) {
      const back = via[i - 1].target.name;
      notes.unshift(`This gives back what ${back} held when ${hop.job} copied it: put it back where ${back} keeps it (or point the next step at the restored copy) before the next step.`);
    }
    const expectedMs = drillMs(view);
    notes.push(expectedMs === null ? `No restore drill of ${hop.job} has measured this step.` : `Its newest restore drill took ${humanDuration(expectedMs)}.`);
    steps.push({ agent: hop.agent, job: hop.job, target: hop.target.name, title: book.title, commands: book.commands, notes, expectedMs });
  }
  const known = steps.every((s) => s.expectedMs !== null);
  const expectedMs = known ? steps.reduce((n, s) => n + (s.expectedMs as number), 0) : null;
  const total =
    expectedMs === null
      ? `Not every step has a restore drill: the time through the chain is unknown (RTO ${humanDuration(rtoMs)}).`
      : `Expected ${humanDuration(expectedMs)} through the chain, ${expectedMs <= rtoMs ? 'within' : 'beyond'} the ${humanDuration(rtoMs)} RTO.`;
  return {
    title: `Restore ${derived.asset} from ${via.at(-1)?.target.name ?? derived.target.name} in ${steps.length} steps: ${chainText(derived.asset, via)}`,
    // Names only in the comment lines (agent-supplied ids could hold a newline).
    commands: steps.flatMap((s, n) => [`# Step ${n + 1}: ${s.job} on ${s.agent}, from ${s.target}`, ...s.commands]),
    notes: [total],
    steps,
    expectedMs,
  };
}
