import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import semver from 'semver';

// The README promises Node 20: `npm ci` must not warn EBADENGINE for any locked package (once
// fastify's light-my-request pulled cookie 2, which wants Node 22; package.json pins it back).
test('every package in package-lock.json accepts this Node (no EBADENGINE on npm ci)', () => {
  const lock = JSON.parse(readFileSync(new URL('../package-lock.json', import.meta.url), 'utf8')) as {
    packages: Record<string, { engines?: { node?: string } | string[] }>;
  };
  const bad: string[] = [];
  for (const [path, pkg] of Object.entries(lock.packages)) {
    const range = !Array.isArray(pkg.engines) ? pkg.engines?.node : undefined;
    if (range && !semver.satisfies(process.version, range, { includePrerelease: true })) bad.push(`${path || 'lifeline'}: node ${range}`);
  }
  assert.deepEqual(bad, [], `packages that refuse Node ${process.version}`);
  assert.ok(semver.satisfies('20.0.0', JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')).engines.node), 'package.json itself says Node 20');
});
