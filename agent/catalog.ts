import { hostname } from 'node:os';
import type { CatalogJob, HelloMessage, Unsequenced } from '../shared/protocol';
import { MAX_RESTORE_FACT_CHARS, MAX_RESTORE_FACTS, PROTOCOL_VERSION } from '../shared/protocol-constants';
import { localTimeZone } from '../shared/schedule';
import { VERSION } from '../shared/version';
import type { AgentConfig, JobConfig } from './config';
import { DRIVERS } from './drivers';

/**
 * The job's restore facts as its driver describes them, within the protocol's bounds: a hello
 * breaking them would be refused whole, so facts past them are left out.
 */
function restoreFactsOf(job: JobConfig): Record<string, string> | undefined {
  const facts = Object.entries(DRIVERS[job.driver]?.restoreFacts?.(job.options, job) ?? {})
    .filter(([, value]) => value.length <= MAX_RESTORE_FACT_CHARS)
    .slice(0, MAX_RESTORE_FACTS);
  return facts.length ? Object.fromEntries(facts) : undefined;
}

/** What the collector needs to know about a job to expect its runs (sent in hello). */
export function catalogEntry(job: JobConfig): CatalogJob {
  const restore = restoreFactsOf(job);
  return {
    name: job.name,
    asset: job.asset,
    tier: job.tier,
    driver: job.driver,
    target: job.target,
    schedule: job.schedule,
    timeoutMs: job.timeoutMs,
    retention: job.retention,
    ...(job.verify ? { verify: job.verify } : {}),
    ...(job.restoreTest ? { restoreTest: job.restoreTest } : {}),
    ...(job.source ? { source: job.source } : {}),
    ...(restore ? { restore } : {}),
  };
}

/** A hello holds at most this many jobs (helloSchema): beyond it the collector would refuse it whole. */
export const MAX_HELLO_JOBS = 1000;

/**
 * The hello message: this agent's version, zone and whole job catalog — the configured jobs,
 * then the jobs found on the host (Proxmox VE backups: agent/proxmox/discovery.ts) whose names
 * no configured job takes, as many as a hello holds.
 */
export function helloMessage(config: AgentConfig, discovered: readonly CatalogJob[] = []): Unsequenced<HelloMessage> {
  const jobs = config.jobs.map(catalogEntry);
  const taken = new Set(jobs.map((j) => j.name));
  jobs.push(...discovered.filter((j) => !taken.has(j.name)).slice(0, Math.max(0, MAX_HELLO_JOBS - jobs.length)));
  return {
    kind: 'hello',
    version: VERSION,
    protocol: PROTOCOL_VERSION,
    hostname: hostname(),
    timezone: localTimeZone(),
    heartbeatMs: config.heartbeatMs,
    jobs,
  };
}
