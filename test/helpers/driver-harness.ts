import { rmSync } from 'node:fs';
import Database from 'better-sqlite3';
import { AGENT_BIN, cliAsync, enrollAgent, startCollector, writeAgentConfig, type AgentSetup, type CliResult, type Collector } from './processes';

export interface RunRow {
  run_id: string;
  job: string;
  operation: string;
  status: string;
  exit_code: number | null;
  duration_ms: number | null;
  bytes_added: number | null;
  bytes_total: number | null;
  files: number | null;
  snapshot_id: string | null;
  error: string | null;
  log_tail: string | null;
}

export interface Harness {
  collector: Collector;
  agent: AgentSetup;
  /** `lifeline-agent COMMAND JOB` (run, prune, verify, restore-test, inventory) against the collector. */
  agentCli(command: string, job: string): Promise<CliResult>;
  /** Runs the collector stored for a job (oldest first), optionally of one operation. */
  runs(job: string, operation?: string): RunRow[];
  /** The snapshots the collector holds for a job's target (from the newest inventory). */
  inventory(job: string): { id: string; time: string; bytes?: number }[];
  close(): Promise<void>;
}

/**
 * A real collector process and an enrolled agent whose config holds `jobs` (YAML list items,
 * indented by two spaces, using the targets `local-disk` (onsite, disk) and `cloud` (offsite,
 * cloud)). Driver tests run the bundled agent's CLI and read what the collector stored.
 */
export async function driverHarness(name: string, jobs: string): Promise<Harness> {
  const collector = await startCollector();
  const agent = writeAgentConfig({ name, jobs });
  try {
    enrollAgent(agent, collector);
  } catch (err) {
    await collector.stop('SIGKILL'); // never leave a collector behind that keeps the test alive
    throw err;
  }
  const query = <T>(sql: string, ...params: unknown[]): T[] => {
    const db = new Database(collector.db, { readonly: true, fileMustExist: true });
    try {
      return db.prepare(sql).all(...params) as T[];
    } finally {
      db.close();
    }
  };
  return {
    collector,
    agent,
    agentCli: (command, job) => cliAsync(AGENT_BIN, [command, job, '--config', agent.config]),
    runs: (job, operation) =>
      operation
        ? query<RunRow>('SELECT * FROM runs WHERE job = ? AND operation = ? ORDER BY started_at, id', job, operation)
        : query<RunRow>('SELECT * FROM runs WHERE job = ? ORDER BY started_at, id', job),
    inventory: (job) => {
      const [row] = query<{ snapshots: string }>('SELECT snapshots FROM inventory WHERE job = ?', job);
      return row ? JSON.parse(row.snapshots) : [];
    },
    close: async () => {
      await collector.stop('SIGKILL');
      rmSync(collector.dir, { recursive: true, force: true });
      rmSync(agent.dir, { recursive: true, force: true });
    },
  };
}
