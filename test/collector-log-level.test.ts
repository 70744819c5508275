import assert from 'node:assert/strict';
import { test } from 'node:test';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { cli, COLLECTOR_BIN, startCollector, tempDir, waitFor } from './helpers/processes';

// A homelab service logs warnings and errors, and a line at start and stop; a line per request
// (every agent report, every page load) only with `logLevel: info`.
test('the collector logs no line per request by default; logLevel: info does', async () => {
  const quiet = await startCollector();
  const loud = await startCollector('logLevel: info\n');
  try {
    for (const c of [quiet, loud]) for (let i = 0; i < 3; i++) assert.equal((await fetch(`${c.url}/api/v1/status`)).status, 200);
    await waitFor('the request lines', () => loud.proc.output.includes('"url":"/api/v1/status"'));
    assert.match(quiet.proc.output, /listening on http:/, 'the start line stays');
    assert.doesNotMatch(quiet.proc.output, /"url":/);
  } finally {
    assert.equal(await quiet.stop(), 0);
    await loud.stop();
  }
  assert.match(quiet.proc.output, /SIGTERM, finishing in-flight requests/, 'and the stop line');
});

test('a logLevel that is not one is refused at load, naming the key', () => {
  const file = join(tempDir(), 'collector.yaml');
  writeFileSync(file, 'logLevel: loud\n');
  const r = cli(COLLECTOR_BIN, ['check-config', '--config', file]);
  assert.notEqual(r.code, 0);
  assert.match(r.stderr + r.stdout, /logLevel.*expected error, warn, info or debug/);
});
