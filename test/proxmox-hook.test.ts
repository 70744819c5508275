import assert from 'node:assert/strict';
import { appendFileSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import Database from 'better-sqlite3';
import { AGENT_BIN, cli, enrollAgent, Proc, startCollector, waitFor, writeAgentConfig, type Collector } from './helpers/processes';
import { hookCalls, proxmoxSection, runVzdump, setVzdumpScript, standInSize, vzdumpWorld, type VzdumpWorld } from './helpers/vzdump-world';

// Backups configured in the Proxmox UI, reported through the vzdump hook: real collector, real
// agent daemon, the built hook bundle behind the wrapper `proxmox install-hook` writes. vzdump
// itself is a stand-in (test/fixtures/pve/bin/vzdump) replaying pve-manager's documented
// behaviour: the argv, the hook called with an emptied environment, the phase order, the task
// and per-guest logs, archive and PBS names (../shared/REFERENCE-INTEGRATIONS.md §1–2).

interface RunRow {
  runId: string;
  job: string;
  trigger: string;
  status: string;
  startedAt: number;
  finishedAt: number | null;
  durationMs: number | null;
  bytesTotal: number | null;
  snapshotId: string | null;
  error: string | null;
}

function runsOf(collector: Collector, agent: string): RunRow[] {
  const db = new Database(collector.db, { readonly: true, fileMustExist: true });
  try {
    return db
      .prepare(
        `SELECT r.run_id AS runId, r.job, r.trigger, r.status, r.started_at AS startedAt, r.finished_at AS finishedAt, r.duration_ms AS durationMs,
                r.bytes_total AS bytesTotal, r.snapshot_id AS snapshotId, r.error
         FROM runs r JOIN agents a ON a.id = r.agent_id WHERE a.name = ? ORDER BY r.job`,
      )
      .all(agent) as RunRow[];
  } finally {
    db.close();
  }
}

const ALLOWED_ENV = new Set(['STOREID', 'DUMPDIR', 'VMTYPE', 'HOSTNAME', 'TARGET', 'LOGFILE', 'LC_ALL', 'LVM_SUPPRESS_FD_WARNINGS']);

/** An enrolled agent with `proxmox:` pointing at the world, its hook installed as an operator would. */
function agentWithHook(w: VzdumpWorld, collector: Collector, name: string) {
  const agent = writeAgentConfig({ name, jobs: '  []\n', heartbeat: '1s' });
  appendFileSync(agent.config, proxmoxSection(w));
  enrollAgent(agent, collector);
  const conf = join(w.dir, 'vzdump.conf');
  writeFileSync(conf, '# vzdump default settings\n\n#tmpdir: DIR\n#bwlimit: KBPS\n');
  const inst = cli(AGENT_BIN, ['proxmox', 'install-hook', '--config', agent.config, '--wrapper', join(w.dir, 'lib', 'vzdump-hook'), '--vzdump-conf', conf, '--jobs-cfg', join(w.dir, 'jobs.cfg')]);
  assert.equal(inst.code, 0, inst.stderr + inst.stdout);
  // The stand-in takes /etc/vzdump.conf's `script:` from the world, as vzdump reads it from the file.
  const script = /^script: (.+)$/m.exec(readFileSync(conf, 'utf8'))![1];
  setVzdumpScript(w, script);
  return agent;
}

test('a UI-configured job of three guests, one failing, reaches the collector as three runs through the hook', async (t) => {
  const collector = await startCollector();
  t.after(() => collector.stop('SIGKILL'));
  const w = vzdumpWorld({ fail: { 101: 'vma_queue_write: write error - Broken pipe' } });
  const agent = agentWithHook(w, collector, 'pve1');
  const daemon = new Proc(AGENT_BIN, ['daemon', '--config', agent.config]);
  t.after(() => daemon.stop('SIGKILL'));

  const job = runVzdump(w, ['100', '101', '102', '--mode', 'snapshot', '--storage', 'local', '--compress', 'zstd']);
  assert.equal(job.code, 255, 'a failed guest fails the job (TASK ERROR: job errors)');

  const calls = hookCalls(w);
  // pve-manager's order; the stopped container is backed up in stop mode, without pre-stop.
  assert.deepEqual(calls.map((c) => c.argv.slice(1).join(' ')), [
    'job-init', 'job-start',
    ...['backup-start', 'pre-stop', 'pre-restart', 'post-restart', 'backup-end', 'log-end'].map((p) => `${p} snapshot 100`),
    ...['backup-start', 'pre-stop', 'pre-restart', 'post-restart', 'backup-abort', 'log-end'].map((p) => `${p} snapshot 101`),
    ...['backup-start', 'backup-end', 'log-end'].map((p) => `${p} stop 102`),
    'job-end',
  ]);
  for (const c of calls) {
    assert.equal(c.code, 0, `${c.argv.slice(1).join(' ')} exited ${c.code}`);
    for (const key of Object.keys(c.env)) assert.ok(ALLOWED_ENV.has(key), `${key} in the hook's environment`);
  }

  const runs = await waitFor('three finished runs at the collector', () => {
    const rows = runsOf(collector, 'pve1');
    return rows.length === 3 && rows.every((r) => r.status !== 'running') ? rows : null;
  }, 30_000);
  const archives = readdirSync(w.dumpDir).filter((f) => f.endsWith('.zst')).sort();
  assert.deepEqual(
    runs.map((r) => [r.job, r.trigger, r.status, r.bytesTotal, r.snapshotId, r.error]),
    [
      ['vzdump-100-local', 'schedule', 'success', standInSize(100), archives.find((a) => a.startsWith('vzdump-qemu-100-')), null],
      ['vzdump-101-local', 'schedule', 'failure', null, null, 'vma_queue_write: write error - Broken pipe'],
      ['vzdump-102-local', 'schedule', 'success', standInSize(102), archives.find((a) => a.startsWith('vzdump-lxc-102-')), null],
    ],
  );
  for (const r of runs) {
    assert.ok(r.durationMs !== null && r.durationMs > 0 && r.durationMs < 60_000, `${r.job} took ${r.durationMs} ms`);
    assert.equal(r.finishedAt! - r.startedAt, r.durationMs);
  }
  const failedLog = await collector.runLog(runs[1].runId);
  assert.match(failedLog ?? '', /ERROR: Backup of VM 101 failed - vma_queue_write: write error - Broken pipe/);
  assert.match((await collector.runLog(runs[0].runId)) ?? '', /INFO: archive file size: 2\.00GB/);
});

test('with the collector down for the whole job, each hook call returns at once and every run arrives once it is back', async (t) => {
  const collector = await startCollector();
  t.after(() => collector.stop('SIGKILL'));
  const w = vzdumpWorld();
  const agent = agentWithHook(w, collector, 'pve2');
  await collector.stop();
  const daemon = new Proc(AGENT_BIN, ['daemon', '--config', agent.config]);
  t.after(() => daemon.stop('SIGKILL'));

  const started = Date.now();
  const job = runVzdump(w, ['100', '101', '102', '--mode', 'snapshot', '--storage', 'pbs1']);
  assert.equal(job.code, 0);
  const calls = hookCalls(w);
  const slowest = Math.max(...calls.map((c) => c.ms));
  // A call costs a node start and the spool's fsyncs; it never waits for the collector.
  assert.ok(slowest < 5_000, `the slowest hook call took ${slowest.toFixed(0)} ms`);
  assert.ok(calls.every((c) => c.code === 0));
  const spooled = readdirSync(join(agent.stateDir, 'spool')).filter((f) => f.endsWith('.json')).length;
  assert.ok(spooled >= 6, `${spooled} messages wait in the spool`);

  await collector.start();
  const runs = await waitFor('three finished runs after the outage', () => {
    const rows = runsOf(collector, 'pve2');
    return rows.length === 3 && rows.every((r) => r.status === 'success') ? rows : null;
  }, 60_000);
  // PBS: the snapshot is named in UTC; a VM's size is what qemu-server says it transferred
  // (a container's pxar upload logs no documented size line).
  for (const r of runs) {
    const vmid = Number(r.job.split('-')[1]);
    assert.match(r.snapshotId ?? '', new RegExp(`^(vm|ct)/${vmid}/\\d{4}-\\d{2}-\\d{2}T\\d{2}:\\d{2}:\\d{2}Z$`));
    assert.equal(r.bytesTotal, vmid === 102 ? null : standInSize(vmid));
    assert.ok(r.startedAt >= started - 1000);
  }
  // Once: a heartbeat later, still three runs and each message stored once.
  await new Promise((r) => setTimeout(r, 2500));
  assert.equal(runsOf(collector, 'pve2').length, 3);
});
