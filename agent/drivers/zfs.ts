import { formatDuration } from '../../shared/duration';
import { hasKeepRule } from '../../shared/retention';
import { byDataset, classCounts, describeCounts, freshness, fullName, isLifelineSnapshot, lifelineSnapshotName, onePerSecond, snapshotsToDestroy, type ZfsSnapshot } from '../zfs/snapshots';
import { runTool } from './dump-files';
import { factsFrom } from './restore-facts';
import type { Driver, OperationOutcome, SnapshotInfo } from './types';
import { localList, zfsOptions, type ZfsContext, type ZfsOptions } from './zfs-options';
import { judgeReplica, replicaList, replicaName, replicate, rpoOf } from './zfs-replicate';

// ZFS datasets (REFERENCE-INTEGRATIONS §7). Three kinds of job, by their options:
// - `snapshots: take`: Lifeline runs `zfs snapshot [-r] dataset@lifeline-<UTC time>` and prunes
//   those snapshots, and only those, by the tier's retention (`zfs destroy [-r]`);
// - `snapshots: watch`: sanoid (or another tool) takes them; each run judges every dataset's
//   newest snapshot against the tier's RPO and logs the counts per sanoid class;
// - `replicate:`: the dataset's replica elsewhere (zfs-replicate.ts), an off-site copy with its lag.

const toInfo = (s: ZfsSnapshot): SnapshotInfo => ({ id: fullName(s), time: new Date(s.creation * 1000).toISOString(), ...(s.used !== null ? { bytes: s.used } : {}) });

async function takeSnapshot(ctx: ZfsContext): Promise<OperationOutcome> {
  const { dataset, recursive, tools } = ctx.options;
  const snapshot = `${dataset}@${lifelineSnapshotName(new Date())}`;
  const run = await runTool(ctx, [tools.zfs, 'snapshot', ...(recursive ? ['-r'] : []), snapshot], 'zfs snapshot');
  if (run.status !== 'success') return run;
  const listed = await localList(ctx, false);
  const made = 'snapshots' in listed ? listed.snapshots.find((s) => fullName(s) === snapshot) : undefined;
  ctx.tail.line(`[lifeline] snapshot ${snapshot}${recursive ? ' (with its descendants)' : ''} taken${'snapshots' in listed ? `; ${dataset} holds ${describeCounts(classCounts(listed.snapshots))}` : ''}`);
  return { ...run, snapshotId: snapshot, ...(made?.used != null ? { bytesTotal: made.used } : {}) };
}

// sanoid takes them: the run is "every dataset has a snapshot younger than the RPO".
async function watchSnapshots(ctx: ZfsContext): Promise<OperationOutcome> {
  const { dataset } = ctx.options;
  const listed = await localList(ctx);
  if ('outcome' in listed) return listed.outcome;
  const grouped = byDataset(listed.snapshots);
  const datasets = [dataset, ...[...grouped.keys()].filter((d) => d !== dataset).sort()];
  const rpoMs = rpoOf(ctx);
  const judged = freshness(datasets, listed.snapshots, rpoMs, Date.now());
  for (const f of judged) {
    const counts = describeCounts(classCounts(grouped.get(f.dataset) ?? []));
    ctx.tail.line(`[lifeline] ${f.dataset}: ${counts}${f.newest ? `; newest ${f.newest.name}, ${formatDuration(Math.max(0, f.ageMs ?? 0))} old` : ''}`);
  }
  const stale = judged.filter((f) => f.stale);
  const top = judged[0].newest;
  const snapshotId = top ? fullName(top) : undefined;
  if (stale.length) {
    const what = stale
      .slice(0, 5)
      .map((f) => (f.newest ? `${f.dataset} (newest ${f.newest.name}, ${formatDuration(f.ageMs ?? 0)} old)` : `${f.dataset} (no snapshot)`))
      .join(', ');
    const more = stale.length > 5 ? ` and ${stale.length - 5} more` : '';
    return { status: 'failure', exitCode: 0, ...(snapshotId ? { snapshotId } : {}), error: `no snapshot within the tier's RPO of ${formatDuration(rpoMs)}: ${what}${more}; is sanoid's timer running?` };
  }
  return { status: 'success', exitCode: 0, ...(snapshotId ? { snapshotId } : {}) };
}

export const zfsDriver: Driver<ZfsOptions> = {
  name: 'zfs',
  options: zfsOptions,
  restoreFacts: (o) =>
    factsFrom('zfs', {
      dataset: o.dataset,
      recursive: o.recursive,
      snapshots: o.snapshots,
      replicaHost: o.replicate?.host,
      replicaDataset: o.replicate?.to,
      remoteZfs: o.replicate && o.replicate.remoteZfs !== 'zfs' ? o.replicate.remoteZfs : undefined,
    }),

  backup(ctx) {
    if (ctx.options.replicate) return replicate(ctx);
    return ctx.options.snapshots === 'take' ? takeSnapshot(ctx) : watchSnapshots(ctx);
  },

  // The copies at this job's target: the replica's snapshots, Lifeline's own (take), or all the
  // dataset's (watch); the top dataset's only, so a recursive job's counts are its retention's.
  // sanoid takes one snapshot per class at the same second (…_hourly, …_daily, …_monthly): one
  // point in time, listed once, so the collector's retention audit counts points in time.
  async inventory(ctx) {
    const listed = ctx.options.replicate ? await replicaList(ctx) : await localList(ctx, false);
    if ('outcome' in listed) throw new Error(listed.outcome.error ?? 'zfs list failed');
    if (ctx.options.snapshots === 'take' && !ctx.options.replicate) return listed.snapshots.filter((s) => isLifelineSnapshot(s.name)).map(toInfo).reverse();
    return onePerSecond(listed.snapshots).map(toInfo).reverse();
  },

  async prune(ctx) {
    const { dataset, recursive, tools, replicate: replica } = ctx.options;
    if (replica || ctx.options.snapshots === 'watch') {
      ctx.tail.line(`[lifeline] nothing to prune: ${replica ? `the replica ${replicaName(ctx)} follows its source's snapshots` : `the tool that takes ${dataset}'s snapshots (sanoid) prunes them`}`);
      return { status: 'success', exitCode: null };
    }
    if (!hasKeepRule(ctx.retention)) {
      const error = 'refusing to prune: the retention policy has no rule that keeps a snapshot';
      ctx.tail.line(`[lifeline] ${error}`);
      return { status: 'failure', exitCode: null, error };
    }
    const listed = await localList(ctx, false);
    if ('outcome' in listed) return listed.outcome;
    const doomed = snapshotsToDestroy(listed.snapshots, dataset, ctx.retention);
    const own = listed.snapshots.filter((s) => isLifelineSnapshot(s.name)).length;
    for (const s of doomed) {
      // The name is checked again right before destroying: only Lifeline's own snapshots, ever.
      if (!isLifelineSnapshot(s.name) || s.dataset !== dataset) continue;
      const run = await runTool(ctx, [tools.zfs, 'destroy', ...(recursive ? ['-r'] : []), fullName(s)], 'zfs destroy');
      if (run.status !== 'success') return run;
      ctx.tail.line(`[lifeline] destroyed ${fullName(s)}`);
    }
    const others = listed.snapshots.length - own;
    ctx.tail.line(`[lifeline] kept ${own - doomed.length} of Lifeline's ${own} snapshot(s) of ${dataset}, destroyed ${doomed.length}${others ? `; ${others} snapshot(s) of other tools left alone` : ''}`);
    return { status: 'success', exitCode: 0 };
  },

  // Replication jobs can judge the replica without replicating (a manual `verify`).
  async verify(ctx) {
    if (ctx.options.replicate) return judgeReplica(ctx);
    return watchSnapshots(ctx);
  },
};
