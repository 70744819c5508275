// `npm test`: installs what the suite needs, type-checks, builds the bundles the tests run, runs every test.
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { build, ensureNodeModules, ensureSystemPackages, root, run } from './setup.mjs';

ensureSystemPackages();
ensureNodeModules();
// A type error fails the suite before any test runs (esbuild bundles without checking types).
run(process.execPath, ['node_modules/typescript/bin/tsc', '--noEmit', '-p', '.']);
build();

const files = readdirSync(join(root, 'test'), { recursive: true })
  .map(String)
  .filter((f) => f.endsWith('.test.ts'))
  .sort()
  .map((f) => join('test', f));
const only = process.argv.slice(2);
// Two files at a time: most of the suite waits on child processes (tools, agents, collectors,
// Chromium), so two overlap on a 2-core machine. Files never share a port (all listen on 0) or a
// system path (test/package-deb.test.ts alone installs into /usr and /etc, and builds elsewhere).
run(process.execPath, ['--import', 'tsx', '--test', '--test-concurrency=2', '--test-reporter=spec', ...(only.length ? only : files)]);
