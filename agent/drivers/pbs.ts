import { hostname } from 'node:os';
import { lineSplitter, smallOutput } from './paths-lines';
import { client, clientOutcome, jobSnapshots, requireSnapshots } from './pbs-client';
import { backupGroup, parseRepository, pbsOptions, type PbsOptions } from './pbs-options';
import { BackupOutput, keepArgs, pruneDecision } from './pbs-output';
import { restoreDrill } from './pbs-restore';
import { factsFrom } from './restore-facts';
import type { Driver, OperationOutcome } from './types';

// Host paths to a Proxmox Backup Server with proxmox-backup-client (REFERENCE-INTEGRATIONS §5):
//   proxmox-backup-client backup etc.pxar:/etc … --backup-id ID --repository R [--ns NS] [--keyfile K]
// into the group `host/<ID>` (ID: backupId, else this host's name). Password, encryption password
// and fingerprint travel in the environment only (pbs-client.ts). Errors are `Error: …` on
// stderr with exit status 255. PBS verifies on the server: `verify` reads the newest snapshot's
// verification state rather than reading the data itself.

const backupId = (o: Pick<PbsOptions, 'backupId'>) => o.backupId ?? hostname();
const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;

export const pbsDriver: Driver<PbsOptions> = {
  name: 'pbs',
  options: pbsOptions,
  secretFiles: (o) => [
    { key: 'passwordFile', path: o.passwordFile },
    ...(o.encryptionPasswordFile ? [{ key: 'encryptionPasswordFile', path: o.encryptionPasswordFile }] : []),
    // Key material (encrypted or not): as private as a password.
    ...(o.encryptionKeyFile ? [{ key: 'encryptionKeyFile', path: o.encryptionKeyFile }] : []),
  ],
  // The fingerprint is the server certificate's public hash, needed to connect by hand.
  restoreFacts: (o) =>
    factsFrom('pbs', {
      repository: o.repository,
      passwordFile: o.passwordFile,
      backupId: backupId(o),
      namespace: o.namespace,
      archives: o.archives.map((a) => a.spec),
      keyFile: o.encryptionKeyFile,
      encryptionPasswordFile: o.encryptionPasswordFile,
      fingerprint: o.fingerprint,
    }),

  async backup(ctx) {
    const o = ctx.options;
    const out = new BackupOutput();
    const stdout = lineSplitter((l) => out.line(l));
    const stderr = lineSplitter((l) => out.line(l));
    const keyfile = o.encryptionKeyFile ? ['--keyfile', o.encryptionKeyFile] : [];
    const run = await client(ctx, ['backup', ...o.archives.map((a) => a.spec), '--backup-id', backupId(o), ...keyfile], { onStdout: stdout.push, onStderr: stderr.push });
    stdout.end();
    stderr.end();
    const { snapshot, bytesAdded, durationMs } = out.report;
    const outcome = clientOutcome('backup', run);
    if (outcome.status !== 'success') return outcome;
    if (!snapshot) {
      ctx.tail.line('[lifeline] the client printed no "Starting backup:" line: the new snapshot is not known');
      return { ...outcome, ...(bytesAdded !== undefined ? { bytesAdded } : {}) };
    }
    // The snapshot's size is the server's: the sum of its archives as `snapshot list` gives it.
    const { run: listing, snapshots } = await jobSnapshots(ctx);
    const made = snapshots?.find((s) => s.path === snapshot);
    if (listing.result.exitCode !== 0) ctx.tail.line(`[lifeline] cannot read the new snapshot's size: ${clientOutcome('snapshot list', listing).error}`);
    else if (!made) ctx.tail.line(`[lifeline] snapshot list does not show ${snapshot}: its size is not known`);
    const took = durationMs !== undefined ? ` in ${(durationMs / 1000).toFixed(2)} s` : '';
    const added = bytesAdded !== undefined ? `, ${bytesAdded} bytes new (the client's upload statistics)` : '';
    const size = made?.size !== undefined ? `: ${made.size} bytes in ${plural(made.archives.length, 'file')} (${made.archives.map((a) => a.name).join(', ')})` : '';
    ctx.tail.line(`[lifeline] snapshot ${snapshot}${size}${added}${took}`);
    return {
      ...outcome,
      snapshotId: snapshot,
      ...(made?.size !== undefined ? { bytesTotal: made.size } : {}),
      ...(bytesAdded !== undefined ? { bytesAdded } : {}),
    };
  },

  async inventory(ctx) {
    const snapshots = await requireSnapshots(ctx);
    if (!Array.isArray(snapshots)) throw new Error(snapshots.error);
    return snapshots.map((s) => ({
      id: s.path,
      time: new Date(s.time * 1000).toISOString(),
      ...(s.size !== undefined ? { bytes: s.size } : {}),
      ...(s.verification ? { verified: s.verification.state } : {}),
      ...(s.protected ? { protected: true } : {}),
    }));
  },

  // PBS prunes a whole group (`host/<ID>` in the namespace) by its own rules: keep-last first,
  // then hourly…yearly buckets in the server's local time; protected snapshots are never removed.
  async prune(ctx) {
    const keep = keepArgs(ctx.retention);
    const group = backupGroup(ctx.options);
    if (keep.length === 0) {
      ctx.tail.line('[lifeline] the retention policy has no rule that keeps a snapshot: PBS would keep them all, nothing to prune');
      return { status: 'success', exitCode: null };
    }
    const out = smallOutput(16 * 2 ** 20);
    const run = await client(ctx, ['prune', group, ...keep, '--output-format', 'json'], { tailStdout: false, onStdout: out.push });
    if (run.result.exitCode !== 0 || run.result.timedOut) return clientOutcome('prune', run);
    const policy = keep.join(' ');
    const decision = pruneDecision(out.text());
    if (!decision) {
      ctx.tail.line(`[lifeline] ${group} pruned with ${policy}; the client printed no decision to report`);
      return clientOutcome('prune', run);
    }
    const prot = decision.protectedKept.length ? ` (${decision.protectedKept.length} of them protected)` : '';
    ctx.tail.line(`[lifeline] ${group} pruned with ${policy}: kept ${plural(decision.kept.length, 'snapshot')}${prot}, removed ${decision.removed.length}`);
    for (const path of decision.removed.slice(0, 50)) ctx.tail.line(`[lifeline] removed ${path}`);
    return clientOutcome('prune', run);
  },

  async verify(ctx): Promise<OperationOutcome> {
    const snapshots = await requireSnapshots(ctx);
    if (!Array.isArray(snapshots)) return snapshots;
    const newest = snapshots[0];
    const store = parseRepository(ctx.options.repository)?.datastore ?? ctx.options.repository;
    if (!newest) return { status: 'failure', exitCode: null, error: `the datastore holds no snapshot of group ${backupGroup(ctx.options)} to verify` };
    const older = snapshots.slice(1).filter((s) => s.verification?.state === 'failed').length;
    if (older) ctx.tail.line(`[lifeline] ${plural(older, 'older snapshot')} of ${backupGroup(ctx.options)} failed verification`);
    const v = newest.verification;
    if (v?.state === 'ok') {
      ctx.tail.line(`[lifeline] ${newest.path}: verified ok by the server${v.upid ? ` (task ${v.upid})` : ''}`);
      return { status: 'success', exitCode: 0, snapshotId: newest.path };
    }
    if (v?.state === 'failed') {
      return { status: 'failure', exitCode: 0, snapshotId: newest.path, error: `snapshot ${newest.path} failed its last verification${v.upid ? ` (task ${v.upid})` : ''}: its data is damaged on the server; read that task's log on the PBS` };
    }
    return {
      status: 'warning',
      exitCode: 0,
      snapshotId: newest.path,
      error: `snapshot ${newest.path} has never been verified: PBS verifies on the server, so schedule a verify job on datastore ${store} (Datastore → Verify Jobs) or turn on its verify-new option`,
    };
  },

  restoreTest: restoreDrill,
};
