import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { AGENT_BIN, cliAsync, enrollAgent, startCollector, waitFor, writeAgentConfig, type CliResult } from './helpers/processes';

// Issue 10, defect 3: an agent whose clock runs 2 h ahead (NTP broken). The agent runs under
// libfaketime (Debian's faketime), the collector on the real clock; both are the real bundles.

const cleanups: (() => unknown)[] = [];
after(async () => {
  for (const c of cleanups) await c();
});

function fakedAgent(offset: string, args: string[]): Promise<CliResult> {
  return new Promise((res) => {
    const child = spawn('faketime', ['-f', offset, process.execPath, AGENT_BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('close', (code) => res({ code, stdout, stderr }));
  });
}

test('a run from an agent 2 h ahead is believed as of its arrival: no negative age, no hidden RPO breach, a later real run is the newest, and the skew is called "ahead"', async () => {
  // RPO 4 s: the breach that a 2 h skew would hide for 2 h shows within seconds.
  const collector = await startCollector('incidents: { evaluateEvery: 1s, flap: 0s }\ntiers: { 1: { rpo: 4s } }\n');
  cleanups.push(() => collector.stop());
  // Only `run`, no daemon: no host facts ever carry a clock offset.
  const agent = writeAgentConfig({
    name: 'ahead',
    jobs: `  - { name: etc, asset: etc, tier: 1, target: cloud, driver: command, command: [sh, -c, "echo copied"] }\n`,
  });
  enrollAgent(agent, collector);
  const lastRunId = () => (JSON.parse(readFileSync(join(agent.stateDir, 'runs', 'etc.json'), 'utf8')) as { runId: string }).runId;

  const faked = await fakedAgent('+2h', ['run', 'etc', '--config', agent.config]);
  assert.equal(faked.code, 0, faked.stderr);
  const fakedRun = lastRunId();
  const overview = async () => (await (await fetch(`${collector.url}/api/v1/overview`)).json()) as { tiers: { assets: { asset: string; ageMs: number | null; rpoOk: boolean }[] }[] };
  const etc = async () => (await overview()).tiers.flatMap((t) => t.assets).find((a) => a.asset === 'etc')!;
  const fresh = await etc();
  assert.ok(fresh.ageMs !== null && fresh.ageMs >= 0 && fresh.ageMs < 60_000, `age ${fresh.ageMs} ms: as of its arrival, not 2 h in the future`);
  const status = await collector.status();
  const run = status.jobs.find((j) => j.name === 'etc')!.lastRun!;
  assert.equal(run.runId, fakedRun);
  assert.ok(Date.parse(run.finishedAt!) <= Date.now(), `stored finish ${run.finishedAt} is not in the collector's future`);

  // The RPO breach shows after the RPO, not after RPO + 2 h; the metric is never negative.
  const breached = await waitFor('the RPO breach', async () => {
    const a = await etc();
    return a.rpoOk === false ? a : null;
  }, 15_000);
  assert.ok(breached.ageMs! > 4000);
  const metrics = await (await fetch(`${collector.url}/metrics`)).text();
  const age = Number(/^lifeline_asset_rpo_age_seconds\{[^}]*asset="etc"[^}]*\} (\S+)$/m.exec(metrics)?.[1]);
  assert.ok(age > 4, `lifeline_asset_rpo_age_seconds ${age}`);

  // The skew is measured on the request itself and named in the right direction.
  const skew = await waitFor('the clock-skew incident', async () => (await collector.status()).incidents.find((i) => (i as { rule: string }).rule === 'clock-skew') as { title: string } | undefined);
  assert.match(skew.title, /^Clock of ahead is (1h 59m|2h) ahead$/);

  // A later run on a correct clock is the newest run, not the one stamped 2 h ahead.
  const real = await cliAsync(AGENT_BIN, ['run', 'etc', '--config', agent.config]);
  assert.equal(real.code, 0, real.stderr);
  const realRun = lastRunId();
  assert.notEqual(realRun, fakedRun);
  assert.equal((await collector.status()).jobs.find((j) => j.name === 'etc')!.lastRun!.runId, realRun);
  assert.ok((await etc()).rpoOk, 'fresh again');
});

test('an agent clock 2 h behind is called "behind", and its runs are not taken as 2 h old', async () => {
  const collector = await startCollector('incidents: { evaluateEvery: 1s, flap: 0s }\n');
  cleanups.push(() => collector.stop());
  const agent = writeAgentConfig({
    name: 'behind',
    jobs: `  - { name: etc, asset: etc, tier: 1, target: cloud, driver: command, command: ["true"] }\n`,
  });
  enrollAgent(agent, collector);
  const faked = await fakedAgent('-2h', ['run', 'etc', '--config', agent.config]);
  assert.equal(faked.code, 0, faked.stderr);
  const skew = await waitFor('the clock-skew incident', async () => (await collector.status()).incidents.find((i) => (i as { rule: string }).rule === 'clock-skew') as { title: string } | undefined);
  assert.match(skew.title, /^Clock of behind is (1h 59m|2h) behind$/);
  const run = (await collector.status()).jobs.find((j) => j.name === 'etc')!.lastRun!;
  assert.ok(Date.now() - Date.parse(run.finishedAt!) < 60_000, `finish ${run.finishedAt} corrected by the measured skew`);
});
