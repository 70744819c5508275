import type { CollectorConfig } from './config';
import { rulesConfig, tierPolicies } from './config';
import type { Db } from './db';
import { createGatherer } from './evaluate/gather';
import { memoByObject } from './memo';
import type { InventoryView, JobView, PbsView, RunView } from './rules/types';

// GET /api/v1/status: every job's newest runs and inventory summary, the agents, the open
// incidents and the PBS datastores. Every time is ISO 8601 UTC; the types are what the
// shaping below returns (README, "HTTP API", lists the fields).

export type StatusReport = ReturnType<ReturnType<typeof createStatusReader>>;
export type StatusIncident = StatusReport['incidents'][number];

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

type IncidentRow = { id: number; rule: string; severity: string; agent: string | null; job: string | null; asset: string | null; target: string | null; title: string; detail: string; since: number; openedAt: number; ackedAt: number | null };

/**
 * The jobs come from the gatherer the evaluator, the page and the metrics read (one read model:
 * its cache re-reads only the jobs that changed); the rest is this API's own shaping.
 */
export function createStatusReader(db: Db, config: CollectorConfig) {
  const gatherer = createGatherer(db);
  const tiers = tierPolicies(config);
  const rules = rulesConfig(config);
  const agents = db.prepare<[], { name: string; lastSeen: number | null; version: string | null; hostname: string | null; source: string }>(
    `SELECT name, last_seen AS lastSeen, version, hostname, source FROM agents WHERE source <> 'removed' ORDER BY name`,
  );
  const openIncidents = db.prepare<[], IncidentRow>(
    `SELECT id, rule, severity, agent, job, asset, target, title, detail, since, opened_at AS openedAt, acked_at AS ackedAt
     FROM incidents WHERE resolved_at IS NULL
     ORDER BY CASE severity WHEN 'critical' THEN 0 WHEN 'warning' THEN 1 ELSE 2 END, opened_at`,
  );
  // A listing is summarized once per parsed inventory (the gatherer hands the same object until it changes).
  const summaryOf = memoByObject(summarize);
  const job = (j: JobView) => ({
    agent: j.agent,
    name: j.job,
    asset: j.asset,
    tier: j.tier,
    driver: j.driver,
    // 'maintenance': a server job keeping a target healthy (PBS GC, verify, prune, sync), no copy.
    role: j.role ?? 'backup',
    target: { ...j.target },
    // Copies of copies: the target whose content the job copies; absent for a direct backup.
    ...(j.sourceTarget !== undefined ? { source: { target: j.sourceTarget } } : {}),
    schedule: j.schedule,
    lastRun: j.lastBackup && lastRun(j.lastBackup),
    lastPrune: j.lastPrune && operation(j.lastPrune),
    lastVerify: j.lastVerify && operation(j.lastVerify),
    lastRestoreTest: j.lastRestoreTest && operation(j.lastRestoreTest),
    inventory: j.inventory && summaryOf(j.inventory),
  });

  return (now: number) =>
    db.transaction(() => {
      const input = gatherer.gather(tiers, rules);
      // Jobs as their agents declared them: copies of copies are the asset page's, not rows here.
      const jobs = input.jobs
        .filter((j) => !j.derivedVia)
        .sort((a, b) => (a.agent < b.agent ? -1 : a.agent > b.agent ? 1 : a.job < b.job ? -1 : a.job > b.job ? 1 : 0));
      return {
        generatedAt: new Date(now).toISOString(),
        agents: agents.all().map((a) => ({ ...a, lastSeen: iso(a.lastSeen) })),
        jobs: jobs.map(job),
        incidents: openIncidents
          .all()
          .map(({ since, openedAt, ackedAt, ...i }) => ({ ...i, since: iso(since)!, openedAt: iso(openedAt)!, acknowledged: ackedAt !== null })),
        datastores: (input.pbs ?? []).flatMap(datastores),
      };
    })();
}

// hasLog: GET /api/v1/runs/:runId/log returns the log tail (kept out of here, it is the bulk).
const lastRun = (r: RunView) => ({
  runId: r.runId,
  status: r.status,
  startedAt: iso(r.startedAt)!,
  finishedAt: iso(r.finishedAt),
  exitCode: r.exitCode ?? null,
  durationMs: r.durationMs,
  bytesAdded: r.bytesAdded,
  bytesTotal: r.bytesTotal,
  files: r.files ?? null,
  snapshotId: r.snapshotId ?? null,
  hasLog: r.hasLog ?? false,
});

/** The newest run of another operation: the tool's prune, integrity check, restore drill. */
const operation = (r: RunView) => ({
  status: r.status,
  startedAt: iso(r.startedAt)!,
  finishedAt: iso(r.finishedAt),
  durationMs: r.durationMs,
  files: r.files ?? null,
  bytesTotal: r.bytesTotal,
  error: r.error,
});

/** What the tool listed at the target after the last backup or prune; by last verification when the tool says (PBS). */
function summarize(inv: InventoryView) {
  let newest = -Infinity;
  let oldest = Infinity;
  let count = 0;
  const states = { ok: 0, failed: 0, unverified: 0 };
  const verified = inv.verified();
  inv.times.forEach((t, i) => {
    if (!Number.isFinite(t)) return;
    count++;
    if (t > newest) newest = t;
    if (t < oldest) oldest = t;
    const state = verified?.[i] ?? null;
    if (state === 'ok') states.ok++;
    else if (state === 'failed') states.failed++;
    else states.unverified++;
  });
  return {
    snapshots: count, newest: count ? iso(newest) : null, oldest: count ? iso(oldest) : null, updatedAt: iso(inv.updatedAt)!,
    ...(states.ok + states.failed > 0 ? { verification: states } : {}),
  };
}

/** One PBS agent's datastores as the rules read them (without the usage samples), times as ISO; updatedAt: when the collector received them. */
const datastores = (p: PbsView) =>
  p.datastores.map(({ history: _samples, ...d }) => ({
    agent: p.agent,
    ...d,
    // PBS's own estimate of when it is full; null when it has none.
    estimatedFullAt: iso(d.estimatedFullAt),
    gc: d.gc && { ...d.gc, startedAt: iso(d.gc.startedAt) },
    updatedAt: iso(p.updatedAt)!,
  }));
