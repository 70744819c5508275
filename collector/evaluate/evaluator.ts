import type { Db } from '../db';
import { IncidentStore, type PlanResult } from '../incidents/store';
import type { ChannelConfig } from '../notify/routing';
import { evaluate } from '../rules';
import type { Finding, RulesConfig, Tier, TierPolicyView } from '../rules/types';
import { createGatherer } from './gather';

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
}

export interface PassResult extends PlanResult {
  findings: Finding[];
  ms: number;
}

/**
 * One evaluation pass: gather the stored state, run the pure rules at `now`, and turn the
 * findings into incident changes and their notifications (one transaction, see IncidentStore).
 */
export class Evaluator {
  private readonly gather;
  private readonly store: IncidentStore;
  private timer?: NodeJS.Timeout;

  constructor(private readonly opts: EvaluatorOptions) {
    this.gather = createGatherer(opts.db);
    this.store = new IncidentStore(opts.db, { channels: opts.channels, publicUrl: opts.publicUrl });
  }

  pass(now: number): PassResult {
    const started = performance.now();
    const findings = evaluate(this.gather(this.opts.tiers, this.opts.rules), now);
    const plan = this.store.evaluate(findings, now, { reminderMs: this.opts.reminderMs, flapMs: this.opts.flapMs });
    this.opts.db.prepare('DELETE FROM fs_usage WHERE at < ?').run(now - (this.opts.usageRetentionMs ?? 35 * 86_400_000));
    return { ...plan, findings, ms: performance.now() - started };
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
