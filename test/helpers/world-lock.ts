import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';

// A test's change to a stand-in world (PVE, PBS) takes the lock the stand-ins take
// (test/fixtures/pve/world-io.cjs: a `.lock` directory beside the file): a stand-in still running
// from an earlier call reads the world, changes it and writes it back, and without the lock it
// wrote over the test's change made in between.

const sleeper = new Int32Array(new SharedArrayBuffer(4));

/** Reads the world at `file`, lets `edit` change it and writes it whole, under the stand-ins' lock. */
export function editLocked<W>(file: string, edit: (w: W) => void): void {
  const lock = `${file}.lock`;
  const deadline = Date.now() + 10_000;
  for (;;) {
    try {
      mkdirSync(lock);
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      // As the stand-ins do: a holder that died leaves the lock behind, taken over after 10 s.
      if (Date.now() > deadline) rmSync(lock, { recursive: true, force: true });
      else Atomics.wait(sleeper, 0, 0, 2);
    }
  }
  try {
    const w = JSON.parse(readFileSync(file, 'utf8')) as W;
    edit(w);
    const tmp = `${file}.${process.pid}.tmp`;
    writeFileSync(tmp, JSON.stringify(w, null, 1));
    renameSync(tmp, file);
  } finally {
    rmSync(lock, { recursive: true, force: true });
  }
}
