import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

// Temp dirs of a test file, removed when its process exits: a run of the suite made hundreds,
// and they stayed (2 GB a day on the development machine).
const dirs: string[] = [];
process.once('exit', () => {
  for (const d of dirs) {
    try {
      rmSync(d, { recursive: true, force: true });
    } catch {
      // A child process still writing into it: nothing a test can do at exit.
    }
  }
});

/** A fresh temp dir, removed when the test process exits. */
export function tempDir(prefix = 'lifeline-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  dirs.push(dir);
  return dir;
}
