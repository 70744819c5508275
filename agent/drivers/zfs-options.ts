import type { z as Z } from 'zod';
import { parseSnapshotList, SNAPSHOT_COLUMNS, type ZfsSnapshot } from '../zfs/snapshots';
import { runTool } from './dump-files';
import { smallOutput } from './paths-lines';
import type { DriverContext, OperationOutcome, Zod } from './types';

// The zfs driver's options (job key `zfs:`): one dataset (its children too with `recursive`),
// whose snapshots Lifeline takes (`snapshots: take`) or only watches (`watch`: sanoid or another
// tool takes them), or — with `replicate:` — whose copy on another pool or host this job keeps
// (syncoid, `zfs send | ssh … zfs receive`) or watches. Tools are found through `tools:`, so
// tests point them at stand-ins (REFERENCE-INTEGRATIONS §7).

// ZFS dataset names: components of letters, digits, "_", "-", ":", "." separated by "/". Checked
// strictly because they reach ssh's remote shell as words.
const DATASET_RE = /^[A-Za-z0-9][A-Za-z0-9_.:-]*(\/[A-Za-z0-9_.:-]+)*$/;
// `[user@]host`: never starting with "-", which ssh would take for an option.
const HOST_RE = /^([A-Za-z0-9._][A-Za-z0-9._-]*@)?[A-Za-z0-9][A-Za-z0-9.-]*$/;

export const ZFS_TOOLS = { zfs: '/usr/sbin/zfs', syncoid: '/usr/sbin/syncoid', ssh: '/usr/bin/ssh' } as const;

export function zfsOptions(z: Zod) {
  const dataset = z.string().regex(DATASET_RE, 'expected a ZFS dataset name like "tank/data"');
  const path = z.string().startsWith('/', 'expected an absolute path');
  return z
    .object({
      dataset,
      /** Snapshot (and judge, and replicate) the dataset's descendants with it. */
      recursive: z.boolean().default(false),
      /** take: `zfs snapshot` by Lifeline; watch: judge the snapshots another tool (sanoid) takes. */
      snapshots: z.enum(['take', 'watch'], { error: 'expected take (Lifeline snapshots) or watch (sanoid or another tool does)' }).default('take'),
      /** This job is the dataset's replica (its target is where the replica lives). */
      replicate: z
        .object({
          /** syncoid, send (`zfs send -I | ssh host zfs receive`), or watch (another tool replicates; judge the lag). */
          via: z.enum(['syncoid', 'send', 'watch'], { error: 'expected syncoid, send or watch' }),
          /** The receiving dataset. */
          to: dataset,
          /** `[user@]host` of the receiving side; absent: a pool on this host. */
          host: z.string().regex(HOST_RE, 'expected [user@]host (not starting with "-")').optional(),
          /** Extra ssh options (`-p`, `2222`, `-i`, `/root/.ssh/id_backup`). */
          sshOptions: z.array(z.string()).default([]),
          /** zfs on the receiving side (run through ssh). */
          remoteZfs: z.string().regex(/^[A-Za-z0-9/._-]+$/, 'expected a command name or path').default('zfs'),
          /** Extra syncoid arguments (`--no-sync-snap`, `--sshport=2222`…). */
          syncoidArgs: z.array(z.string()).default([]),
        })
        .strict()
        .optional(),
      tools: z
        .object({ zfs: path.default(ZFS_TOOLS.zfs), syncoid: path.default(ZFS_TOOLS.syncoid), ssh: path.default(ZFS_TOOLS.ssh) })
        .strict()
        .prefault({}),
    })
    .strict();
}

export type ZfsOptions = Z.output<ReturnType<typeof zfsOptions>>;
export type ZfsContext = DriverContext<ZfsOptions>;

/** ssh's argv up to the remote command: never prompting (BatchMode), the host last. */
export function sshArgv(ctx: ZfsContext, host: string): string[] {
  return [ctx.options.tools.ssh, '-o', 'BatchMode=yes', ...(ctx.options.replicate?.sshOptions ?? []), host];
}

/** `zfs list -H -p -t snapshot -o name,creation,used -s creation` for this side's argv prefix. */
export function snapshotListArgv(zfs: readonly string[], dataset: string, recursive: boolean): string[] {
  return [...zfs, 'list', '-H', '-p', '-t', 'snapshot', '-o', SNAPSHOT_COLUMNS, '-s', 'creation', ...(recursive ? ['-r'] : ['-d', '1']), dataset];
}

export type Listing = { snapshots: ZfsSnapshot[] } | { outcome: OperationOutcome };

/** Runs a snapshot listing (locally, or through ssh) and parses it; its output stays out of the log. */
export async function listSnapshots(ctx: ZfsContext, argv: string[], what: string): Promise<Listing> {
  const out = smallOutput(64 * 2 ** 20);
  const outcome = await runTool(ctx, argv, what, { tailStdout: false, onStdout: out.push });
  if (outcome.status !== 'success') {
    // A dataset with no snapshot at all is listed as nothing, not as an error; a missing dataset is one.
    return { outcome };
  }
  try {
    return { snapshots: parseSnapshotList(out.text()) };
  } catch (err) {
    return { outcome: { status: 'failure', exitCode: 0, error: (err as Error).message } };
  }
}

export const localList = (ctx: ZfsContext, recursive = ctx.options.recursive) =>
  listSnapshots(ctx, snapshotListArgv([ctx.options.tools.zfs], ctx.options.dataset, recursive), 'zfs list');

