import { formatDuration } from '../../shared/duration';
import { DEFAULT_TIERS } from '../../shared/tiers';
import { fullName, replicaLag } from '../zfs/snapshots';
import { pipelineOutcome, runPipeline, runTool } from './dump-files';
import { listSnapshots, localList, snapshotListArgv, sshArgv, type Listing, type ZfsContext } from './zfs-options';
import type { OperationOutcome } from './types';

// A zfs job with `replicate:`: the dataset's copy on another pool or host. It replicates (syncoid,
// or `zfs send -I @common dataset@newest | ssh host zfs receive -u to`) unless another tool does
// (`via: watch`), then judges the replica by its newest snapshot in common with the source
// (matched by name, as syncoid does): older than the tier's RPO is a failure. The lag — how far
// that snapshot lies behind the source's newest — is logged with it (REFERENCE-INTEGRATIONS §7).

/** The tier's RPO for this job (agent.yaml's tier overrides applied by the config loader). */
export const rpoOf = (ctx: ZfsContext): number => ctx.job.rpoMs ?? DEFAULT_TIERS[ctx.job.tier as 1 | 2 | 3 | 4].rpoMs;

/** The receiving side's zfs argv prefix: through ssh for a host, else the local zfs. */
function replicaZfs(ctx: ZfsContext): string[] {
  const r = ctx.options.replicate!;
  return r.host ? [...sshArgv(ctx, r.host), r.remoteZfs] : [ctx.options.tools.zfs];
}

/** Where the replica lives, as messages name it: `nas2:backup/data`. */
export function replicaName(ctx: ZfsContext): string {
  const r = ctx.options.replicate!;
  return r.host ? `${r.host}:${r.to}` : r.to;
}

export const replicaList = (ctx: ZfsContext): Promise<Listing> =>
  listSnapshots(ctx, snapshotListArgv(replicaZfs(ctx), ctx.options.replicate!.to, false), `zfs list on ${replicaName(ctx)}`);

async function send(ctx: ZfsContext): Promise<OperationOutcome | null> {
  const o = ctx.options;
  const r = o.replicate!;
  const [source, replica] = [await localList(ctx, false), await replicaList(ctx)];
  if ('outcome' in source) return source.outcome;
  // A replica not yet received (the dataset does not exist there) gets a full stream.
  const held = 'snapshots' in replica ? replica.snapshots : [];
  const lag = replicaLag(source.snapshots, held, Date.now());
  if (!lag.sourceNewest) return { status: 'failure', exitCode: null, error: `${o.dataset} has no snapshot to send: take one first (a zfs job with snapshots: take, or sanoid)` };
  if (lag.common?.name === lag.sourceNewest.name) {
    ctx.tail.line(`[lifeline] ${replicaName(ctx)} already holds ${fullName(lag.sourceNewest)}: nothing to send`);
    return null;
  }
  const sendArgv = [o.tools.zfs, 'send', ...(o.recursive ? ['-R'] : []), ...(lag.common ? ['-I', `@${lag.common.name}`] : []), fullName(lag.sourceNewest)];
  const receiveArgv = [...replicaZfs(ctx), 'receive', '-u', r.to];
  ctx.tail.line(`[lifeline] ${sendArgv.join(' ')} | ${receiveArgv.join(' ')}`);
  const deadline = Date.now() + (ctx.job.timeoutMs > 0 ? ctx.job.timeoutMs : 7 * 86_400_000);
  const result = await runPipeline(ctx, [sendArgv, receiveArgv], '/dev/null', deadline, ctx.env);
  const outcome = pipelineOutcome(result, 'zfs send | zfs receive');
  return outcome.status === 'success' ? null : outcome;
}

export async function replicate(ctx: ZfsContext): Promise<OperationOutcome> {
  const o = ctx.options;
  const r = o.replicate!;
  if (r.via === 'syncoid') {
    const target = r.host ? `${r.host}:${r.to}` : r.to;
    const run = await runTool(ctx, [o.tools.syncoid, ...(o.recursive ? ['--recursive'] : []), ...r.syncoidArgs, o.dataset, target], 'syncoid');
    if (run.status !== 'success') return run;
  } else if (r.via === 'send') {
    const failed = await send(ctx);
    if (failed) return failed;
  }
  return judgeReplica(ctx);
}

/** The replica against the source: its newest common snapshot's age vs the RPO, and the lag. */
export async function judgeReplica(ctx: ZfsContext): Promise<OperationOutcome> {
  const source = await localList(ctx, false);
  if ('outcome' in source) return source.outcome;
  const replica = await replicaList(ctx);
  if ('outcome' in replica) return replica.outcome;
  const now = Date.now();
  const rpoMs = rpoOf(ctx);
  const lag = replicaLag(source.snapshots, replica.snapshots, now);
  const where = replicaName(ctx);
  if (!lag.common) {
    const why = lag.sourceNewest ? `holds none of the ${source.snapshots.length} snapshots of ${ctx.options.dataset}` : `cannot be judged: ${ctx.options.dataset} has no snapshot`;
    return { status: 'failure', exitCode: 0, error: `the replica ${where} ${why}` };
  }
  const age = lag.ageMs ?? 0;
  const lagText = lag.lagMs ? `${formatDuration(lag.lagMs)} behind the source's newest ${lag.sourceNewest!.name}` : 'in step with the source';
  const summary = `newest common snapshot ${lag.common.name} (${formatDuration(age)} old), ${lagText}`;
  ctx.tail.line(`[lifeline] replica ${where}: ${summary}; ${replica.snapshots.length} snapshot(s) there`);
  const snapshotId = `${ctx.options.replicate!.to}@${lag.common.name}`;
  if (age > rpoMs) {
    const error = lag.lagMs
      ? `the replica ${where} lags: its ${summary}, beyond the tier's RPO of ${formatDuration(rpoMs)}`
      : `the replica ${where} is in step with ${ctx.options.dataset}, but its newest snapshot ${lag.common.name} is ${formatDuration(age)} old, beyond the tier's RPO of ${formatDuration(rpoMs)}: no newer snapshot of ${ctx.options.dataset} was taken`;
    return { status: 'failure', exitCode: 0, snapshotId, error };
  }
  return { status: 'success', exitCode: 0, snapshotId };
}
