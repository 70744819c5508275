import type { RetentionSemantics } from './retention';

/**
 * How each driver's tool applies a keep policy, read by the agent (its own prune of dump files)
 * and by the collector's retention audit (by the driver name in the catalog). Every agent driver
 * has a line (test/prune-semantics checks), so a new driver declares it rather than inheriting a
 * guess; the collector says so when a driver is missing here (an agent newer than it).
 * borg: a period already holding a snapshot kept by an earlier rule is skipped without counting
 * (borg, and Proxmox: PBS pbs-datastore/src/prune.rs mark_selections, PVE::Storage
 * prune_mark_backup_group). restic: every rule counts every snapshot.
 */
export const PRUNE_SEMANTICS: Readonly<Record<string, RetentionSemantics>> = Object.freeze({
  restic: 'restic',
  borg: 'borg',
  borgmatic: 'borg',
  vzdump: 'borg',
  pbs: 'borg',
  // PBS groups listed by the agent on a Backup Server (agent/pbs/scan.ts).
  'pbs-group': 'borg',
  // Lifeline's own prune of dump files (shared/retention.ts, restic's rules).
  postgres: 'restic',
  mysql: 'restic',
  mongodb: 'restic',
  paths: 'restic',
  // Neither prunes: an inventory against a keep policy reads as restic would keep it.
  rclone: 'restic',
  command: 'restic',
  // Lifeline's own destroy of its lifeline-… snapshots (shared/retention.ts, restic's rules).
  zfs: 'restic',
  // TrueNAS tasks watched through its API (agent/truenas/): TrueNAS prunes by each snapshot's lifetime.
  'truenas-replication': 'restic',
  'truenas-snapshot': 'restic',
});

/** The driver's semantics, or null for a driver this build does not know. */
export function pruneSemanticsOf(driver: string): RetentionSemantics | null {
  return Object.hasOwn(PRUNE_SEMANTICS, driver) ? PRUNE_SEMANTICS[driver] : null;
}
