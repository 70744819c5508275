import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { Spool, SpoolWriteError } from '../agent/spool';
import type { RunMessage } from '../shared/protocol';
import { AGENT_BIN, Proc, cliAsync, enrollAgent, sleep, startCollector, tempDir, waitFor, writeAgentConfig, type Collector } from './helpers/processes';

// Issue 10, defect 1: a nearly full agent state filesystem. Each case runs on a real, small
// tmpfs (tests run as root), filled with a real file until write(2) says ENOSPC, so the last
// writes are short writes, as on a real disk.

const mounts: string[] = [];
const cleanups: (() => unknown)[] = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
  for (const m of mounts) execFileSync('umount', ['-l', m]);
});

function tmpfs(size: string, inodes = 10_000): string {
  const dir = tempDir('lifeline-tmpfs-');
  execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size},nr_inodes=${inodes},mode=0700`, 'tmpfs', dir]);
  mounts.push(dir);
  return dir;
}

/** Fills the filesystem holding `dir` until ENOSPC, leaving `leave` bytes' worth of blocks free; returns the filler's path. */
function fill(dir: string, leave = 0): string {
  const filler = join(dir, `filler-${Math.random().toString(36).slice(2)}`);
  const fd = openSync(filler, 'w');
  try {
    for (const chunk of [1 << 20, 1 << 16, 4096]) {
      const buf = Buffer.alloc(chunk, 1);
      for (;;) {
        try {
          if (writeSync(fd, buf) < chunk) break;
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err;
          break;
        }
      }
    }
  } finally {
    closeSync(fd);
  }
  if (leave > 0) execFileSync('truncate', ['-s', `-${leave}`, filler]);
  return filler;
}

const jsonIn = (dir: string) => readdirSync(dir).filter((f) => /^\d{20}\.json$/.test(f));
const tmpIn = (dir: string) => readdirSync(dir).filter((f) => f.endsWith('.tmp'));
const bigRun = (kb: number): Omit<RunMessage, 'agent' | 'seq' | 'sentAt'> => ({
  kind: 'run', runId: '5b6f7a4e-4a39-4d5c-9a8e-3b2f1c0d9e8f', job: 'etc', operation: 'backup', trigger: 'manual',
  startedAt: new Date().toISOString(), finishedAt: new Date().toISOString(), status: 'success', exitCode: 0, durationMs: 1,
  logTail: 'x'.repeat(kb * 1024),
});

test('a message that does not fit is not in the spool at all: no cut-short file, no temp file, counted as lost', () => {
  const mnt = tmpfs('4m');
  // Filled before the spool exists, so it cannot make its reserve: the bare short-write case.
  const filler = fill(mnt, 40 * 1024);
  const spool = new Spool(join(mnt, 'spool'), { maxBytes: 1e9, agent: 'a1' });
  assert.throws(() => spool.append(bigRun(100)), (err: unknown) => err instanceof SpoolWriteError && /no space left on the filesystem holding/.test(err.message));
  assert.deepEqual(jsonIn(spool.dir), [], 'no message file, least of all a cut-short one');
  assert.deepEqual(tmpIn(spool.dir), [], 'no temp file left behind');
  const stats = spool.stats();
  assert.equal(stats.lost, 1);
  assert.match(stats.error ?? '', /cannot spool: no space left/);
  // A small message still fits, and every file in the spool is whole.
  spool.append({ kind: 'heartbeat', uptimeMs: 1, spool: { pending: 0, dropped: 0 } });
  assert.equal(spool.pending(10).length, 1);
  rmSync(filler);
  assert.equal(spool.stats().error, null, 'room again: the spool makes its reserve and says it is healthy');
  assert.ok(existsSync(join(spool.dir, 'reserve')));
  assert.equal(spool.stats().lost, 1, 'the lost count was written once there was room');
});

test('with its reserve, a spool on a full disk still stores a finished backup\'s result, whole', () => {
  const mnt = tmpfs('4m');
  const spool = new Spool(join(mnt, 'spool'), { maxBytes: 1e9, agent: 'a1' });
  fill(mnt);
  const msg = spool.append(bigRun(200));
  const [stored] = spool.pending(10);
  assert.deepEqual(stored.message, msg, 'the whole message, parsed back');
  assert.match(spool.stats().error ?? '', /full/);
  assert.deepEqual(tmpIn(spool.dir), []);
});

async function agentOnTmpfs(collector: Collector, jobs: string) {
  const mnt = tmpfs('8m');
  const agent = writeAgentConfig({ name: 'fullhost', collector: collector.url, heartbeat: '1s', jobs });
  // The state directory (spool, key, locks, last runs) on the small filesystem.
  const stateDir = join(mnt, 'state');
  writeFileSync(agent.config, readFileSync(agent.config, 'utf8').replace(`stateDir: ${agent.stateDir}`, `stateDir: ${stateDir}`));
  const setup = { ...agent, stateDir };
  enrollAgent(setup, collector);
  return { mnt, agent: setup };
}

const JOBS = `  - name: big
    asset: etc
    tier: 1
    target: local-disk
    driver: command
    schedule: "0 3 * * *"
    retry: { attempts: 0 }
    command: [${JSON.stringify(process.execPath)}, -e, "process.stdout.write('log line\\\\n'.repeat(20000))"]
`;

test('on a full disk a finished backup is reported (never "running forever"), the collector is told the agent cannot spool, and a run that cannot be recorded exits 5', async () => {
  const collector = await startCollector('incidents: { evaluateEvery: 1s, flap: 0s }\n');
  cleanups.push(() => collector.stop());
  const { mnt, agent } = await agentOnTmpfs(collector, JOBS);
  const before = new Proc(AGENT_BIN, ['daemon', '--config', agent.config]);
  cleanups.push(() => before.stop());
  await waitFor('the agent seen', async () => (await collector.status()).agents.some((a) => a.name === 'fullhost' && a.lastSeen));
  // Stopped while the disk fills and the run meets it: its 1 s heartbeats would race the run for
  // the reserve (whoever writes first into the full disk gives it up).
  await before.stop();
  const filler = fill(mnt);

  // 1. The disk is full; the run's messages go into the spool's reserve.
  const first = await cliAsync(AGENT_BIN, ['run', 'big', '--config', agent.config]);
  assert.equal(first.code, 0, first.stderr + first.stdout);
  assert.match(first.stderr, /is full: the spool is writing into its last reserve/);
  const run = await waitFor('the run at the collector', async () => (await collector.status()).jobs.find((j) => j.name === 'big')?.lastRun);
  assert.equal(run.status, 'success', 'the result arrived: not running forever');
  assert.ok(run.hasLog);
  const daemon = new Proc(AGENT_BIN, ['daemon', '--config', agent.config]);
  cleanups.push(() => daemon.stop());

  // 2. The daemon's heartbeat says so, and the collector opens an incident naming the host.
  const incident = await waitFor('a cannot-spool incident', async () => (await collector.status()).incidents.find((i) => (i as { rule: string }).rule === 'cannot-spool') as { title: string } | undefined);
  assert.equal(incident.title, 'Agent cannot spool: disk full on fullhost');

  // 3. The reserve is spent and the disk full again: the run cannot be recorded, and says so.
  fill(mnt);
  const second = await cliAsync(AGENT_BIN, ['run', 'big', '--config', agent.config]);
  assert.equal(second.code, 5, second.stderr);
  // Not even the job lock fits: no lock, no run (two at once would be worse), and it says why.
  assert.match(second.stdout, /big backup: failure .*cannot take the job lock: no space left on the filesystem holding/);
  assert.match(second.stderr, /2 report\(s\) of this run could not be recorded, so the collector will never see them \(backup failure\): cannot store the hello message in the spool: no space left/);
  const spoolDir = join(agent.stateDir, 'spool');
  assert.deepEqual(tmpIn(spoolDir), [], 'no temp files left behind');
  for (const f of jsonIn(spoolDir)) JSON.parse(readFileSync(join(spoolDir, f), 'utf8'));
  const status = await cliAsync(AGENT_BIN, ['status', '--config', agent.config]);
  assert.equal(status.code, 0);
  assert.match(status.stdout, /spool: \d+ pending, 0 dropped, 0 set aside, [1-9]\d* lost/);
  assert.match(status.stdout, /CANNOT SPOOL: .*full/);
  assert.equal(daemon.child.exitCode, null, `the daemon runs on:\n${daemon.output}`);

  // 4. Room again: the daemon recovers on its own and the incident resolves.
  rmSync(filler);
  for (const f of readdirSync(mnt)) if (f.startsWith('filler-')) rmSync(join(mnt, f));
  await waitFor('the incident resolved', async () => !(await collector.status()).incidents.some((i) => (i as { rule: string }).rule === 'cannot-spool'), 20_000);
  assert.match(daemon.output, /can store messages again/);
  assert.doesNotMatch(daemon.output, /unexpected error|    at /, 'no stack trace');
});

test('a daemon whose state directory is removed recreates it (key and enrollment too), runs its next job and never dies of a timer', async () => {
  const collector = await startCollector();
  cleanups.push(() => collector.stop());
  const agent = writeAgentConfig({
    name: 'wiped', collector: undefined, heartbeat: '1s',
    jobs: `  - name: tick
    asset: etc
    tier: 3
    target: local-disk
    driver: command
    schedule: "*/2 * * * * *"
    command: ["true"]
`,
  });
  enrollAgent(agent, collector);
  const daemon = new Proc(AGENT_BIN, ['daemon', '--config', agent.config]);
  cleanups.push(() => daemon.stop());
  await waitFor('a first run', async () => (await collector.status()).jobs.find((j) => j.name === 'tick')?.lastRun?.status === 'success');
  const keyBefore = readFileSync(join(agent.stateDir, 'agent.key'), 'utf8');

  // The daemon writes on meanwhile: the directory goes at once (moved away, then deleted), as
  // rm -rf would leave it in the end; rm -rf itself races the daemon refilling it.
  renameSync(agent.stateDir, `${agent.stateDir}.removed`);
  rmSync(`${agent.stateDir}.removed`, { recursive: true, force: true });
  const before = (await collector.status()).jobs.find((j) => j.name === 'tick')!.lastRun!.runId;
  await waitFor('a run after the removal', async () => {
    const last = (await collector.status()).jobs.find((j) => j.name === 'tick')?.lastRun;
    return last && last.runId !== before && last.status === 'success';
  });
  assert.equal(daemon.child.exitCode, null, `the daemon runs on:\n${daemon.output}`);
  assert.match(daemon.output, /state directory .* was removed under the running agent: recreated .*the agent key .*the enrollment/);
  assert.doesNotMatch(daemon.output, /ENOENT.*\n\s+at |unexpected error/);
  assert.equal(readFileSync(join(agent.stateDir, 'agent.key'), 'utf8'), keyBefore, 'the same identity, written back');
  assert.equal(execFileSync('stat', ['-c', '%a', join(agent.stateDir, 'agent.key')], { encoding: 'utf8' }).trim(), '600');
  // After a restart it still knows its collector and key.
  await daemon.stop();
  const again = new Proc(AGENT_BIN, ['daemon', '--config', agent.config]);
  cleanups.push(() => again.stop());
  await waitFor('the restarted daemon reporting', () => /starting as wiped/.test(again.output));
  await new Promise((r) => setTimeout(r, 1500));
  assert.equal(again.child.exitCode, null, again.output);

  // Its contents removed but the directory left (`rm -rf state/*`, or the spool recreating the
  // directory for its next message before the daemon looks): the key and the enrollment, with
  // all it pinned, are written back all the same.
  const enrollment = readFileSync(join(agent.stateDir, 'enrollment.json'), 'utf8');
  for (const f of readdirSync(agent.stateDir)) {
    renameSync(join(agent.stateDir, f), join(tempDir('lifeline-removed-'), f));
  }
  await waitFor('the key and enrollment written back', () => existsSync(join(agent.stateDir, 'agent.key')) && existsSync(join(agent.stateDir, 'enrollment.json')), 10_000);
  assert.equal(readFileSync(join(agent.stateDir, 'agent.key'), 'utf8'), keyBefore);
  assert.deepEqual(JSON.parse(readFileSync(join(agent.stateDir, 'enrollment.json'), 'utf8')), JSON.parse(enrollment));
  mkdirSync(join(agent.stateDir, 'spool'), { recursive: true });
});

test('a daemon started on a full disk either runs whole (spool errors logged, nothing crashes) or exits 1 naming the path: never half started', async () => {
  const collector = await startCollector();
  cleanups.push(() => collector.stop());
  const agent = writeAgentConfig({
    name: 'startfull', collector: collector.url, heartbeat: '1s',
    jobs: `  - { name: etc, asset: etc, tier: 3, target: local-disk, driver: command, command: ["true"] }\n`,
  });
  enrollAgent(agent, collector); // the key stays on the roomy disk
  // tmpfs directories take no blocks, only inodes: 64 of them, all used up below.
  const mnt = tmpfs('4m', 64);
  const stateDir = join(mnt, 'state');
  const yaml = readFileSync(agent.config, 'utf8').replace(`stateDir: ${agent.stateDir}`, `stateDir: ${stateDir}\n  keyFile: ${join(agent.stateDir, 'agent.key')}`);
  writeFileSync(agent.config, yaml);
  fill(mnt);
  const eaters = join(mnt, 'inodes');
  mkdirSync(eaters);
  for (let i = 0; ; i++) {
    try {
      writeFileSync(join(eaters, String(i)), '');
    } catch {
      break;
    }
  }

  // No room for even the spool directory: it cannot start, says where and why, and exits.
  const refused = new Proc(AGENT_BIN, ['daemon', '--config', agent.config]);
  cleanups.push(() => refused.stop('SIGKILL'));
  const code = await Promise.race([refused.exited, sleep(15_000).then(() => 'still running')]);
  assert.equal(code, 1, refused.output);
  assert.match(refused.output, new RegExp(`cannot start: no space left on the filesystem holding ${stateDir}`));
  assert.doesNotMatch(refused.output, /\n\s+at |unexpected error/);

  // With its spool directory there, it runs: a full spool is logged, and the daemon lives on.
  rmSync(eaters, { recursive: true });
  mkdirSync(join(stateDir, 'spool'), { recursive: true });
  const daemon = new Proc(AGENT_BIN, ['daemon', '--config', agent.config]);
  cleanups.push(() => daemon.stop());
  await waitFor('the spool failure logged', () => /cannot store the hello message in the spool: no space left.*reports are lost until there is room again/.test(daemon.output));
  await new Promise((r) => setTimeout(r, 2500)); // heartbeats that cannot be stored either
  assert.equal(daemon.child.exitCode, null, daemon.output);
  assert.doesNotMatch(daemon.output, /\n\s+at |unexpected error/);
  assert.equal(await daemon.stop(), 0);
});
