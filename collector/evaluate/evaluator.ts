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
  private readonly jobsVersion;
  private readonly activeAgents;
  private readonly pruneUsage;
  // The job list changes only with a hello: re-read when its version (count, newest update) moves.
  private jobRows: JobRow[] = [];
  private jobsKey = '';
  private timer?: NodeJS.Timeout;
  // Incremental state: the findings of the last pass, each job's next due time, and when the
  // last (full) pass ran. Only jobs whose agent reported since, or whose due time has come
  // (and the other jobs of their assets), are read and evaluated again.
  private findings = new Map<string, Finding>();
  private readonly recheck = new Map<string, number>();
  private lastPassAt: number | null = null;
  private lastFullAt = -Infinity;

  constructor(private readonly opts: EvaluatorOptions) {
    this.gatherer = createGatherer(opts.db);
    this.store = new IncidentStore(opts.db, { channels: opts.channels, publicUrl: opts.publicUrl });
    this.jobsVersion = opts.db.prepare<[], { n: number; updated: number | null; agents: number }>(
      `SELECT count(*) AS n, max(updated_at) AS updated, (SELECT count(*) FROM agents WHERE source <> 'removed') AS agents FROM jobs`,
    );
    this.activeAgents = opts.db.prepare<[number], { name: string }>(`SELECT name FROM agents WHERE last_seen > ?`);
    this.pruneUsage = opts.db.prepare<[number]>('DELETE FROM fs_usage WHERE at < ?');
  }

  /** One pass: incremental (due and changed jobs only) unless `full` or a full pass is due. */
  pass(now: number, full = false): PassResult {
    const started = performance.now();
    full ||= this.lastPassAt === null || now - this.lastFullAt >= (this.opts.fullEveryMs ?? 3_600_000);
    const v = this.jobsVersion.get()!;
    const key = `${v.n}|${v.updated}|${v.agents}`;
    if (key !== this.jobsKey) {
      this.jobRows = this.gatherer.listJobs();
      this.jobsKey = key;
    }
    const jobs = this.jobRows;
    const wanted = new Set<string>();
    if (full) {
      for (const j of jobs) wanted.add(jobKey(j.agent, j.job));
    } else {
      const reported = new Set(this.activeAgents.all(this.lastPassAt!).map((a) => a.name));
      const assets = new Set<string>();
      for (const j of jobs) {
        const due = this.recheck.get(jobKey(j.agent, j.job));
        if (reported.has(j.agent) || due === undefined || due <= now) assets.add(j.asset);
      }
      // Asset rules (RPO, 3-2-1) need every copy of the asset.
      for (const j of jobs) if (assets.has(j.asset)) wanted.add(jobKey(j.agent, j.job));
    }
    const isWanted = (agent: string, job: string) => wanted.has(jobKey(agent, job));
    const input = this.opts.db.transaction(() => this.gatherer.gather(this.opts.tiers, this.opts.rules, jobs, full ? undefined : isWanted))();
    const fresh = [
      ...evaluate({ ...input, jobs: input.jobs.filter((j) => isWanted(j.agent, j.job)) }, now, 'jobs'),
      ...evaluate(input, now, 'host'),
    ];
    const evaluatedAssets = new Set(input.jobs.filter((j) => isWanted(j.agent, j.job)).map((j) => j.asset));
    const existing = new Set(jobs.map((j) => jobKey(j.agent, j.job)));
    for (const [key, f] of this.findings) {
      const replaced = f.job ? isWanted(f.agent!, f.job) || !existing.has(jobKey(f.agent!, f.job)) : f.asset ? evaluatedAssets.has(f.asset) : true;
      if (replaced) this.findings.delete(key);
    }
    for (const f of fresh) this.findings.set(f.key, f);
    for (const j of input.jobs) if (isWanted(j.agent, j.job)) this.recheck.set(jobKey(j.agent, j.job), recheckAt(j, this.opts.tiers, this.opts.rules, now));
    for (const key of this.recheck.keys()) if (!existing.has(key)) this.recheck.delete(key);

    const findings = sortFindings([...this.findings.values()]);
    const plan = this.store.evaluate(findings, now, { reminderMs: this.opts.reminderMs, flapMs: this.opts.flapMs });
    this.pruneUsage.run(now - (this.opts.usageRetentionMs ?? 35 * 86_400_000));
    this.lastPassAt = now;
    if (full) this.lastFullAt = now;
    return { ...plan, findings, evaluatedJobs: wanted.size, full, ms: performance.now() - started };
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
