import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';

// What a benchmark or a test makes in the temp directory is its own to remove: bench/evaluate.ts
// left ~240 MB with every run (8 GB on the development machine), and the suite hundreds of dirs.
test('the evaluation benchmark leaves nothing in the temp directory', () => {
  const tmp = mkdtempSync(join(tmpdir(), 'lifeline-bench-cleanup-'));
  try {
    // A tiny run: 5 agents × 2 jobs × 3 runs.
    const run = spawnSync(process.execPath, ['--import', 'tsx', 'bench/evaluate.ts', '5', '2', '3'], { encoding: 'utf8', env: { ...process.env, TMPDIR: tmp } });
    assert.equal(run.status, 0, run.stderr);
    assert.match(run.stdout, /evaluation benchmark: 10 jobs, 30 runs/);
    // tsx keeps its own cache there.
    assert.deepEqual(readdirSync(tmp).filter((f) => f.startsWith('lifeline-')), []);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
});

test("a test's temp dirs are gone when its process exits", () => {
  const tmp = mkdtempSync(join(tmpdir(), 'lifeline-leftovers-'));
  try {
    const helper = new URL('./helpers/temp.ts', import.meta.url).href;
    const script = `import { tempDir } from ${JSON.stringify(helper)}; import { writeFileSync } from 'node:fs'; writeFileSync(tempDir('lifeline-x-') + '/f', 'x'); tempDir();`;
    const run = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { encoding: 'utf8', env: { ...process.env, TMPDIR: tmp } });
    assert.equal(run.status, 0, run.stderr);
    assert.deepEqual(readdirSync(tmp).filter((f) => f.startsWith('lifeline-')), []);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
});
