import type { RunbookInput } from './types';

// Which snapshot a restore should use when the tool tells verification states (PBS verify), and
// what the runbook then says about it. Pure.

export interface ListedSnapshot {
  id: string;
  time: number;
  verified?: 'ok' | 'failed';
}

/**
 * The newest snapshot verified ok; none verified: the newest whose verification did not fail;
 * every one failed: the newest (the runbook says so). With the newer snapshots passed over.
 */
export function restoreSnapshot(listed: readonly ListedSnapshot[]): Pick<RunbookInput, 'snapshot' | 'verification'> {
  const byAge = listed.filter((s) => Number.isFinite(s.time)).sort((a, b) => b.time - a.time);
  const pick = byAge.find((s) => s.verified === 'ok') ?? byAge.find((s) => s.verified !== 'failed') ?? byAge[0];
  if (!pick) return { snapshot: null, verification: { newerFailed: 0, newerUnverified: 0 } };
  const newer = byAge.slice(0, byAge.indexOf(pick));
  return {
    snapshot: { id: pick.id, time: pick.time, ...(pick.verified ? { verified: pick.verified } : {}) },
    verification: { newerFailed: newer.filter((s) => s.verified === 'failed').length, newerUnverified: newer.filter((s) => s.verified !== 'failed').length },
  };
}

const plural = (n: number, one: string, many: string) => (n === 1 ? `1 ${one}` : `${n} ${many}`);

/** What the runbook says of the chosen snapshot's verification; nothing where the tool tells none. */
export function verificationNotes({ snapshot, verification }: Pick<RunbookInput, 'snapshot' | 'verification'>): string[] {
  if (!verification || !snapshot) return [];
  const notes: string[] = [];
  if (snapshot.verified === 'failed') {
    notes.push(`Every listed snapshot of this copy failed verification, ${snapshot.id} too: it may not restore whole. Restore from another copy if there is one.`);
    return notes;
  }
  if (snapshot.verified === 'ok') notes.push(`${snapshot.id} is the newest snapshot verified ok.`);
  else notes.push(`No snapshot of this copy is verified ok: ${snapshot.id} is the newest whose verification did not fail, and it was never verified. If time allows, verify it on the Proxmox Backup Server first.`);
  if (verification.newerFailed) notes.push(`${plural(verification.newerFailed, 'newer snapshot failed', 'newer snapshots failed')} verification and ${verification.newerFailed === 1 ? 'is' : 'are'} passed over.`);
  if (verification.newerUnverified && snapshot.verified === 'ok') {
    notes.push(`${plural(verification.newerUnverified, 'newer snapshot is', 'newer snapshots are')} not verified yet: a newer one loses less data, if you accept a copy never verified.`);
  }
  return notes;
}
