import { severityFor } from './severity';
import { projectedFullAt } from './trend';
import type { EvaluationInput, Finding } from './types';
import { agentTier, DAY_MS, findingKey, humanBytes, localDateTime } from './util';

/**
 * 'capacity': a filesystem at or above its threshold (capacityPctByTarget["agent:mount"], then
 * ["mount"], then capacityPct). 'capacity-forecast': the least-squares line through its usage
 * history (plus the current usage, at now) reaches the size within fullWithinDays.
 */
export function capacity(input: EvaluationInput, now: number): Finding[] {
  const { capacityPct, capacityPctByTarget = {}, fullWithinDays } = input.config;
  const out: Finding[] = [];
  for (const a of input.agents) {
    const tier = agentTier(input, a.agent);
    for (const fs of a.filesystems) {
      if (fs.sizeBytes <= 0) continue;
      const threshold = capacityPctByTarget[`${a.agent}:${fs.mount}`] ?? capacityPctByTarget[fs.mount] ?? capacityPct;
      const pct = (fs.usedBytes / fs.sizeBytes) * 100;
      const usage = `${humanBytes(fs.usedBytes)} of ${humanBytes(fs.sizeBytes)} used (${pct.toFixed(1)}%)`;
      if (pct >= threshold) {
        out.push({
          key: findingKey('capacity', a.agent, fs.mount),
          rule: 'capacity',
          severity: severityFor('capacity', tier),
          agent: a.agent,
          target: fs.mount,
          title: `${fs.mount} on ${a.agent} is ${Math.floor(pct * 10) / 10}% full`,
          detail: `${usage}, threshold ${threshold}%. Check retention/prune for backups stored there, or add space.`,
          since: latestCrossing(fs.history, fs.sizeBytes, threshold) ?? now,
        });
      }
      const samples = [...fs.history.filter((h) => h.at < now), { at: now, usedBytes: fs.usedBytes }];
      const fullAt = projectedFullAt(samples, fs.sizeBytes);
      if (fullAt !== null && fullAt - now <= fullWithinDays * DAY_MS) {
        out.push({
          key: findingKey('capacity-forecast', a.agent, fs.mount),
          rule: 'capacity-forecast',
          severity: severityFor('capacity-forecast', tier),
          agent: a.agent,
          target: fs.mount,
          title: `${fs.mount} on ${a.agent} will be full ${fullAt <= now ? 'now' : `in ${Math.max(0, Math.floor((fullAt - now) / DAY_MS))} days`}`,
          detail: `${usage}; at the current growth it is projected full around ${localDateTime(Math.max(fullAt, now))} (within ${fullWithinDays} days). Check what is growing, and retention.`,
          since: now,
        });
      }
    }
  }
  return out;
}

/** The first sample of the current run of samples at or above the threshold, if any. */
export function latestCrossing(history: readonly { at: number; usedBytes: number }[], size: number, threshold: number): number | null {
  const sorted = [...history].sort((x, y) => x.at - y.at);
  let since: number | null = null;
  for (const h of sorted) since = (h.usedBytes / size) * 100 >= threshold ? (since ?? h.at) : null;
  return since;
}
