import type { Db } from '../db';
import { incidentMessage } from '../notify/message';
import { route, type ChannelConfig } from '../notify/routing';
import type { NotificationMessage } from '../notify/types';
import { planIncidents, type IncidentPlan, type LifecyclePolicy } from './lifecycle';
import type { Finding, IncidentRow, Tier } from './types';

// Incidents, silences and the outbox in SQLite. An incident change and the outbox rows that
// announce it are written in one transaction: a crash leaves both or neither.

export interface StoreOptions {
  /** The `notify:` channels (see notify/config.ts); messages are routed when queued. */
  channels: readonly ChannelConfig[];
  /** Status page URL, the click target of notifications. */
  publicUrl?: string;
}

export interface EvaluatePolicy {
  reminderMs: number;
  flapMs: number;
  /** Default: the finding's own tier, else the lowest tier number among the asset's active jobs, else 1 (see `tierOfAsset`). */
  tierOf?: (finding: Finding) => Tier;
}

export interface PlanResult {
  opened: number[];
  resolved: number[];
  reminded: number[];
  /** Outbox rows written. */
  queued: number;
}

export interface IncidentFilter {
  state: 'open' | 'all';
  /** Newest first; default 500. */
  limit?: number;
}

// The incidents table's columns under IncidentRow's names, so rows need no mapping.
const INCIDENT_COLS = `id, key, rule, severity, agent, job, asset, target, tier, title, detail, opened_at AS openedAt, since,
  last_seen_failing_at AS lastSeenFailingAt, resolved_at AS resolvedAt, last_notified_at AS lastNotifiedAt, reminders,
  acked_at AS ackedAt, acked_by AS ackedBy`;

export class IncidentStore {
  private readonly channels: readonly ChannelConfig[];
  private readonly publicUrl?: string;
  private readonly failingChannel;

  constructor(
    private readonly db: Db,
    opts: StoreOptions,
  ) {
    this.channels = opts.channels;
    this.publicUrl = opts.publicUrl;
    this.failingChannel = db.prepare<[number], { target: string | null }>(`SELECT target FROM incidents WHERE id = ? AND rule = 'notify-channel-failing'`);
  }

  /**
   * One evaluation pass: reads open incidents and silences, plans, and applies the plan with
   * its notifications, all in one IMMEDIATE transaction (two passes never interleave).
   */
  evaluate(findings: readonly Finding[], now: number, policy: EvaluatePolicy): PlanResult {
    const run = this.db.transaction((): PlanResult => {
      const plan = planIncidents(this.openIncidents(), findings, now, this.lifecyclePolicy(now, policy));
      return this.applyPlanInTx(plan, now);
    });
    return run.immediate();
  }

  /** The lifecycle policy with silences and tiers read from the database at `now`. */
  lifecyclePolicy(now: number, policy: EvaluatePolicy): LifecyclePolicy {
    const mutes = this.db.prepare('SELECT asset FROM mutes WHERE until > ?').all(now) as { asset: string | null }[];
    const windows = this.db.prepare('SELECT asset FROM maintenance_windows WHERE starts_at <= ? AND ends_at > ?').all(now, now) as { asset: string | null }[];
    const covers = (rows: { asset: string | null }[]) => (asset?: string) => rows.some((r) => r.asset === null || r.asset === asset);
    return {
      reminderMs: policy.reminderMs,
      flapMs: policy.flapMs,
      muted: covers(mutes),
      inMaintenance: covers(windows),
      tierOf: policy.tierOf ?? ((f) => f.tier ?? this.tierOfAsset(f.asset)),
    };
  }

  /** The most important tier (lowest number) among the asset's active jobs; 1 when unknown, so no tier filter hides it. */
  tierOfAsset(asset?: string): Tier {
    if (asset === undefined) return 1;
    const row = this.db.prepare('SELECT MIN(tier) AS tier FROM jobs WHERE asset = ? AND active = 1').get(asset) as { tier: number | null } | undefined;
    const t = row?.tier;
    return t === 1 || t === 2 || t === 3 || t === 4 ? t : 1;
  }

  openIncidents(): IncidentRow[] {
    return this.db.prepare(`SELECT ${INCIDENT_COLS} FROM incidents WHERE resolved_at IS NULL ORDER BY id`).all() as IncidentRow[];
  }

  /** Applies a plan computed elsewhere, in one transaction. */
  applyPlan(plan: IncidentPlan, now: number): PlanResult {
    return this.db.transaction(() => this.applyPlanInTx(plan, now)).immediate();
  }

  private applyPlanInTx(plan: IncidentPlan, now: number): PlanResult {
    const result: PlanResult = { opened: [], resolved: [], reminded: [], queued: 0 };
    const insert = this.db.prepare(`
      INSERT INTO incidents (key, rule, severity, agent, job, asset, target, tier, title, detail,
        opened_at, since, last_seen_failing_at, last_notified_at, reminders)
      VALUES (@key, @rule, @severity, @agent, @job, @asset, @target, @tier, @title, @detail,
        @now, @since, @now, @notified, 0)`);
    const update = this.db.prepare(`
      UPDATE incidents SET severity = @severity, tier = @tier, title = @title, detail = @detail,
        last_seen_failing_at = @lastSeenFailingAt,
        acked_at = CASE WHEN @clearAck THEN NULL ELSE acked_at END,
        acked_by = CASE WHEN @clearAck THEN NULL ELSE acked_by END
      WHERE id = @id AND resolved_at IS NULL`);
    const resolve = this.db.prepare('UPDATE incidents SET resolved_at = ? WHERE id = ? AND resolved_at IS NULL');
    const notified = this.db.prepare('UPDATE incidents SET last_notified_at = ?, reminders = reminders + ? WHERE id = ?');
    const get = this.db.prepare(`SELECT ${INCIDENT_COLS} FROM incidents WHERE id = ?`);
    const fresh = (id: number) => get.get(id) as IncidentRow;

    for (const o of plan.open) {
      const f = o.finding;
      const info = insert.run({
        key: f.key,
        rule: f.rule,
        severity: f.severity,
        agent: f.agent ?? null,
        job: f.job ?? null,
        asset: f.asset ?? null,
        target: f.target ?? null,
        tier: o.tier,
        title: f.title,
        detail: f.detail,
        since: f.since,
        now,
        notified: o.notify ? now : null,
      });
      const id = Number(info.lastInsertRowid);
      result.opened.push(id);
      if (o.notify) result.queued += this.enqueueInTx(incidentMessage(fresh(id), 'open', now, this.opts()), now, id);
    }
    for (const u of plan.update) update.run({ ...u, clearAck: u.clearAck ? 1 : 0 });
    for (const r of plan.remind) {
      notified.run(now, r.event === 'reminder' ? 1 : 0, r.incident.id);
      result.reminded.push(r.incident.id);
      result.queued += this.enqueueInTx(incidentMessage(fresh(r.incident.id), r.event, now, this.opts()), now, r.incident.id);
    }
    for (const r of plan.resolve) {
      if (resolve.run(now, r.incident.id).changes !== 1) continue;
      result.resolved.push(r.incident.id);
      if (r.notify) result.queued += this.enqueueInTx(incidentMessage(fresh(r.incident.id), 'resolved', now, this.opts()), now, r.incident.id);
    }
    return result;
  }

  private opts() {
    return this.publicUrl ? { publicUrl: this.publicUrl } : {};
  }

  /** Queues a message (e.g. a weekly report) for every channel that routes it; returns rows written. */
  enqueue(message: NotificationMessage, now: number, incidentId: number | null = null): number {
    return this.db.transaction(() => this.enqueueInTx(message, now, incidentId))();
  }

  private enqueueInTx(message: NotificationMessage, now: number, incidentId: number | null): number {
    const stmt = this.db.prepare(`
      INSERT INTO outbox (incident_id, channel, event, payload, created_at, next_attempt_at, attempts)
      VALUES (?, ?, ?, ?, ?, ?, 0)`);
    // A failing channel's own incident goes through the other channels only.
    const failing = incidentId === null ? undefined : this.failingChannel.get(incidentId)?.target ?? undefined;
    const names = route(message, this.channels).filter((n) => n !== failing);
    const payload = JSON.stringify(message);
    for (const name of names) stmt.run(incidentId, name, message.event, payload, now, now);
    return names.length;
  }

  /** Stops reminders for an open incident until it gets worse; false if unknown or resolved. */
  acknowledge(incidentId: number, by: string, now: number): boolean {
    return this.db.prepare('UPDATE incidents SET acked_at = ?, acked_by = ? WHERE id = ? AND resolved_at IS NULL').run(now, by, incidentId).changes === 1;
  }

  /** Silences notifications for one asset (or everything when null) until `until` (exclusive). */
  mute(asset: string | null, until: number, reason: string, now: number): number {
    return Number(this.db.prepare('INSERT INTO mutes (asset, until, reason, created_at) VALUES (?, ?, ?, ?)').run(asset, until, reason, now).lastInsertRowid);
  }

  unmute(id: number): boolean {
    return this.db.prepare('DELETE FROM mutes WHERE id = ?').run(id).changes === 1;
  }

  /** A window [startsAt, endsAt) in which incidents are tracked but not notified. */
  addMaintenance(w: { startsAt: number; endsAt: number; asset?: string | null; reason?: string }): number {
    if (!(w.endsAt > w.startsAt)) throw new RangeError('a maintenance window must end after it starts');
    return Number(
      this.db.prepare('INSERT INTO maintenance_windows (starts_at, ends_at, asset, reason) VALUES (?, ?, ?, ?)').run(w.startsAt, w.endsAt, w.asset ?? null, w.reason ?? '').lastInsertRowid,
    );
  }

  listIncidents(filter: IncidentFilter = { state: 'open' }): IncidentRow[] {
    const where = filter.state === 'open' ? 'WHERE resolved_at IS NULL' : '';
    return this.db.prepare(`SELECT ${INCIDENT_COLS} FROM incidents ${where} ORDER BY opened_at DESC, id DESC LIMIT ?`).all(filter.limit ?? 500) as IncidentRow[];
  }

  getIncident(id: number): IncidentRow | undefined {
    return this.db.prepare(`SELECT ${INCIDENT_COLS} FROM incidents WHERE id = ?`).get(id) as IncidentRow | undefined;
  }
}
