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
run(process.execPath, ['--import', 'tsx', '--test', '--test-reporter=spec', ...(only.length ? only : files)]);
