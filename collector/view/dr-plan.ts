import type { Tier } from '../rules/types';
import { humanDuration, isGood } from '../rules/util';
import { assetDetailView, type AssetDetailView, type AssetInput, type CopyRow } from './asset';

// "If this host died now": the disaster-recovery plan of one agent's host, generated from facts.
// Every asset backed up from the host, in the order the seeds' DR procedure restores them: the
// hypervisor host first, then tier by tier (tier 1 first) the guests, the databases and the
// application data, then verify. For each its newest good off-site copy against the RPO, the
// restore commands of that copy's runbook in the order they run (a copy of a copy: the outermost
// copy first, as view/chain.ts orders them), the time its restore drills measured against the
// RTO, and every gap in the plan. Pure: the asset views come from view/asset.ts, the same as the asset page's.

export type Phase = 'host' | 'guest' | 'database' | 'data';

/** What one asset's plan is written from: its asset page's view (copies, runbooks, drills). */
export type DrAssetFacts = Pick<AssetDetailView, 'asset' | 'guestName' | 'tier' | 'rpoMs' | 'rtoMs' | 'copies' | 'runbooks' | 'drills'>;

export interface DrPlanInput {
  agent: string;
  hostname: string | null;
  assets: readonly DrAssetFacts[];
}

export interface DrRestoreStep {
  title: string;
  /** Shell commands in order, each copy-pasteable as it is. */
  commands: string[];
  notes: string[];
  /** What the newest successful restore drill of this step took; null: none measured. */
  expectedMs: number | null;
}

export interface DrAssetPlan {
  /** Its place in the plan, from 1. */
  step: number;
  phase: Phase;
  asset: string;
  guestName: string | null;
  tier: Tier;
  rpoMs: number;
  rtoMs: number;
  /** The copy to restore from: the newest good off-site one, else (a gap) the newest good one anywhere; null when none. */
  copy: {
    agent: string;
    job: string;
    target: CopyRow['target'];
    at: string;
    ageMs: number;
    rpoOk: boolean;
    /** A copy of a copy: the chain it came through. */
    chain: string | null;
  } | null;
  /** The restores, in the order they must run. */
  restore: DrRestoreStep[];
  /** The steps' measured times added up; null when a step has no drill. */
  expectedMs: number | null;
  rtoOk: boolean | null;
  /** What is missing for this asset's plan to hold; empty: none. */
  gaps: string[];
}

export interface DrPlan {
  agent: string;
  hostname: string | null;
  generatedAt: string;
  assets: DrAssetPlan[];
  /** Assets whose plan has a gap. */
  withGaps: number;
  /** All restores one after another, from measured drills; null when one is unmeasured. */
  expectedMs: number | null;
  /** The last step: what to check once everything is back. */
  verify: string[];
}

const PHASES: readonly Phase[] = ['host', 'guest', 'database', 'data'];
export const PHASE_TEXT: Record<Phase, string> = {
  host: 'the hypervisor host',
  guest: 'a virtual machine or container',
  database: 'a database',
  data: 'application data',
};
const GUEST_DRIVERS = new Set(['vzdump', 'pbs-group']);
const DATABASE_DRIVERS = new Set(['postgres', 'mysql', 'mongodb']);

/** Where in the DR procedure an asset is restored, from its name and its copies' drivers. */
export function phaseOf(a: Pick<DrAssetFacts, 'asset' | 'guestName' | 'copies'>, agent: string, hostname: string | null): Phase {
  const names = new Set([agent, hostname, hostname?.split('.')[0]].filter((n): n is string => !!n));
  if (names.has(a.asset)) return 'host';
  if (a.guestName !== null || /^(vm|ct)-\d+$/.test(a.asset) || a.copies.some((c) => GUEST_DRIVERS.has(c.driver))) return 'guest';
  if (a.copies.some((c) => DATABASE_DRIVERS.has(c.driver))) return 'database';
  return 'data';
}

/** The host itself comes first whatever its tier: everything else runs on it. */
const rank = (p: { phase: Phase }) => (p.phase === 'host' ? 0 : 1);

export function drPlanView(input: DrPlanInput, now: number): DrPlan {
  const plans = input.assets
    .map((a) => ({ a, phase: phaseOf(a, input.agent, input.hostname) }))
    .sort((x, y) => rank(x) - rank(y) || x.a.tier - y.a.tier || PHASES.indexOf(x.phase) - PHASES.indexOf(y.phase) || (x.a.asset < y.a.asset ? -1 : x.a.asset > y.a.asset ? 1 : 0))
    .map(({ a, phase }, i) => assetPlan(a, phase, i + 1, now));
  const known = plans.every((p) => p.expectedMs !== null);
  return {
    agent: input.agent,
    hostname: input.hostname,
    generatedAt: new Date(now).toISOString(),
    assets: plans,
    withGaps: plans.filter((p) => p.gaps.length > 0).length,
    expectedMs: known ? plans.reduce((n, p) => n + (p.expectedMs as number), 0) : null,
    verify: [
      'Start each restored guest and service; check that it answers as its users expect (log in, open the application, query the database).',
      "Compare each asset's restored data with the copy time listed above: anything newer is lost and must be redone by hand.",
      'Check network, DNS and certificates point at the restored host.',
      'Run every backup job once by hand (lifeline-agent run JOB on each host) so fresh copies exist before anything else changes.',
    ],
  };
}

function assetPlan(a: DrAssetFacts, phase: Phase, step: number, now: number): DrAssetPlan {
  const good = a.copies.filter((c) => !c.serverJob && c.lastSuccessAt !== null).sort((x, y) => Date.parse(y.lastSuccessAt!) - Date.parse(x.lastSuccessAt!));
  const offsite = good.find((c) => c.target.location === 'offsite');
  const chosen = offsite ?? good[0] ?? null;
  const gaps: string[] = [];
  let copy: DrAssetPlan['copy'] = null;
  if (!chosen) gaps.push('no good copy at all');
  else {
    const at = Date.parse(chosen.lastSuccessAt!);
    const ageMs = Math.max(0, now - at);
    copy = { agent: chosen.agent, job: chosen.job, target: chosen.target, at: chosen.lastSuccessAt!, ageMs, rpoOk: ageMs <= a.rpoMs, chain: chosen.chain?.text ?? null };
    if (!offsite) gaps.push(`no off-site copy: the newest is at ${chosen.target.name} (on-site), lost if the site is`);
    if (!copy.rpoOk) gaps.push(`the ${offsite ? 'off-site ' : ''}copy is ${humanDuration(ageMs)} old, beyond the ${humanDuration(a.rpoMs)} RPO`);
  }
  const book = chosen ? a.runbooks.find((r) => r.agent === chosen.agent && r.job === chosen.job && r.target === chosen.target.name) : undefined;
  const drills = chosen ? a.drills.filter((d) => d.agent === chosen.agent && d.job === chosen.job) : [];
  const measured = drills.find((d) => isGood(d) && d.durationMs !== null);
  const restore: DrRestoreStep[] = !book
    ? []
    : book.steps
      ? book.steps.map((s) => ({ title: s.title, commands: s.commands, notes: s.notes, expectedMs: s.expectedMs }))
      : [{ title: book.title, commands: book.commands, notes: book.notes, expectedMs: measured?.durationMs ?? null }];
  const expectedMs = restore.length && restore.every((s) => s.expectedMs !== null) ? restore.reduce((n, s) => n + (s.expectedMs as number), 0) : null;
  const rtoOk = expectedMs === null ? null : expectedMs <= a.rtoMs;
  if (chosen) {
    if (restore.every((s) => s.commands.length === 0)) gaps.push('no restore command could be written for this copy (see the notes)');
    if (drills[0] && !isGood(drills[0])) gaps.push(`its newest restore drill ended ${drills[0].status}`);
    if (expectedMs === null) gaps.push(restore.length > 1 ? 'not every step of the chain has a restore drill: the time is unknown' : 'no restore drill of this copy yet: the time is unknown');
    else if (!rtoOk) gaps.push(`the restore drills took ${humanDuration(expectedMs)}, beyond the ${humanDuration(a.rtoMs)} RTO`);
  }
  return { step, phase, asset: a.asset, guestName: a.guestName, tier: a.tier, rpoMs: a.rpoMs, rtoMs: a.rtoMs, copy, restore, expectedMs, rtoOk, gaps };
}

/** The plan of one host from the asset inputs source.ts reads (each asset as its page sees it). */
export function drPlanFor(host: { agent: string; hostname: string | null; assets: readonly AssetInput[] }, now: number): DrPlan {
  const assets = host.assets.flatMap((input) => {
    const v = assetDetailView(input, now);
    return v && !v.serverJobsOnly ? [v] : [];
  });
  return drPlanView({ agent: host.agent, hostname: host.hostname, assets }, now);
}
