import { hostname } from 'node:os';
import type { CatalogJob, HelloMessage, Unsequenced } from '../shared/protocol';
import { PROTOCOL_VERSION } from '../shared/protocol-constants';
import { localTimeZone } from '../shared/schedule';
import { VERSION } from '../shared/version';
import type { AgentConfig, JobConfig } from './config';

/** What the collector needs to know about a job to expect its runs (sent in hello). */
export function catalogEntry(job: JobConfig): CatalogJob {
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
  };
}

/** The hello message: this agent's version, zone and whole job catalog. */
export function helloMessage(config: AgentConfig): Unsequenced<HelloMessage> {
  return {
    kind: 'hello',
    version: VERSION,
    protocol: PROTOCOL_VERSION,
    hostname: hostname(),
    timezone: localTimeZone(),
    heartbeatMs: config.heartbeatMs,
    jobs: config.jobs.map(catalogEntry),
  };
}
