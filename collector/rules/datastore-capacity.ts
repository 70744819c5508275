import { latestCrossing } from './capacity';
import { severityFor } from './severity';
import { projectedFullAt } from './trend';
import type { DatastoreView, EvaluationInput, Finding, RuleName, Tier } from './types';
import { agentTier, DAY_MS, findingKey, humanBytes, isCopyJob, localDateTime } from './util';

/**
 * A Proxmox Backup Server datastore, from its agent's newest 'pbs' message:
 * - 'capacity': at or above its threshold (capacityPctByTarget["agent:store"], then ["store"],
 *   then [its target's name], then capacityPct);
 * - 'capacity-forecast': PBS's own estimate (estimated-full-date) within fullWithinDays, exactly
 *   fullWithinDays still within. An estimate in the past means PBS sees usage flat or declining:
 *   nothing. Without an estimate (too little history), the collector's own least-squares line
 *   through the usage samples, as for filesystems;
 * - 'datastore-unavailable': PBS reports an error for it (unmounted, unreadable).
 * Findings are scaled by the most critical tier of the copies stored at its target.
 */
export function datastoreCapacity(input: EvaluationInput, now: number): Finding[] {
  const { capacityPct, capacityPctByTarget = {}, fullWithinDays } = input.config;
  const tiers = targetTiers(input);
  const out: Finding[] = [];
  for (const view of input.pbs ?? []) {
    for (const ds of view.datastores) {
      const tier = tiers.get(ds.target) ?? agentTier(input, view.agent);
      const finding = (rule: RuleName, title: string, detail: string, since: number): Finding => ({
        key: findingKey(rule, view.agent, `datastore ${ds.name}`),
        rule,
        severity: severityFor(rule, tier),
        agent: view.agent,
        target: ds.target,
        title,
        detail,
        since,
        tier,
      });
      const label = `datastore ${ds.name} on ${view.agent}`;
      if (ds.error !== null) {
        out.push(
          finding(
            'datastore-unavailable',
            `PBS cannot read ${label}`,
            `Proxmox Backup Server reports: ${ds.error}. Backups to ${ds.target} fail and its snapshots cannot be listed or restored until it is back: ` +
              `check its disk or mount (proxmox-backup-manager datastore list, or the datastore's summary in the PBS web interface).`,
            view.updatedAt,
          ),
        );
      }
      const { totalBytes: size, usedBytes: used } = ds;
      if (size === null || used === null || size <= 0) continue;
      const threshold = capacityPctByTarget[`${view.agent}:${ds.name}`] ?? capacityPctByTarget[ds.name] ?? capacityPctByTarget[ds.target] ?? capacityPct;
      const pct = (used / size) * 100;
      const usage = `${humanBytes(used)} of ${humanBytes(size)} used (${pct.toFixed(1)}%)`;
      if (pct >= threshold) {
        out.push(
          finding(
            'capacity',
            `${label} is ${Math.floor(pct * 10) / 10}% full`,
            `${usage}, threshold ${threshold}%. Check the prune jobs and keep-* settings of ${ds.name}, and that garbage collection runs (pruned chunks are only freed by it), or add space.`,
            latestCrossing(ds.history, size, threshold) ?? now,
          ),
        );
      }
      const forecast = forecastOf(ds, now);
      if (forecast && forecast.fullAt - now <= fullWithinDays * DAY_MS) {
        const days = Math.max(0, Math.floor((forecast.fullAt - now) / DAY_MS));
        const by = forecast.byPbs ? " (PBS's estimate)" : '';
        out.push(
          finding(
            'capacity-forecast',
            `${label} will be full ${forecast.fullAt <= now ? 'now' : `in ${days} days`}${by}`,
            `${usage}; ${forecast.byPbs ? 'Proxmox Backup Server projects it' : 'at the current growth it is projected'} full around ${localDateTime(Math.max(forecast.fullAt, now))} ` +
              `(within ${fullWithinDays} days). Check what is growing, the prune jobs and garbage collection of ${ds.name}.`,
            now,
          ),
        );
      }
    }
  }
  return out;
}

/** PBS's estimate when it gives one (a past one: not filling up, no forecast), else the collector's own. */
function forecastOf(ds: DatastoreView, now: number): { fullAt: number; byPbs: boolean } | null {
  if (ds.estimatedFullAt !== null) return ds.estimatedFullAt > now ? { fullAt: ds.estimatedFullAt, byPbs: true } : null;
  const samples = [...ds.history.filter((h) => h.at < now), { at: now, usedBytes: ds.usedBytes! }];
  const fullAt = projectedFullAt(samples, ds.totalBytes!);
  return fullAt === null ? null : { fullAt, byPbs: false };
}

/** The most critical tier among the copy jobs of each target name. */
function targetTiers(input: EvaluationInput): Map<string, Tier> {
  const out = new Map<string, Tier>();
  if (!input.pbs?.length) return out;
  for (const j of input.jobs) if (isCopyJob(j) && j.tier < (out.get(j.target.name) ?? 5)) out.set(j.target.name, j.tier);
  return out;
}
