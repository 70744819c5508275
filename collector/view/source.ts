import { visibleText } from '../../shared/display-text';
import { CHECKS_AGENT } from '../checks/store';
import type { CollectorConfig } from '../config';
import { rulesConfig, tierPolicies } from '../config';
import type { Db } from '../db';
import { createGatherer, HAS_LOG } from '../evaluate/gather';
import { IncidentStore } from '../incidents/store';
import type { AssetInput, HistoryRun, JobFacts } from './asset';
import type { IncidentsInput, MuteRow } from './incidents';
import type { AgentIdentity, OverviewInput } from './overview';

// Reads what the views need from SQLite; the views themselves are pure (see view/*.ts).
// The rules' input comes from the evaluator's gatherer, so the page judges what alerts judge.

/** Runs read per job for the asset page: ~90 days of daily backups, and the newest checks. */
const HISTORY = { backup: 120, verify: 20, 'restore-test': 20 } as const;
const RESOLVED_SHOWN = 100;
const RESOLVED_WITHIN_MS = 7 * 86_400_000;

export interface RunLog {
  agent: string;
  job: string;
  runId: string;
  operation: string;
  status: string;
  error: string | null;
  logTail: string | null;
}

export function createViewSource(db: Db, config: CollectorConfig) {
  const gatherer = createGatherer(db);
  const tiers = tierPolicies(config);
  const rules = rulesConfig(config);
  const store = new IncidentStore(db, { channels: [] });
  const agents = db.prepare<[], AgentIdentity>(`SELECT name, hostname, version FROM agents WHERE source <> 'removed' ORDER BY name`);
  const facts = db.prepare<[string], { agent: string; job: string; restore: string | null }>(
    `SELECT a.name AS agent, j.name AS job, j.restore FROM jobs j JOIN agents a ON a.id = j.agent_id
     WHERE (j.asset = ? OR j.source_target IS NOT NULL) AND j.active = 1 AND a.source <> 'removed'`,
  );
  const cols = `run_id AS runId, operation, status, started_at AS startedAt, finished_at AS finishedAt, duration_ms AS durationMs,
                bytes_added AS bytesAdded, bytes_total AS bytesTotal, exit_code AS exitCode, snapshot_id AS snapshotId, error,
                trigger, scheduled_for AS scheduledFor, attempt, retry_at AS retryAt, clock_ahead_ms AS clockAheadMs,
                ${HAS_LOG} AS hasLog`;
  // One index seek per operation (runs_by_job), newest first within each.
  const history = db.prepare<[{ agentId: number; job: string }], Omit<HistoryRun, 'agent' | 'job' | 'hasLog'> & { hasLog: number }>(
    Object.entries(HISTORY)
      .map(([op, n]) => `SELECT * FROM (SELECT ${cols} FROM runs WHERE agent_id = @agentId AND job = @job AND operation = '${op}' ORDER BY started_at DESC LIMIT ${n})`)
      .join(' UNION ALL '),
  );
  const mutes = db.prepare<[number], MuteRow>('SELECT id, asset, until, reason FROM mutes WHERE until > ? ORDER BY until');
  const log = db.prepare<[string], RunLog>(
    `SELECT a.name AS agent, r.job, r.run_id AS runId, r.operation, r.status, r.error, r.log_tail AS logTail
     FROM runs r JOIN agents a ON a.id = r.agent_id WHERE r.run_id = ? LIMIT 1`,
  );

  return {
    overview(): OverviewInput {
      return { evaluation: gatherer.gather(tiers, rules), agents: agents.all(), openIncidents: store.openIncidents() };
    },

    /** null when no active job protects the asset. */
    asset(asset: string): AssetInput | null {
      const all = gatherer.listJobs();
      if (!all.some((j) => j.asset === asset)) return null;
      // The link jobs too (`source: { target }`): the asset's copies of copies are derived from them.
      const rows = all.filter((j) => j.asset === asset || j.sourceTarget !== null);
      const runs = rows
        .filter((j) => j.asset === asset)
        .flatMap((j) => history.all({ agentId: j.agentId, job: j.job }).map((r) => ({ ...r, agent: j.agent, job: j.job, hasLog: r.hasLog === 1 })))
        .sort((a, b) => b.startedAt - a.startedAt);
      const jobFacts: JobFacts[] = facts.all(asset).map((f) => ({ agent: f.agent, job: f.job, restore: parseFacts(f.restore) }));
      // No agent views: nothing an asset shows reads them.
      return { evaluation: gatherer.gather(tiers, rules, { rows, hosts: false }), asset, facts: jobFacts, runs, openIncidents: store.openIncidents() };
    },

    /** The agents' hosts, by name (not the checks' pseudo-agent: no host of its own). */
    hosts(): AgentIdentity[] {
      return agents.all().filter((a) => a.name !== CHECKS_AGENT);
    },

    /**
     * The assets backed up from one agent's host (its DR plan, view/dr-plan.ts: each read with
     * asset()); null: no such agent. A Backup Server's listing of the guests it stores
     * (pbs-group) holds copies of assets that live on other hosts: not counted as on this one.
     */
    hostAssets(agent: string): { agent: string; hostname: string | null; assets: string[] } | null {
      const host = agents.all().find((a) => a.name === agent);
      if (!host) return null;
      const jobs = gatherer.listJobs().filter((j) => j.agent === agent && j.role !== 'maintenance' && j.driver !== 'pbs-group');
      return { agent, hostname: host.hostname, assets: [...new Set(jobs.map((j) => j.asset))] };
    },

    incidents(now: number): IncidentsInput {
      const resolved = store
        .listIncidents({ state: 'all', limit: 500 })
        .filter((i) => i.resolvedAt !== null && i.resolvedAt >= now - RESOLVED_WITHIN_MS)
        .slice(0, RESOLVED_SHOWN);
      return { open: store.openIncidents(), resolved, mutes: mutes.all(now) };
    },

    /**
     * The page shows a log with textContent in a <pre>: its newlines and tabs stay, every other
     * control or bidi character comes out as a visible stand-in (shared/display-text.ts).
     */
    runLog(runId: string): RunLog | null {
      const run = log.get(runId);
      if (!run) return null;
      const shown = (text: string | null) => (text === null ? null : visibleText(text, { multiline: true }));
      return { ...run, error: shown(run.error), logTail: shown(run.logTail) };
    },
  };
}

export type ViewSource = ReturnType<typeof createViewSource>;

function parseFacts(json: string | null): Record<string, string> | null {
  if (json === null) return null;
  try {
    const v = JSON.parse(json) as unknown;
    return v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, string>) : null;
  } catch {
    return null;
  }
}
