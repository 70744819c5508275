// `npm run bench`: builds the bundles, then runs every benchmark in bench/ and prints figures.
import { readdirSync } from 'node:fs';
import { build, ensureNodeModules, run } from './setup.mjs';

ensureNodeModules();
build();
const only = process.argv.slice(2);
const benches = only.length ? only : readdirSync('bench').filter((f) => f.endsWith('.ts') && !f.endsWith('-server.ts')).map((f) => `bench/${f}`);
for (const b of benches) {
  console.log(`\n=== ${b}`);
  run(process.execPath, ['--import', 'tsx', b]);
}
