import { hostname } from 'node:os';
import type { Retention } from '../../shared/retention-policy';
import { backupSummary, forgetPlan, jsonDocument, jsonObject, Lines, type BackupSummary } from './restic-output';
import { jobSnapshots, restic, resticOptions, resticOutcome, snapshotFilter, type ResticOptions } from './restic-repo';
import { restoreDrill } from './restic-restore';
import { factsFrom, withoutPassword } from './restore-facts';
import type { Driver, OperationOutcome } from './types';

// restic: repository and password file reach restic through RESTIC_REPOSITORY and
// RESTIC_PASSWORD_FILE, never argv. Exit codes: 0 ok, 3 some source files unreadable (a
// warning), anything else a failure (0.14 exits 1 for a wrong password or a missing repository).

const KEEP_FLAGS: Record<keyof Retention, string> = {
  last: '--keep-last',
  hourly: '--keep-hourly',
  daily: '--keep-daily',
  weekly: '--keep-weekly',
  monthly: '--keep-monthly',
  yearly: '--keep-yearly',
};

/** `--keep-*` flags for the rules that keep something; a zero keeps nothing, so it is no rule. */
export function keepFlags(retention: Retention): string[] {
  return Object.entries(KEEP_FLAGS).flatMap(([rule, flag]) => {
    const n = retention[rule as keyof Retention];
    return n ? [`${flag}=${n}`] : [];
  });
}

/** How many IDs one `restic forget ID…` gets, keeping argv short. */
const FORGET_BATCH = 100;

export const resticDriver: Driver<ResticOptions> = {
  name: 'restic',
  options: resticOptions,
  secretFiles: (o) => [{ key: 'passwordFile', path: o.passwordFile }],
  // Host, paths and tags pick this job's newest snapshot as `latest` does with the same filters.
  restoreFacts: (o) =>
    factsFrom('restic', { repository: withoutPassword(o.repository), passwordFile: o.passwordFile, host: o.host ?? hostname(), paths: o.paths, tags: o.tags.join(',') }),

  async backup(ctx) {
    const { paths, excludes, tags, host } = ctx.options;
    let summary: BackupSummary | undefined;
    // Progress and the summary are JSON lines; anything else on stdout (a "Fatal:" from an
    // older restic, notices) belongs in the log.
    const stdout = new Lines((line) => {
      const msg = jsonObject(line);
      if (!msg) ctx.tail.line(line);
      else summary = backupSummary(msg) ?? summary;
    });
    const args = ['backup', '--json', ...excludes.map((e) => `--exclude=${e}`), ...tags.map((t) => `--tag=${t}`), ...(host ? [`--host=${host}`] : []), ...paths];
    const run = await restic(ctx, args, { tailStdout: false, onStdout: stdout.push });
    stdout.end();
    if (summary) {
      const s = summary;
      ctx.tail.line(`[lifeline] snapshot ${s.snapshotId ?? '(no id)'}: ${s.files} files, ${s.bytesTotal} bytes processed, ${s.bytesAdded} bytes added`);
    }
    const numbers = summary ?? {};
    if (run.result.exitCode === 3 && !run.result.timedOut) {
      const { itemErrors, firstItem } = run.errors;
      const which = firstItem ? `: ${firstItem}${itemErrors > 1 ? ` and ${itemErrors - 1} more` : ''}` : '';
      return { status: 'warning', exitCode: 3, error: `the snapshot is incomplete, some source files could not be read${which}`, ...numbers };
    }
    return { ...resticOutcome('backup', run), ...numbers };
  },

  async inventory(ctx) {
    const { run, snapshots } = await jobSnapshots(ctx);
    if (run.result.exitCode !== 0) throw new Error(resticOutcome('snapshots', run).error);
    return snapshots.map((s) => ({ id: s.shortId, time: s.time, ...(s.bytes !== undefined ? { bytes: s.bytes } : {}) }));
  },

  // The decision comes from `forget --dry-run`, restricted to the groups with exactly this
  // job's paths: restic's --path filter also matches other jobs' snapshots that include them,
  // and those must not be thinned out by this job's policy. Then the chosen IDs are
  // forgotten, and `prune` runs on its own (`forget --prune` mixes text into the JSON).
  async prune(ctx) {
    const keep = keepFlags(ctx.retention);
    if (keep.length === 0) {
      const error = 'refusing to prune: the retention policy has no rule that keeps a snapshot, restic would forget them all';
      ctx.tail.line(`[lifeline] ${error}`);
      return { status: 'failure', exitCode: null, error };
    }
    const chunks: Buffer[] = [];
    const dryRun = await restic(ctx, ['forget', '--json', '--dry-run', ...keep, ...snapshotFilter(ctx.options)], { tailStdout: false, onStdout: (c) => chunks.push(c) });
    if (dryRun.result.exitCode !== 0) return resticOutcome('forget --dry-run', dryRun);
    const plan = forgetPlan(jsonDocument(Buffer.concat(chunks).toString('utf8')), ctx.options.paths);
    if (!plan) return { status: 'failure', exitCode: 0, error: 'restic forget --dry-run --json printed no decision to act on' };
    const policy = keep.join(' ');
    if (plan.remove.length === 0) {
      ctx.tail.line(`[lifeline] ${policy}: keeping ${plan.keep} snapshot(s), removing none; nothing to prune`);
      return { status: 'success', exitCode: 0 };
    }
    for (let i = 0; i < plan.remove.length; i += FORGET_BATCH) {
      const forget = await restic(ctx, ['forget', ...plan.remove.slice(i, i + FORGET_BATCH)]);
      if (forget.result.exitCode !== 0) return resticOutcome('forget', forget);
    }
    ctx.tail.line(`[lifeline] ${policy}: kept ${plan.keep} snapshot(s), removed ${plan.remove.length}`);
    return resticOutcome('prune', await restic(ctx, ['prune']));
  },

  async verify(ctx): Promise<OperationOutcome> {
    const subset = ctx.options.checkReadData;
    return resticOutcome('check', await restic(ctx, ['check', ...(subset ? [`--read-data-subset=${subset}`] : [])]));
  },

  restoreTest: restoreDrill,
};
