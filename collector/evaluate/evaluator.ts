import type { Db } from '../db';
import { groupBy } from '../group-by';
import { IncidentStore, type PlanResult } from '../incidents/store';
import type { ChannelConfig } from '../notify/routing';
import { channelFailingFindings, channelFailuresReader } from '../notify/channel-health';
import { evaluate, nextCheckAt, sortFindings } from '../rules';
import type { EvaluationInput, Finding, RulesConfig, Tier, TierPolicyView } from '../rules/types';
import { createGatherer, type JobRow } from './gather';

export interface EvaluatorOptions {
  db: Db;
  tiers: Record<Tier, TierPolicyView>;
  rules: RulesConfig;
  channels: readonly ChannelConfig[];
  publicUrl?: string;
  reminderMs: number;
  flapMs: number;
  /** How long usage samples are kept for the capacity forecast. */
  usageRetentionMs?: number;
  /** A full pass at least this often, whatever the due times say (default 1 h). */
  fullEveryMs?: number;
  /** Failed delivery attempts since a channel last delivered that make it an incident (watchdog.channelFailures; default 3). */
  channelFailures?: number;
}

export interface PassResult extends PlanResult {
  findings: Finding[];
  /** Jobs whose history was read and rules run this pass. */
  evaluatedJobs: number;
  full: boolean;
  ms: number;
}

const jobKey = (agent: string, job: string) => `${agent}\0${job}`;

// A report is stamped when received but committed later (the group commit waits up to 5 s for
// the write lock), maybe after a pass read: agents heard from within three times that before
// the previous pass count as reported again.
const REPORT_COMMIT_SLACK_MS = 15_000;

/**
 * The assets on chains of copies: the link jobs' (`source: { target }`) and those with a copy at
 * a link's source. Evaluated together, or not at all, in an incremental pass.
 */
export function chainAssets(jobs: readonly JobRow[]): Set<string> {
  const links = jobs.filter((j) => j.sourceTarget !== null && j.role !== 'maintenance');
  const sources = new Set(links.map((j) => j.sourceTarget));
  const out = new Set(links.map((j) => j.asset));
  for (const j of jobs) if (j.role !== 'maintenance' && sources.has(j.targetName)) out.add(j.asset);
  return out;
}

/**
 * One evaluation pass: gather the stored state, run the pure rules at `now`, and turn the
 * findings into incident changes and their notifications (one transaction, see IncidentStore).
 */
export class Evaluator {
  private readonly gatherer;
  private readonly store: IncidentStore;
  private readonly activeAgents;
  private readonly pruneUsage;
  private readonly channelFailures;
  private readonly dueJobs;
  private readonly storeCheckAt;
  // The job rules' findings of the last passes, by key: an incremental pass replaces those of the
  // assets it looked at. (The host rules run over every agent on every pass.)
  private findings = new Map<string, Finding>();
  // The job list of the last pass (the gatherer hands the same list until it changes), by agent and job.
  private jobs: JobRow[] = [];
  private rows = new Map<string, Map<string, JobRow>>();
  // The assets on chains of copies in the job list (see chainAssets), and the derived copies'
  // names (agent\0"link via source") seen since the last full pass: their findings are the asset's.
  private chain = new Set<string>();
  private derived = new Set<string>();
  private lastPassAt: number | null = null;
  private lastFullAt = -Infinity;

  constructor(private readonly opts: EvaluatorOptions) {
    this.gatherer = createGatherer(opts.db);
    this.store = new IncidentStore(opts.db, { channels: opts.channels, publicUrl: opts.publicUrl });
    this.activeAgents = opts.db.prepare<[number], { name: string }>(`SELECT name FROM agents WHERE last_seen > ?`);
    this.pruneUsage = opts.db.prepare<[number]>('DELETE FROM fs_usage WHERE at < ?');
    this.channelFailures = channelFailuresReader(opts.db);
    // A job never evaluated has no row: it is new since the last pass, so its agent reported
    // (its hello), and the pass looks at it for that.
    this.dueJobs = opts.db.prepare<[number], { agent: string; job: string }>(
      `SELECT a.name AS agent, d.job FROM job_deadlines d JOIN agents a ON a.id = d.agent_id WHERE d.check_at <= ?`,
    );
    // A pass hands its deadlines as one JSON array [[agentId, job, checkAt], …]. Only rows whose
    // time changed are written: most stay put from pass to pass, and rewriting every row (and its
    // index entry) was a quarter of a warm full pass.
    const upsert = opts.db.prepare<[string]>(
      `INSERT INTO job_deadlines (agent_id, job, check_at)
       SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]'), json_extract(value, '$[2]') FROM json_each(?) WHERE true
       ON CONFLICT (agent_id, job) DO UPDATE SET check_at = excluded.check_at WHERE check_at <> excluded.check_at`,
    );
    // A full pass lists every job: the other rows are jobs gone from the catalog.
    const dropOthers = opts.db.prepare<[string]>(
      `DELETE FROM job_deadlines WHERE (agent_id, job) NOT IN (SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]') FROM json_each(?))`,
    );
    this.storeCheckAt = opts.db.transaction((due: Map<JobRow, number>, full: boolean) => {
      // "Never by time alone" is stored as the largest safe time (an INTEGER column).
      const rows = JSON.stringify(Array.from(due, ([row, at]) => [row.agentId, row.job, Number.isFinite(at) ? at : Number.MAX_SAFE_INTEGER]));
      upsert.run(rows);
      if (full) dropOthers.run(rows);
    });
  }

  /** One pass: incremental (due and changed jobs only) unless `full` or a full pass is due. */
  pass(now: number, full = false): PassResult {
    const started = performance.now();
    // A clock stepped back leaves the stored deadlines ahead of it: everything is looked at again.
    full ||= this.lastPassAt === null || now < this.lastPassAt || now - this.lastFullAt >= (this.opts.fullEveryMs ?? 3_600_000);
    const jobs = this.gatherer.listJobs();
    if (jobs !== this.jobs) {
      this.jobs = jobs;
      this.rows = new Map([...groupBy(jobs, (j) => j.agent)].map(([agent, rows]) => [agent, new Map(rows.map((r) => [r.job, r]))]));
      this.chain = chainAssets(jobs);
    }
    // null: every asset (a full pass).
    const assets = full ? null : this.assetsToLookAt(jobs, now);
    const wanted = assets ? (j: { asset: string }) => assets.has(j.asset) : undefined;
    const input = this.gatherer.gather(this.opts.tiers, this.opts.rules, { rows: jobs, wanted });
    const evaluated = wanted ? input.jobs.filter(wanted) : input.jobs;
    if (full) this.derived.clear();
    for (const j of evaluated) if (j.derivedVia) this.derived.add(jobKey(j.agent, j.job));
    const fresh = evaluate({ ...input, jobs: evaluated }, now, 'jobs');
    for (const [key, f] of this.findings) if (!assets || this.replaced(f, assets)) this.findings.delete(key);
    for (const f of fresh) this.findings.set(f.key, f);
    this.storeCheckAt.immediate(this.deadlines({ ...input, jobs: evaluated }, now), full);

    const findings = sortFindings([...this.findings.values(), ...evaluate(input, now, 'host'), ...this.channelFindings(now)]);
    const plan = this.store.evaluate(findings, now, { reminderMs: this.opts.reminderMs, flapMs: this.opts.flapMs });
    this.pruneUsage.run(now - (this.opts.usageRetentionMs ?? 35 * 86_400_000));
    this.lastPassAt = now;
    if (full) this.lastFullAt = now;
    return { ...plan, findings, evaluatedJobs: wanted ? jobs.filter(wanted).length : jobs.length, full, ms: performance.now() - started };
  }

  /**
   * An incremental pass's assets: those with a job whose agent reported since the last pass or
   * whose check_at has come. Whole assets: the asset rules (RPO, 3-2-1) need every copy.
   */
  private assetsToLookAt(jobs: readonly JobRow[], now: number): Set<string> {
    const reported = new Set(this.activeAgents.all(this.lastPassAt! - REPORT_COMMIT_SLACK_MS).map((a) => a.name));
    const assets = new Set(jobs.filter((j) => reported.has(j.agent)).map((j) => j.asset));
    for (const d of this.dueJobs.all(now)) {
      const row = this.rows.get(d.agent)?.get(d.job);
      if (row) assets.add(row.asset);
    }
    // Copies of copies: an asset's derived copies are read from its own jobs and the link jobs,
    // and a link's finding names every asset with a copy at its source: all of them together.
    if ([...this.chain].some((a) => assets.has(a))) for (const a of this.chain) assets.add(a);
    return assets;
  }

  /** Whether an incremental pass that looked at these assets replaces the finding. */
  private replaced(f: Finding, assets: ReadonlySet<string>): boolean {
    // A job's goes with its job's asset, or with the job gone from the catalog. A derived
    // copy's (rpo-target) and an asset's go with the asset; any other is rerun every pass.
    if (f.job && !this.derived.has(jobKey(f.agent!, f.job))) {
      const row = this.rows.get(f.agent!)?.get(f.job);
      return !row || assets.has(row.asset);
    }
    return f.asset ? assets.has(f.asset) : true;
  }

  /**
   * Each evaluated job's check_at: the earliest time a rule's answer about it changes by time
   * alone. A derived copy (copies of copies) is looked at through its link job, on the chain.
   */
  private deadlines(input: EvaluationInput, now: number): Map<JobRow, number> {
    const out = new Map<JobRow, number>();
    for (const j of input.jobs) {
      const { agent, job } = j.derivedVia?.at(-1) ?? j;
      const row = this.rows.get(agent)?.get(job);
      if (row) out.set(row, Math.min(out.get(row) ?? Infinity, nextCheckAt(j, input, now)));
    }
    return out;
  }

  /** The collector's own failing notify channels (read from the outbox on every pass, like the host rules). */
  private channelFindings(now: number): Finding[] {
    const configured = new Set(this.opts.channels.map((c) => c.name));
    if (configured.size < 2) return []; // with one channel, nobody would hear of it
    return channelFailingFindings(this.channelFailures(now), configured, this.opts.channelFailures ?? 3);
  }
}
