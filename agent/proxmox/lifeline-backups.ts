import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { acquireLock, isLockHeld, type Lock } from '../file-lock';
import { vzdumpStateDir } from './reported';

// A backup Lifeline runs itself (the vzdump driver, agent/drivers/vzdump.ts) is reported by the
// job runner, as a run of its job. But vzdump still calls the hook set in /etc/vzdump.conf
// (`script:`), and calls it with an emptied environment, so nothing in the call can say "this
// one is Lifeline's" (../shared/REFERENCE-INTEGRATIONS.md §1). So the driver holds a lock per
// guest and storage while its vzdump runs, and the hook leaves alone a guest whose lock a live
// process holds (`lifelineBackupRunning`); the task-history scan skips the backup through the
// markers the driver leaves (reported.ts), like any backup already reported.

const runningDir = (stateDir: string) => join(vzdumpStateDir(stateDir), 'running');

/** `<stateDir>/vzdump/running/<vmid>.<storage>.lock` (file-lock.ts: pid and start time of its holder). */
export const guestBackupLock = (stateDir: string, vmid: number, storage: string) => join(runningDir(stateDir), `${vmid}.${storage}.lock`);

/** Taken by the driver around its vzdump; null while another live process holds it. */
export function claimGuestBackup(stateDir: string, vmid: number, storage: string): Lock | null {
  mkdirSync(runningDir(stateDir), { recursive: true, mode: 0o700 });
  return acquireLock(guestBackupLock(stateDir, vmid, storage));
}

/**
 * For the hook: is a Lifeline vzdump job backing up this guest to this storage right now? Then
 * its job reports the backup, and the hook must not. A lock whose holder died counts as free.
 */
export function lifelineBackupRunning(stateDir: string, vmid: number, storage: string): boolean {
  try {
    return isLockHeld(guestBackupLock(stateDir, vmid, storage));
  } catch {
    return false; // unreadable: report (a duplicate run is better than a missing one)
  }
}
