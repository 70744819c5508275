import { createRequire } from 'node:module';

// A test's change to a stand-in world (PVE, PBS, ZFS) takes the lock the stand-ins take
// (test/fixtures/pve/world-io.cjs): a stand-in still running from an earlier call reads the
// world, changes it and writes it back, and without the lock it wrote over the test's change
// made in between.

const io = createRequire(import.meta.url)('../fixtures/pve/world-io.cjs') as { updateWorldFile: (file: string, fn: (w: never) => unknown) => unknown };

/** Reads the world at `file`, lets `edit` change it and writes it whole, under the stand-ins' lock. */
export function editLocked<W>(file: string, edit: (w: W) => void): void {
  io.updateWorldFile(file, edit as (w: never) => void);
}
