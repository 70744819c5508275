import type { FactDriver, FactKey } from '../../shared/restore-facts';

/** What the runbook of one copy is written from: the job, its driver's restore facts, its newest snapshot. */
export interface RunbookInput {
  driver: string;
  agent: string;
  job: string;
  asset: string;
  /** Non-secret facts the agent's driver sent in the catalog (agent-supplied: untrusted). */
  restore: Record<string, string> | null;
  /**
   * The snapshot to restore (time in ms), or null when no inventory has arrived: the newest one,
   * or where the listing carries verification states (PBS) the one restoreSnapshot() picks.
   */
  snapshot: { id: string; time: number; verified?: 'ok' | 'failed' } | null;
  /** The copy's target name (for a PBS backup group: the PVE storage that reads its datastore, by assumption). */
  target?: string;
  /** Present when the listing carries verification states: the newer snapshots the choice passed over. */
  verification?: { newerFailed: number; newerUnverified: number };
  /** On a Proxmox VE host: its storages (where a restored guest's volumes can go). */
  pveStorages?: readonly { id: string; content: string }[];
}

export interface Runbook {
  title: string;
  /** Shell commands, in order, each copy-pasteable as it is. */
  commands: string[];
  notes: string[];
}

export type Steps = Pick<Runbook, 'commands' | 'notes'>;

/** How one driver's copies are restored by hand, from that driver's facts (shared/restore-facts.ts). */
export interface RunbookWriter<D extends FactDriver = FactDriver> {
  /** Facts without which no exact command can be written. */
  needs: readonly FactKey<D>[];
  /** `facts` holds every key of `needs`; the others may be missing (typed string, as `needs` cannot narrow them: test them). */
  write(facts: Readonly<Record<FactKey<D>, string>>, input: RunbookInput): Steps;
}
