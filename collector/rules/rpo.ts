import { freshUntil, isFresh, newestCopy } from './asset-state';
import { severityFor } from './severity';
import type { EvaluationInput, Finding, NextCheckAt } from './types';
import { assetTier, copiesByAsset, findingKey, humanDuration, jobFinding, localDateTime } from './util';

/**
 * Per asset ('rpo'): the newest good copy across all its jobs is older than the tier's RPO.
 * Per job ('rpo-target'): one copy of an asset with several jobs is older than the RPO (e.g.
 * the off-site copy went stale while the local one is fresh). A copy is one target: a job is not
 * judged while another job of the asset has a fresh copy at the same target (a PBS backup group
 * and the Proxmox VE job that writes it), and an asset at a single target gets only the asset
 * finding, which would say the same thing. Age exactly equal to the RPO is still within. A job
 * that never succeeded counts from when the collector first saw it. Server (maintenance) jobs
 * make no copies and are not counted.
 */
export const rpoCheckAt: NextCheckAt = (job, input) => freshUntil(job, input);

export function rpo(input: EvaluationInput, now: number): Finding[] {
  const out: Finding[] = [];
  for (const [asset, jobs] of copiesByAsset(input.jobs)) {
    const tier = assetTier(input, asset);
    const rpoMs = input.tiers[tier].rpoMs;
    const newest = newestCopy(jobs);
    const from = newest ? (newest.lastSuccess as number) : Math.min(...jobs.map((j) => j.knownSince));
    if (now - from > rpoMs) {
      out.push({
        key: findingKey('rpo', asset),
        rule: 'rpo',
        severity: severityFor('rpo', tier),
        asset,
        title: `${asset} has no backup newer than its ${humanDuration(rpoMs)} RPO`,
        detail: newest
          ? `Newest good copy: ${newest.job} on ${newest.agent} to ${newest.target.name}, finished ${localDateTime(from, newest.timezone)} (${humanDuration(now - from)} ago; tier ${tier} RPO ${humanDuration(rpoMs)}). Jobs: ${jobs.map((j) => `${j.agent}/${j.job}`).join(', ')}.`
          : `No job has ever backed it up successfully (jobs: ${jobs.map((j) => `${j.agent}/${j.job}`).join(', ')}; known for ${humanDuration(now - from)}).`,
        since: from + rpoMs,
      });
    }
    if (new Set(jobs.map((j) => j.target.name)).size < 2) continue;
    const freshTargets = new Set(jobs.filter((j) => isFresh(j, rpoMs, now)).map((j) => j.target.name));
    for (const job of jobs) {
      const jobFrom = job.lastSuccess ?? job.knownSince;
      if (now - jobFrom <= rpoMs || freshTargets.has(job.target.name)) continue;
      const finding = jobFinding('rpo-target', job, {
        tier,
        title: `The ${job.target.location} copy of ${asset} at ${job.target.name} is stale`,
        detail:
          (job.lastSuccess === null
            ? `${job.job} on ${job.agent} has never succeeded`
            : `${job.job} on ${job.agent} last succeeded ${localDateTime(job.lastSuccess, job.timezone)} (${humanDuration(now - job.lastSuccess)} ago)`) +
          `, beyond the tier ${tier} RPO of ${humanDuration(rpoMs)}.`,
        since: jobFrom + rpoMs,
      });
      // A derived copy's name ("cloud-restic via pbs1") is the same for every asset the link carries.
      out.push(job.derivedVia ? { ...finding, key: findingKey('rpo-target', job.agent, job.job, asset) } : finding);
    }
  }
  return out;
}
