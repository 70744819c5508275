import type { Db } from '../db';
import { IncidentStore, type PlanResult } from '../incidents/store';
import type { ChannelConfig } from '../notify/routing';
import { evaluate, sortFindings } from '../rules';
import type { Finding, RulesConfig, Tier, TierPolicyView } from '../rules/types';
import { createGatherer, type JobRow } from './gather';
import { recheckAt } from './recheck';

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
}

export interface PassResult extends PlanResult {
  findings: Finding[];
  /** Jobs whose history was read and rules run this pass. */
  evaluatedJobs: number;
  full: boolean;
  ms: number;
}

const jobKey = (agent: string, job: string) => `${agent}\0${job}`;

/**
 * One evaluation pass: gather the stored state, run the pure rules at `now`, and turn the
 * findings into incident changes and their notifications (one transaction, see IncidentStore).
 */
export class Evaluator {
  private readonly gatherer;
  private readonly store: IncidentStore;
  private readonly activeAgents;
  private readonly pruneUsage;
  private timer?: NodeJS.Timeout;
  // Incremental state: the findings of the last pass, each job's next due time, and when the
  // last (full) pass ran. Only jobs whose agent reported since, or whose due time has come
  // (and the other jobs of their assets), are read and evaluated again.
  private findings = new Map<string, Finding>();
  // The host rules' findings (every agent, its Proxmox view) run on every pass: replaced whole.
  private hostFindings: Finding[] = [];
  private readonly recheck = new Map<string, number>();
  // The job list of the last pass and each row's key (the gatherer hands the same list until it changes).
  private jobs: JobRow[] = [];
  private keys = new Map<JobRow, string>();
  private existing = new Set<string>();
  private lastPassAt: number | null = null;
  private lastFullAt = -Infinity;

  constructor(private readonly opts: EvaluatorOptions) {
    this.gatherer = createGatherer(opts.db);
    this.store = new IncidentStore(opts.db, { channels: opts.channels, publicUrl: opts.publicUrl });
    this.activeAgents = opts.db.prepare<[number], { name: string }>(`SELECT name FROM agents WHERE last_seen > ?`);
    this.pruneUsage = opts.db.prepare<[number]>('DELETE FROM fs_usage WHERE at < ?');
  }

  /** One pass: incremental (due and changed jobs only) unless `full` or a full pass is due. */
  pass(now: number, full = false): PassResult {
    const started = performance.now();
    full ||= this.lastPassAt === null || now - this.lastFullAt >= (this.opts.fullEveryMs ?? 3_600_000);
    const jobs = this.gatherer.listJobs();
    const listChanged = jobs !== this.jobs;
    if (listChanged) {
      this.jobs = jobs;
      this.keys = new Map(jobs.map((j) => [j, jobKey(j.agent, j.job)]));
      this.existing = new Set(this.keys.values());
    }
    const existing = this.existing;
    const keys = this.keys;
    let wanted: JobRow[] = jobs;
    if (!full) {
      const reported = new Set(this.activeAgents.all(this.lastPassAt!).map((a) => a.name));
      const assets = new Set<string>();
      for (const j of jobs) {
        const due = this.recheck.get(keys.get(j)!);
        if (reported.has(j.agent) || due === undefined || due <= now) assets.add(j.asset);
      }
      // Asset rules (RPO, 3-2-1) need every copy of the asset.
      wanted = jobs.filter((j) => assets.has(j.asset));
    }
    const byAgent = new Map<string, Set<string>>();
    for (const j of wanted) {
      const set = byAgent.get(j.agent);
      if (set) set.add(j.job);
      else byAgent.set(j.agent, new Set([j.job]));
    }
    const isWanted = (agent: string, job: string) => byAgent.get(agent)?.has(job) ?? false;
    const input = this.gatherer.gather(this.opts.tiers, this.opts.rules, jobs, full ? undefined : isWanted);
    const evaluated = full ? input.jobs : input.jobs.filter((j) => isWanted(j.agent, j.job));
    const fresh = evaluate({ ...input, jobs: evaluated }, now, 'jobs');
    this.hostFindings = evaluate(input, now, 'host');
    const evaluatedAssets = new Set(evaluated.map((j) => j.asset));
    for (const [key, f] of this.findings) {
      const replaced = f.job ? isWanted(f.agent!, f.job) || !existing.has(jobKey(f.agent!, f.job)) : f.asset ? evaluatedAssets.has(f.asset) : true;
      if (replaced) this.findings.delete(key);
    }
    for (const f of fresh) this.findings.set(f.key, f);
    for (const j of evaluated) this.recheck.set(jobKey(j.agent, j.job), recheckAt(j, this.opts.tiers, this.opts.rules, now));
    if (listChanged) for (const key of this.recheck.keys()) if (!existing.has(key)) this.recheck.delete(key);

    const findings = sortFindings([...this.findings.values(), ...this.hostFindings]);
    const plan = this.store.evaluate(findings, now, { reminderMs: this.opts.reminderMs, flapMs: this.opts.flapMs });
    this.pruneUsage.run(now - (this.opts.usageRetentionMs ?? 35 * 86_400_000));
    this.lastPassAt = now;
    if (full) this.lastFullAt = now;
    return { ...plan, findings, evaluatedJobs: wanted.length, full, ms: performance.now() - started };
  }

  /** Evaluates every `everyMs` (timer unref'd, so it never keeps the process alive). */
  start(everyMs: number, clock: () => number, onQueued: () => void, onError: (err: unknown) => void): void {
    const tick = () => {
      try {
        if (this.pass(clock()).queued > 0) onQueued();
      } catch (err) {
        onError(err);
      }
    };
    tick();
    this.timer = setInterval(tick, everyMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }
}
