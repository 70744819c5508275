import { nextRunMs } from '../../shared/schedule';
import { groupBy } from '../group-by';
import { memoByObject } from '../memo';
import type { EvaluationInput, GuestView, JobView, ProxmoxView, PveJobView, Tier } from './types';
import { DAY_MS } from './util';

// What the coverage audit, the overview and the metrics share about Proxmox VE guests: which
// agent speaks for a guest, which jobs back it up, how often they run. Pure.

/** The guest's asset name: `vm-<vmid>` for a VM, `ct-<vmid>` for a container. */
export const guestAsset = (g: Pick<GuestView, 'type' | 'vmid'>): string => `${g.type === 'lxc' ? 'ct' : 'vm'}-${g.vmid}`;

/** "vm-100 (web01)", or "vm-100" while Proxmox does not tell the name. */
export const guestLabel = (g: Pick<GuestView, 'type' | 'vmid' | 'name'>): string => (g.name ? `${guestAsset(g)} (${g.name})` : guestAsset(g));

/** The tier a guest's findings are scaled by: its own, or 2 while it has none (no tier filter hides it, nor is it shouted). */
export const scaleTier = (g: Pick<GuestView, 'tier'>): Tier => g.tier ?? 2;

export interface JudgedGuest {
  view: ProxmoxView;
  guest: GuestView;
}

/**
 * Every guest once, with the agent that speaks for it. In a cluster each node's agent sees every
 * guest of the cluster (/cluster/resources), so a guest (its VMID on its node) is judged by the
 * agent on that node, else by the first agent by name that reports it: one finding per guest,
 * not one per node. Agents, then guests, in a stable order.
 */
export function judgedGuests(input: Pick<EvaluationInput, 'proxmox'>): JudgedGuest[] {
  const views = [...(input.proxmox ?? [])].sort((a, b) => (a.agent < b.agent ? -1 : a.agent > b.agent ? 1 : 0));
  const owner = new Map<string, JudgedGuest>();
  for (const view of views) {
    for (const guest of view.guests) {
      const key = `${guest.vmid}\0${guest.node}`;
      const prev = owner.get(key);
      if (!prev || (prev.view.node !== guest.node && view.node === guest.node)) owner.set(key, { view, guest });
    }
  }
  return [...owner.values()].sort((a, b) => (a.view.agent < b.view.agent ? -1 : a.view.agent > b.view.agent ? 1 : a.guest.vmid - b.guest.vmid));
}

export interface GuestCover {
  /** Enabled Proxmox backup jobs that include the guest now. */
  enabled: PveJobView[];
  /** Disabled ones: Proxmox's own "not backed up" list counts them as covering, we do not. */
  disabled: PveJobView[];
  /**
   * Jobs an agent runs for the guest's asset with another driver (a command job running vzdump,
   * a PBS client job…). The vzdump jobs of the catalog stand for the enabled Proxmox jobs above,
   * and a PBS backup group (driver pbs-group) is what those jobs wrote, not a job of its own.
   */
  agentJobs: JobView[];
}

// Indexes built once per view and per job list (the same arrays are handed around a pass):
// asking per guest by scanning every job's VMID list would be quadratic in large clusters.
const jobsByVmid = memoByObject((view: ProxmoxView) => {
  const byVmid = new Map<number, PveJobView[]>();
  for (const j of view.backupJobs) {
    for (const vmid of new Set(j.vmids)) {
      const list = byVmid.get(vmid);
      if (list) list.push(j);
      else byVmid.set(vmid, [j]);
    }
  }
  return byVmid;
});
// A derived copy (copies of copies) needs the guest's own backup first: no cover of its own.
const agentJobsByAsset = memoByObject((jobs: readonly JobView[]) =>
  groupBy(
    jobs.filter((j) => j.driver !== 'vzdump' && j.driver !== 'pbs-group' && j.role !== 'maintenance' && !j.derivedVia),
    (j) => j.asset,
  ),
);

export function coverOf(view: ProxmoxView, guest: GuestView, jobs: readonly JobView[]): GuestCover {
  const including = jobsByVmid(view).get(guest.vmid) ?? [];
  return { enabled: including.filter((j) => j.enabled), disabled: including.filter((j) => !j.enabled), agentJobs: agentJobsByAsset(jobs).get(guestAsset(guest)) ?? [] };
}

export const isCovered = (c: GuestCover): boolean => c.enabled.length > 0 || c.agentJobs.length > 0;

/** Per agent, what the overview and the metrics count. */
export interface CoverageCounts {
  agent: string;
  node: string;
  /** Guests in the coverage audit: neither templates nor excluded in agent.yaml. */
  total: number;
  /** Of those, guests with a tier (pool, tag or agent.yaml). */
  tiered: number;
  /** Of those, guests an enabled backup job covers. */
  covered: number;
  /** Templates, not counted above. */
  templates: number;
  /** Guests agent.yaml leaves out of the audit, not counted above. */
  excluded: number;
  /** Snapshots older than rules.snapshotMaxAge, and snapshots Proxmox gives no time for. */
  staleSnapshots: number;
  undatedSnapshots: number;
  /** When the collector received the agent's view. */
  updatedAt: number;
}

/** The coverage counts per agent on a Proxmox VE host, each guest counted once (see judgedGuests). */
export function coverageCounts(input: Pick<EvaluationInput, 'proxmox' | 'jobs' | 'config'>, now: number): CoverageCounts[] {
  const byAgent = new Map<string, CoverageCounts>();
  const views = [...(input.proxmox ?? [])].sort((a, b) => (a.agent < b.agent ? -1 : a.agent > b.agent ? 1 : 0));
  for (const v of views) {
    byAgent.set(v.agent, { agent: v.agent, node: v.node, total: 0, tiered: 0, covered: 0, templates: 0, excluded: 0, staleSnapshots: 0, undatedSnapshots: 0, updatedAt: v.updatedAt });
  }
  for (const { view, guest } of judgedGuests(input)) {
    const c = byAgent.get(view.agent)!;
    for (const s of guest.snapshots) {
      if (s.time === null) c.undatedSnapshots++;
      else if (now - s.time > input.config.snapshotMaxAgeMs) c.staleSnapshots++;
    }
    if (guest.template) c.templates++;
    else if (guest.excluded) c.excluded++;
    else {
      c.total++;
      if (guest.tier !== null) c.tiered++;
      if (isCovered(coverOf(view, guest, input.jobs))) c.covered++;
    }
  }
  return [...byAgent.values()];
}

/** The Proxmox name of each guest asset (`vm-100` → "web01"), for the asset rows. */
export function guestNames(input: Pick<EvaluationInput, 'proxmox'>): Map<string, string> {
  const out = new Map<string, string>();
  for (const { guest } of judgedGuests(input)) if (guest.name) out.set(guestAsset(guest), guest.name);
  return out;
}

// ---- how often a schedule runs ----

const WINDOW_FIRES = 8;
/** Schedules whose 8 fires span more than this (monthly, twice a month…) are walked for a year. */
const SHORT_WINDOW_MS = 60 * DAY_MS;
const YEAR_MS = 366 * DAY_MS;
const MAX_FIRES = 1000;

const wallFormats = new Map<string, Intl.DateTimeFormat>();

/** The local wall-clock reading of an instant, as if it were UTC (ms). */
function wallClock(ms: number, timeZone: string): number {
  let f = wallFormats.get(timeZone);
  if (!f) {
    const opts = { hourCycle: 'h23', year: 'numeric', month: 'numeric', day: 'numeric', hour: 'numeric', minute: 'numeric', second: 'numeric' } as const;
    try {
      f = new Intl.DateTimeFormat('en-US', { ...opts, timeZone });
    } catch {
      f = new Intl.DateTimeFormat('en-US', { ...opts, timeZone: 'UTC' });
    }
    wallFormats.set(timeZone, f);
  }
  const p: Record<string, number> = {};
  for (const part of f.formatToParts(new Date(ms))) if (part.type !== 'literal') p[part.type] = Number(part.value);
  return Date.UTC(p.year, p.month - 1, p.day, p.hour, p.minute, p.second) + (ms % 1000);
}

const gaps = new Map<string, number | null>();

/**
 * The largest gap between consecutive fire times of a cron schedule in `timeZone`, from the
 * start of `now`'s (UTC) day: over its next 8 fires, or a year when those span more than 60
 * days (a monthly schedule's longest month; quarterly's 8 fires already span two years).
 * Each gap is the shorter of the time that passes and the local wall clock's move, so a
 * daily 02:00 job stays 24 h apart across both DST changes: in the night the clocks go back
 * 25 h pass but the wall clock moves 24 h; in spring 02:00 does not exist, the run comes at
 * 03:00, and the wall clock moves 25 h while 24 h pass. Null when the schedule cannot be
 * parsed or fires fewer than twice.
 */
export function largestGapMs(cron: string, timeZone: string, now: number): number | null {
  const from = Math.floor(now / DAY_MS) * DAY_MS;
  const key = `${cron}\0${timeZone}\0${from}`;
  if (gaps.has(key)) return gaps.get(key)!;
  let result: number | null = null;
  try {
    const first = nextRunMs(cron, from - 1, timeZone);
    if (first !== null) {
      let prev = first;
      let prevWall = wallClock(first, timeZone);
      let largest = -1;
      for (let n = 1; n <= MAX_FIRES; n++) {
        const t = nextRunMs(cron, prev, timeZone);
        if (t === null) break;
        const wall = wallClock(t, timeZone);
        largest = Math.max(largest, Math.min(t - prev, wall - prevWall));
        prev = t;
        prevWall = wall;
        const span = t - first;
        if (n >= WINDOW_FIRES && (span <= SHORT_WINDOW_MS || span >= YEAR_MS)) break;
      }
      if (largest >= 0) result = largest;
    }
  } catch {
    result = null; // not a schedule croner reads: the job "cannot be checked"
  }
  if (gaps.size >= 1000) gaps.clear();
  gaps.set(key, result);
  return result;
}
