import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, unlinkSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { PVE_LOG_DIRS, settingsFromConfig } from '../agent/proxmox/hook';
import { claimGuestBackup } from '../agent/proxmox/lifeline-backups';
import { AGENT_BIN, tempDir } from './helpers/processes';
import { HOOK_BIN } from './helpers/vzdump-world';

// The built hook (dist/lifeline-vzdump-hook.cjs) called the way vzdump calls it: PHASE [MODE
// VMID] and an emptied environment holding only what vzdump sets (../shared/REFERENCE-
// INTEGRATIONS.md §1; vzdump itself is not run here). Whatever goes wrong, it must exit 0: a
// non-zero exit would fail the guest's backup.

const mounts: string[] = [];
after(() => {
  for (const m of mounts) execFileSync('umount', ['-l', m]);
});

interface Setup {
  dir: string;
  config: string;
  cache: string;
  stateDir: string;
  logDir: string;
  taskDir: string;
}

function setup(stateDir?: string): Setup {
  const dir = tempDir('lifeline-hook-');
  const s: Setup = { dir, config: join(dir, 'agent.yaml'), cache: '', stateDir: stateDir ?? join(dir, 'state'), logDir: join(dir, 'log'), taskDir: join(dir, 'tasks') };
  s.cache = join(s.stateDir, 'vzdump', 'hook-settings.json');
  mkdirSync(s.logDir);
  mkdirSync(s.taskDir);
  writeConfig(s, s.stateDir);
  return s;
}

function writeConfig(s: Setup, stateDir: string): void {
  writeFileSync(
    s.config,
    `agent:\n  name: pve1\n  collector: http://127.0.0.1:9\n  stateDir: ${stateDir}\ntargets: []\njobs: []\nproxmox:\n  logDir: ${s.logDir}\n  taskDir: ${s.taskDir}\n`,
  );
}

const guestEnv = (vmid: number) => ({
  STOREID: 'local', DUMPDIR: '/var/lib/vz/dump', VMTYPE: 'qemu', HOSTNAME: `vm${vmid}`,
  TARGET: `/var/lib/vz/dump/vzdump-qemu-${vmid}-2026_11_29-02_00_03.vma.zst`, LOGFILE: `/var/lib/vz/dump/vzdump-qemu-${vmid}-2026_11_29-02_00_03.log`,
  LC_ALL: 'C', LVM_SUPPRESS_FD_WARNINGS: '1',
});
const jobEnv = { STOREID: 'local', DUMPDIR: '/var/lib/vz/dump', LC_ALL: 'C', LVM_SUPPRESS_FD_WARNINGS: '1' };

function hook(s: Pick<Setup, 'config' | 'cache'>, args: string[], env: Record<string, string>): { code: number | null; lines: string[] } {
  const r = spawnSync(process.execPath, [HOOK_BIN, '--config', s.config, '--cache', s.cache, ...args], { env, encoding: 'utf8', timeout: 60_000 });
  return { code: r.status, lines: `${r.stdout}${r.stderr}`.split('\n').filter(Boolean) };
}

function spooled(stateDir: string): Record<string, unknown>[] {
  const dir = join(stateDir, 'spool');
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((f) => /^\d{20}\.json$/.test(f))
    .sort()
    .map((f) => JSON.parse(readFileSync(join(dir, f), 'utf8')) as Record<string, unknown>);
}

test('a missing, broken or refused config: exit 0 and one "lifeline-agent:" line, for the bundle and the full agent', () => {
  const s = setup();
  const cases: [string, string | null][] = [
    ['missing', null],
    ['not YAML', 'agent: [unclosed\n'],
    ['refused by the agent', 'agent:\n  name: pve1\n  stateDir: relative/path\n'],
  ];
  for (const [what, text] of cases) {
    if (text === null) unlinkSync(s.config);
    else writeFileSync(s.config, text);
    for (const phase of ['job-start', 'backup-start', 'backup-end']) {
      const args = phase === 'job-start' ? [phase] : [phase, 'snapshot', '100'];
      const r = hook(s, args, phase === 'job-start' ? jobEnv : guestEnv(100));
      assert.equal(r.code, 0, `${what}, ${phase}`);
      assert.equal(r.lines.length, 1, `${what}, ${phase}: ${r.lines.join(' | ')}`);
      assert.match(r.lines[0], /^lifeline-agent: .*not recorded: .*(cannot read|invalid config)/, `${what}, ${phase}`);
    }
    const full = spawnSync(process.execPath, [AGENT_BIN, 'vzdump-hook', 'backup-end', 'snapshot', '100', '--config', s.config], { env: guestEnv(100), encoding: 'utf8' });
    assert.equal(full.status, 0, `full agent, ${what}`);
    assert.match(full.stdout, /^lifeline-agent: backup-end of VM 100 not recorded: /, `full agent, ${what}`);
  }
});

test('phases it does not record, unknown phases and no arguments: exit 0 without a word', () => {
  const s = setup();
  for (const args of [['job-init'], ['pre-stop', 'snapshot', '100'], ['log-end', 'stop', '100'], ['some-future-phase'], []]) {
    const r = hook(s, args, guestEnv(100));
    assert.deepEqual(r, { code: 0, lines: [] }, args.join(' '));
  }
});

test('a full spool (the disk is full and its reserve used): exit 0, one line, and the backup left to the history scan', () => {
  const dir = tempDir('lifeline-hook-tmpfs-');
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=3m,mode=0700', 'tmpfs', dir]);
  mounts.push(dir);
  const s = setup(join(dir, 'state'));
  // A backup recorded while there was room: the spool, its reserve and the settings cache exist.
  assert.deepEqual(hook(s, ['backup-start', 'snapshot', '200'], guestEnv(200)), { code: 0, lines: [] });
  unlinkSync(join(s.stateDir, 'spool', 'reserve'));
  const fd = openSync(join(dir, 'filler'), 'w');
  try {
    for (const chunk = Buffer.alloc(64 * 1024); ; ) writeSync(fd, chunk);
  } catch (err) {
    assert.equal((err as NodeJS.ErrnoException).code, 'ENOSPC');
  } finally {
    closeSync(fd);
  }
  for (const phase of ['backup-start', 'backup-end']) {
    const r = hook(s, [phase, 'snapshot', '100'], guestEnv(100));
    assert.equal(r.code, 0, phase);
    assert.equal(r.lines.length, 1, `${phase}: ${r.lines.join(' | ')}`);
    assert.match(r.lines[0], /^lifeline-agent: .*no space left/, phase);
  }
  // Nothing claims the backup as reported: the daemon's task-history scan will report it.
  assert.deepEqual(readdirSync(join(s.stateDir, 'vzdump', 'reported')).filter((f) => f.startsWith('100.')), []);
});

test('a job aborted before its guests: each guest on its command line is reported failed', () => {
  const s = setup();
  // The running vzdump task: its pid is the hook's parent (here, this test process).
  const start = Math.floor(Date.now() / 1000);
  const hex8 = (n: number) => n.toString(16).toUpperCase().padStart(8, '0');
  const upid = `UPID:pve1:${hex8(process.pid)}:${hex8(12345)}:${hex8(start)}:vzdump::root@pam:`;
  mkdirSync(join(s.taskDir, hex8(start).slice(-1)));
  writeFileSync(join(s.taskDir, hex8(start).slice(-1), upid), 'INFO: starting new backup job: vzdump 100 101 --mode snapshot --storage local\n');
  writeFileSync(join(s.taskDir, 'active'), `${upid} 0\n`);
  assert.equal(hook(s, ['job-start'], jobEnv).code, 0);
  const r = hook(s, ['job-abort'], jobEnv);
  assert.equal(r.code, 0);
  assert.equal(r.lines.length, 2, r.lines.join(' | '));
  const runs = spooled(s.stateDir).filter((m) => m.kind === 'run');
  assert.deepEqual(runs.map((m) => [m.job, m.status]), [['vzdump-100-local', 'failure'], ['vzdump-101-local', 'failure']]);
  assert.match(String(runs[0].error), new RegExp(`aborted before VM 100 was backed up \\(task ${upid.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\)`));

  // With --all the guests are not on the command line: said so, nothing invented.
  const t = setup();
  mkdirSync(join(t.taskDir, hex8(start).slice(-1)));
  writeFileSync(join(t.taskDir, hex8(start).slice(-1), upid), 'INFO: starting new backup job: vzdump --all 1 --mode snapshot --storage local\n');
  writeFileSync(join(t.taskDir, 'active'), `${upid} 0\n`);
  hook(t, ['job-start'], jobEnv);
  const all = hook(t, ['job-abort'], jobEnv);
  assert.equal(all.code, 0);
  assert.match(all.lines.join('\n'), /aborted before any guest was backed up; all guests \(--all\) cannot be listed here/);
});

test('a guest whose end never came is closed as failed at job-end, with the reason', () => {
  const s = setup();
  hook(s, ['job-start'], jobEnv);
  assert.deepEqual(hook(s, ['backup-start', 'snapshot', '100'], guestEnv(100)).lines, []);
  const r = hook(s, ['job-end'], jobEnv);
  assert.deepEqual(r, { code: 0, lines: ['lifeline-agent: VM 100: failure recorded (job vzdump-100-local)'] });
  const [start, run] = spooled(s.stateDir);
  assert.equal(start.kind, 'run-start');
  assert.equal(run.runId, start.runId);
  assert.equal(run.error, 'vzdump ended the job (job-end) without a backup-end or backup-abort for this guest');
});

test('the settings cache follows the config: after an edit the new state directory is used', () => {
  const s = setup();
  assert.equal(hook(s, ['job-start'], jobEnv).code, 0);
  const cached = JSON.parse(readFileSync(s.cache, 'utf8')) as { settings: unknown };
  assert.deepEqual(cached.settings, { name: 'pve1', stateDir: s.stateDir, maxBytes: 64 * 2 ** 20, logDir: s.logDir, taskDir: s.taskDir });
  const moved = join(s.dir, 'state2');
  writeConfig(s, moved);
  assert.deepEqual(hook(s, ['backup-start', 'snapshot', '100'], guestEnv(100)).lines, []);
  assert.equal(spooled(moved).length, 1);
  assert.equal(spooled(s.stateDir).length, 0);
});

test('without a proxmox: section the hook reads vzdump’s own log directories', () => {
  assert.deepEqual(settingsFromConfig({ name: 'a', stateDir: '/s', spool: { maxBytes: 1 } }), { name: 'a', stateDir: '/s', maxBytes: 1, ...PVE_LOG_DIRS });
  assert.deepEqual(PVE_LOG_DIRS, { logDir: '/var/log/vzdump', taskDir: '/var/log/pve/tasks' });
});

test("a backup Lifeline's own vzdump job runs is left to that job: the hook records nothing for it", () => {
  const s = setup();
  // The vzdump driver holds the guest's lock while its vzdump runs (here this test process holds it).
  const lock = claimGuestBackup(s.stateDir, 100, 'local');
  assert.ok(lock);
  for (const phase of ['backup-start', 'backup-end']) assert.deepEqual(hook(s, [phase, 'snapshot', '100'], guestEnv(100)), { code: 0, lines: [] }, phase);
  assert.deepEqual(spooled(s.stateDir), []);
  // Another guest of the same job is the hook's as usual; once the lock is released, so is 100.
  assert.deepEqual(hook(s, ['backup-start', 'snapshot', '101'], guestEnv(101)).lines, []);
  lock.release();
  assert.deepEqual(hook(s, ['backup-start', 'snapshot', '100'], guestEnv(100)).lines, []);
  assert.deepEqual(spooled(s.stateDir).map((m) => [m.kind, m.job]), [['run-start', 'vzdump-101-local'], ['run-start', 'vzdump-100-local']]);
});
