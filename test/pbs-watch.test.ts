import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { loadAgentConfig, type AgentConfig } from '../agent/config';
import { PbsWatcher } from '../agent/pbs/watch';
import type { Unsequenced } from '../shared/protocol';
import { editWorld, pbsYaml, sampleWorld, startPbsApi, writeTokenFile, writeWorld, type PbsApiServer } from './helpers/pbs';
import { tempDir } from './helpers/processes';

// The daemon's PBS loop body (agent/pbs/watch.ts) in this process, against the stand-in PBS API
// of test/helpers/pbs.ts (HTTPS on loopback, self-signed), since no PBS can run here; it replays
// ../shared/REFERENCE-INTEGRATIONS.md §5. The spool is a list here, one that can refuse appends.

let world: string;
let api: PbsApiServer;
before(async () => {
  world = writeWorld(sampleWorld());
  api = await startPbsApi(world);
});
after(() => api.stop());

function setup() {
  const dir = tempDir('lifeline-pbs-watch-');
  const file = join(dir, 'agent.yaml');
  writeFileSync(file, `agent: { name: pbs1, stateDir: ${join(dir, 'state')} }\n${pbsYaml({ url: api.url, fingerprint: api.fingerprint, tokenSecretFile: writeTokenFile(dir), scan: '10s', extra: '  exclude: [scratch]\n' })}`);
  const config: AgentConfig = loadAgentConfig(file);
  const spooled: Unsequenced[] = [];
  const logs: string[] = [];
  let room = Infinity;
  let hellos = 0;
  const opts = {
    stateDir: config.stateDir,
    agent: 'pbs1',
    log: { info: (m: string) => logs.push(`info: ${m}`), warn: (m: string) => logs.push(`warn: ${m}`), error: (m: string) => logs.push(`error: ${m}`) },
    enqueue: (m: Unsequenced) => {
      if (room <= 0) return false;
      room--;
      spooled.push(m);
      return true;
    },
    hello: () => {
      hellos++;
      return true;
    },
  };
  return { config, spooled, logs, opts, setRoom: (n: number) => (room = n), hellos: () => hellos };
}

test('a spool that cannot store every report: what was stored is remembered, the rest comes with the next scan, nothing twice', async () => {
  const s = setup();
  const watcher = new PbsWatcher(s.opts);
  s.setRoom(10); // the pbs message, 4 inventories, then 5 of the 8 runs and run-starts
  await watcher.scan(s.config);
  const firstRuns = s.spooled.filter((m) => m.kind === 'run' || m.kind === 'run-start');
  assert.deepEqual([s.spooled.length, firstRuns.length], [10, 5]);
  s.setRoom(Infinity);
  await watcher.scan(s.config);
  const runs = s.spooled.filter((m) => m.kind === 'run' || m.kind === 'run-start') as { runId: string }[];
  assert.equal(runs.length, 8, 'the rest came');
  assert.equal(new Set(runs.map((r) => r.runId)).size, runs.length, 'no run twice');
  assert.equal(s.spooled.filter((m) => m.kind === 'pbs').length, 1);
  assert.equal(s.hellos(), 1, 'the catalog said once');
  const count = s.spooled.length;
  await new PbsWatcher(s.opts).scan(s.config); // a restarted daemon
  assert.equal(s.spooled.length, count, 'nothing again after a restart');
});

test('a failed scan is logged once per cause, and its end once', async () => {
  const s = setup();
  const watcher = new PbsWatcher(s.opts);
  editWorld(world, (w) => (w.fail = { 'api:/status/datastore-usage': 'datastore store1 not mounted' }));
  await watcher.scan(s.config);
  editWorld(world, (w) => (w.fail = { 'api:/status/datastore-usage': 'datastore store1 not mounted' }));
  await watcher.scan(s.config);
  const failures = s.logs.filter((l) => l.startsWith('error: pbs scan failed'));
  assert.equal(failures.length, 1, s.logs.join('\n'));
  assert.match(failures[0], /GET \/status\/datastore-usage: PBS answered 500: datastore store1 not mounted/);
  assert.equal(s.spooled.length, 0, "nothing spooled by a failed scan");
  await watcher.scan(s.config);
  assert.ok(s.logs.includes('info: pbs scan works again'));
  assert.ok(s.spooled.some((m) => m.kind === 'pbs'));
});
