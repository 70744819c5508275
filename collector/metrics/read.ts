import { VERSION } from '../../shared/version';
import { rulesConfig, tierPolicies } from '../config';
import type { AppContext } from '../context';
import { createGatherer } from '../evaluate/gather';
import type { JobView, RunOperation, RunView, Severity } from '../rules/types';
import { isGood } from '../rules/util';
import type { MetricsInput } from './snapshot';

/** Reads what the metrics show, in one read transaction so the families agree with each other. */
export function createMetricsReader({ config, db }: AppContext): () => MetricsInput {
  const gatherer = createGatherer(db);
  const tiers = tierPolicies(config);
  const rules = rulesConfig(config);
  const incidents = db.prepare<[], { severity: Severity; n: number }>(
    'SELECT severity, count(*) AS n FROM incidents WHERE resolved_at IS NULL GROUP BY severity',
  );
  const lastGoodRun = db.prepare<[string, string, RunOperation], { at: number | null }>(
    `SELECT max(r.finished_at) AS at FROM runs r JOIN agents a ON a.id = r.agent_id
     WHERE a.name = ? AND r.job = ? AND r.operation = ? AND r.status IN ('success', 'warning')`,
  );
  // The gathered views carry the newest verify and drill: when that one succeeded it is the
  // last success; only after a failure is the older success looked up (one index seek).
  const lastGood = (j: JobView, op: RunOperation, newest: RunView | null): number | null => {
    if (!newest) return null;
    if (isGood(newest)) return newest.finishedAt;
    return lastGoodRun.get(j.agent, j.job, op)?.at ?? null;
  };
  return db.transaction((): MetricsInput => {
    const evaluation = gatherer.gather(tiers, rules);
    return {
      evaluation,
      openIncidents: Object.fromEntries(incidents.all().map((r) => [r.severity, r.n])),
      lastGood: evaluation.jobs
        .map((j) => ({ agent: j.agent, job: j.job, verify: lastGood(j, 'verify', j.lastVerify), restoreTest: lastGood(j, 'restore-test', j.lastRestoreTest) }))
        .filter((g) => g.verify !== null || g.restoreTest !== null),
      version: VERSION,
    };
  });
}
