import type { CatalogJob } from '../shared/protocol';
import type { JobConfig } from './config';

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
