import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { loadAgentConfig } from '../agent/config';
import { runJob } from '../agent/job-runner';
import type { Logger } from '../agent/logger';
import { Spool } from '../agent/spool';
import { writeAgentConfig } from './helpers/processes';

// The job runner's own warnings went to process.stderr, past the daemon's logger (and so past
// whatever the daemon does with its lines). They go through the logger it is given.
test('a last run that cannot be saved is a warning through the given logger, not a write to stderr', async () => {
  const agent = writeAgentConfig({ name: 'logs', jobs: '  - { name: etc, asset: etc, tier: 1, target: cloud, driver: command, command: ["true"] }\n' });
  const config = loadAgentConfig(agent.config);
  const spool = new Spool(join(config.stateDir, 'spool'), { maxBytes: 1 << 20, agent: config.name });
  writeFileSync(join(config.stateDir, 'runs'), 'not a directory'); // where the last run is kept
  const lines: string[] = [];
  const log: Logger = { info: (m) => lines.push(`info ${m}`), warn: (m) => lines.push(`warn ${m}`), error: (m) => lines.push(`error ${m}`) };
  const written: string[] = [];
  const write = process.stderr.write;
  process.stderr.write = ((chunk: string | Uint8Array) => (written.push(String(chunk)), true)) as typeof process.stderr.write;
  let result;
  try {
    result = await runJob(config.jobs[0], { config, spool, trigger: 'manual', task: 'backup', log });
  } finally {
    process.stderr.write = write;
  }
  assert.equal(result.reports[0].status, 'success');
  assert.equal(written.join(''), '', 'nothing written to stderr directly');
  assert.equal(lines.length, 1, lines.join('\n'));
  assert.match(lines[0], /^warn job etc: cannot save the last run for `status`: /);
});
