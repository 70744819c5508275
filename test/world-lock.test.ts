import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { test } from 'node:test';
import { tempDir } from './helpers/temp';
import { sleep } from './helpers/processes';

// A test's change to a stand-in world waits for the lock the stand-ins hold while they change it
// (pbs-cli.test.ts lost one to a stand-in still running from an earlier call, and failed in CI).
test("a test's change to a stand-in world waits for a stand-in that holds the world's lock", async () => {
  const file = join(tempDir('lifeline-world-lock-'), 'world.json');
  writeFileSync(file, JSON.stringify({ step: 0 }));
  mkdirSync(`${file}.lock`); // as a stand-in holds it in updateWorld
  const helper = new URL('./helpers/pbs.ts', import.meta.url).href;
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', `import { editWorld } from ${JSON.stringify(helper)}; console.log('editing'); editWorld(${JSON.stringify(file)}, (w) => { w.step = 1; });`], { stdio: ['ignore', 'pipe', 'inherit'] });
  const exited = new Promise<number | null>((res) => child.once('exit', res));
  await new Promise((res) => createInterface({ input: child.stdout! }).once('line', res));
  await sleep(300);
  assert.equal(JSON.parse(readFileSync(file, 'utf8')).step, 0, 'changed while a stand-in held the lock');
  rmSync(`${file}.lock`, { recursive: true });
  assert.equal(await exited, 0);
  assert.equal(JSON.parse(readFileSync(file, 'utf8')).step, 1);
});
