import assert from 'node:assert/strict';
import { appendFileSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { loadAgentConfig } from '../agent/config';
import { HISTORY_WINDOW_MS, reportTaskHistory } from '../agent/proxmox/history';
import { wrapperScript } from '../agent/proxmox/install-hook';
import { vzdumpRunId } from '../agent/proxmox/reported';
import { Spool } from '../agent/spool';
import { messageSchema, type RunMessage } from '../shared/protocol';
import Database from 'better-sqlite3';
import { AGENT_BIN, enrollAgent, Proc, sleep, startCollector, waitFor, writeAgentConfig } from './helpers/processes';
import { HOOK_BIN, proxmoxSection, readVzdumpWorld, runVzdump, setVzdumpScript, standInSize, vzdumpWorld, type VzdumpWorld } from './helpers/vzdump-world';

// Backups that ran without the hook, found in vzdump's task history (the task index, the active
// list and each task's log). vzdump is a stand-in (test/fixtures/pve/bin/vzdump) replaying
// pve-manager's documented behaviour: task logs at <taskDir>/<last hex digit of the start>/<UPID>
// with the job's command line, each guest's lines and the status line; the index and active
// files in PVE's formats (../shared/REFERENCE-INTEGRATIONS.md §1–2).

function agentFor(w: VzdumpWorld) {
  const agent = writeAgentConfig({ name: 'pve1', jobs: '  []\n' });
  appendFileSync(agent.config, proxmoxSection(w));
  const config = loadAgentConfig(agent.config);
  const spool = new Spool(join(config.stateDir, 'spool'), { maxBytes: config.spool.maxBytes, agent: config.name });
  const runs = () =>
    spool
      .pending(1000)
      .map((p) => messageSchema.parse(p.message))
      .filter((m): m is RunMessage => m.kind === 'run');
  const scan = (now?: number) => reportTaskHistory({ config, proxmox: config.proxmox!, spool, now });
  return { agent, config, spool, runs, scan };
}

test('backups run without the hook are reported from the task history, each once', async () => {
  const w = vzdumpWorld({ fail: { 101: 'vma_queue_write: write error - Broken pipe' } });
  assert.equal(runVzdump(w, ['100', '101', '102', '--mode', 'snapshot', '--storage', 'local', '--compress', 'zstd']).code, 255);
  assert.equal(runVzdump(w, ['100', '--mode', 'snapshot', '--storage', 'pbs1']).code, 0);
  const a = agentFor(w);

  assert.equal(await a.scan(), 4);
  const runs = a.runs();
  const world = readVzdumpWorld(w);
  const copy = (storage: string, vmid: number) => world.content[storage].find((c) => c.vmid === vmid)!;
  assert.deepEqual(
    runs.map((r) => [r.job, r.status, r.trigger, r.bytesTotal, r.snapshotId, r.error]),
    [
      ['vzdump-100-local', 'success', 'schedule', standInSize(100), copy('local', 100).volid.replace('local:backup/', ''), undefined],
      ['vzdump-101-local', 'failure', 'schedule', undefined, undefined, 'vma_queue_write: write error - Broken pipe'],
      ['vzdump-102-local', 'success', 'schedule', standInSize(102), copy('local', 102).volid.replace('local:backup/', ''), undefined],
      ['vzdump-100-pbs1', 'success', 'schedule', standInSize(100), copy('pbs1', 100).volid.replace('pbs1:backup/', ''), undefined],
    ],
  );
  for (const r of runs) {
    // Times from the task log: "Backup started at", and the duration "Finished Backup … (HH:MM:SS)".
    assert.equal(Date.parse(r.startedAt) % 1000, 0);
    assert.ok(r.durationMs >= 0 && r.durationMs < 60_000, `${r.job}: ${r.durationMs} ms`);
    assert.match(r.logTail, /^vzdump task UPID:pve1:[0-9A-F]{8}:[0-9A-F]{8,9}:[0-9A-F]{8}:vzdump:\d*:root@pam: \(read from the task history\)\n/);
  }
  assert.match(runs[1].logTail, /ERROR: Backup of VM 101 failed - vma_queue_write: write error - Broken pipe/);
  // The run id is the one the hook would have given the same backup (its time from the archive name).
  const c100 = copy('local', 100);
  assert.equal(runs[0].runId, vzdumpRunId('pve1', 100, 'local', c100.ctime));

  assert.equal(await a.scan(), 0, 'the second scan reports nothing');
  assert.equal(a.runs().length, 4);
});

test('backups the hook reported are not reported again from the history', async () => {
  const w = vzdumpWorld({ fail: { 102: 'unable to open file' } });
  const a = agentFor(w);
  const wrapper = join(w.dir, 'vzdump-hook');
  writeFileSync(wrapper, wrapperScript({ nodeBin: process.execPath, hookBundle: HOOK_BIN, configFile: a.agent.config, cacheFile: join(a.config.stateDir, 'vzdump', 'hook-settings.json') }), { mode: 0o755 });
  setVzdumpScript(w, wrapper);
  assert.equal(runVzdump(w, ['100', '101', '102', '--storage', 'local']).code, 255);
  const byHook = a.runs();
  assert.deepEqual(byHook.map((r) => [r.job, r.status]), [['vzdump-100-local', 'success'], ['vzdump-101-local', 'success'], ['vzdump-102-local', 'failure']]);
  let told = 0;
  assert.equal(await reportTaskHistory({ config: a.config, proxmox: a.config.proxmox!, spool: a.spool, onSpooled: () => told++ }), 0);
  assert.equal(told, 0);
  assert.equal(a.runs().length, 3);

  // The hook removed (vzdump.conf edited back): the next job is found in the history instead.
  setVzdumpScript(w, undefined);
  assert.equal(runVzdump(w, ['101', '--storage', 'local']).code, 0);
  assert.equal(await reportTaskHistory({ config: a.config, proxmox: a.config.proxmox!, spool: a.spool, onSpooled: () => told++ }), 1);
  assert.equal(told, 1);
  assert.deepEqual(a.runs().map((r) => r.job), ['vzdump-100-local', 'vzdump-101-local', 'vzdump-102-local', 'vzdump-101-local']);
});

test('a task still running is read once it has ended; a guest with no result is a failure', async () => {
  const w = vzdumpWorld();
  const a = agentFor(w);
  const start = Math.floor(Date.now() / 1000) - 60;
  const hex8 = (n: number) => n.toString(16).toUpperCase().padStart(8, '0');
  const upid = `UPID:pve1:${hex8(4242)}:${hex8(99)}:${hex8(start)}:vzdump:100:root@pam:`;
  const taskDir = readVzdumpWorld(w).taskDir;
  mkdirSync(join(taskDir, hex8(start).slice(-1)), { recursive: true });
  writeFileSync(
    join(taskDir, hex8(start).slice(-1), upid),
    "INFO: starting new backup job: vzdump 100 --storage local\nINFO: Starting Backup of VM 100 (qemu)\nINFO: Backup started at 2026-01-31 02:00:03\nINFO: creating vzdump archive '/var/lib/vz/dump/vzdump-qemu-100-2026_01_31-02_00_03.vma'\n",
  );
  writeFileSync(join(taskDir, 'active'), `${upid} 0\n`);
  assert.equal(await a.scan(), 0, 'running: not read yet');
  // It ended without a word for the guest (killed): the index says how the task ended.
  writeFileSync(join(taskDir, 'active'), `${upid} 1 ${hex8(start + 30)} unexpected status\n`);
  assert.equal(await a.scan(), 1);
  const [run] = a.runs();
  assert.equal(run.status, 'failure');
  assert.equal(run.error, 'the task log has no result for VM 100 (task ended: unexpected status)');
  assert.equal(run.finishedAt, new Date((start + 30) * 1000).toISOString());
});

test('tasks older than the window are not read, and what is remembered of them is let go', async () => {
  const w = vzdumpWorld();
  assert.equal(runVzdump(w, ['100', '--storage', 'local']).code, 0);
  const a = agentFor(w);
  assert.equal(await a.scan(Date.now() + HISTORY_WINDOW_MS + 86_400_000), 0);
  assert.equal(await a.scan(), 1);
  assert.equal(readdirSync(join(a.config.stateDir, 'vzdump', 'reported')).length, 1);
  assert.equal(await a.scan(Date.now() + HISTORY_WINDOW_MS + 3 * 86_400_000), 0);
  assert.deepEqual(readdirSync(join(a.config.stateDir, 'vzdump', 'reported')), []);
});

test('the daemon reads the task history when it scans, and the collector gets each backup once', async (t) => {
  const collector = await startCollector();
  t.after(() => collector.stop('SIGKILL'));
  const w = vzdumpWorld({ fail: { 102: 'command \'lxc-freeze -n 102\' failed: exit code 1' } });
  assert.equal(runVzdump(w, ['100', '101', '102', '--mode', 'snapshot', '--storage', 'local', '--compress', 'zstd']).code, 255);
  const agent = writeAgentConfig({ name: 'pve-hist', jobs: '  []\n', heartbeat: '1s' });
  appendFileSync(agent.config, proxmoxSection(w));
  enrollAgent(agent, collector);
  const rows = () => {
    const db = new Database(collector.db, { readonly: true, fileMustExist: true });
    try {
      return db.prepare(`SELECT r.job, r.status, r.error FROM runs r JOIN agents a ON a.id = r.agent_id WHERE a.name = 'pve-hist' ORDER BY r.job`).all() as { job: string; status: string; error: string | null }[];
    } finally {
      db.close();
    }
  };
  let daemon = new Proc(AGENT_BIN, ['daemon', '--config', agent.config], { PVE_WORLD: w.file });
  t.after(() => daemon.stop('SIGKILL'));
  const runs = await waitFor('three runs from the task history', () => (rows().length === 3 ? rows() : null), 30_000);
  assert.deepEqual(runs, [
    { job: 'vzdump-100-local', status: 'success', error: null },
    { job: 'vzdump-101-local', status: 'success', error: null },
    { job: 'vzdump-102-local', status: 'failure', error: "command 'lxc-freeze -n 102' failed: exit code 1" },
  ]);
  // Stopped, a backup runs meanwhile; restarted, the daemon scans at start: that one is new, the
  // three before it are not sent again.
  await daemon.stop();
  assert.equal(runVzdump(w, ['101', '--storage', 'local']).code, 0);
  daemon = new Proc(AGENT_BIN, ['daemon', '--config', agent.config], { PVE_WORLD: w.file });
  await waitFor('the backup made while the daemon was stopped', () => rows().length >= 4, 30_000);
  await sleep(3000); // a few heartbeats: anything else spooled would arrive
  assert.deepEqual(rows().map((r) => r.job), ['vzdump-100-local', 'vzdump-101-local', 'vzdump-101-local', 'vzdump-102-local']);
  assert.doesNotMatch(daemon.output, /task history not read/);
});
