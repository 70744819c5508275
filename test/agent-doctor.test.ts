import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { AGENT_BIN, enrollAgent, freePort, startCollector, tempDir, writeAgentConfig, type AgentSetup, type CliResult, type Collector } from './helpers/processes';

// `lifeline-agent doctor` (the built agent) against the built collector on loopback: a good
// setup, then each problem it checks for, one at a time. The real restic is the job's tool;
// the clock is moved with libfaketime (Debian's faketime); the full disk is a small tmpfs
// (the tests run as root).

let collector: Collector;
const cleanups: (() => unknown)[] = [];
before(async () => {
  collector = await startCollector();
  enrolled = setup();
  enrollAgent(enrolled, collector);
});
after(async () => {
  for (const c of cleanups.reverse()) await c();
  await collector?.stop();
});

interface Line {
  verdict: string;
  detail: string;
}

/** The doctor's lines by check name (a repeated name keeps its lines in order under name#2…). */
function parse(stdout: string): Map<string, Line> {
  const out = new Map<string, Line>();
  for (const l of stdout.split('\n')) {
    const m = /^(ok|PROBLEM|skipped) +(.+?) {2,}(.*)$/.exec(l);
    if (!m) continue;
    let name = m[2];
    for (let i = 2; out.has(name); i++) name = `${m[2]}#${i}`;
    out.set(name, { verdict: m[1], detail: m[3] });
  }
  return out;
}

function run(args: string[], faketime?: string): Promise<CliResult> {
  return new Promise((res) => {
    const argv = [process.execPath, AGENT_BIN, ...args];
    const child = faketime ? spawn('faketime', ['-f', faketime, ...argv], { stdio: ['ignore', 'pipe', 'pipe'] }) : spawn(argv[0], argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('close', (code) => res({ code, stdout, stderr }));
  });
}

async function doctor(agent: AgentSetup, faketime?: string): Promise<{ code: number | null; lines: Map<string, Line>; stdout: string }> {
  const r = await run(['doctor', '--config', agent.config], faketime);
  return { code: r.code, lines: parse(r.stdout), stdout: r.stdout + r.stderr };
}

/** The one agent enrolled for real (keygen, token create, enroll); the others start from a copy of its state. */
let enrolled: AgentSetup;

/**
 * An agent with a restic job whose password is in a 0600 file, and a command job. It starts
 * from the enrolled agent's key and enrollment (so the collector knows it) unless `name` differs.
 */
function setup(opts: { name?: string; collector?: string; jobEnv?: string; stateDir?: (dir: string) => void } = {}): AgentSetup & { passFile: string } {
  const dir = tempDir('lifeline-doctor-');
  const passFile = join(dir, 'restic.pass');
  writeFileSync(passFile, 'correct horse\n', { mode: 0o600 });
  const agent = writeAgentConfig({
    name: opts.name ?? 'pve1',
    collector: opts.collector,
    jobs: `  - name: files
    asset: files
    tier: 2
    target: local-disk
    driver: restic
    restic: { repository: ${join(dir, 'repo')}, passwordFile: ${passFile}, paths: [/etc/hostname] }
${opts.jobEnv ?? ''}  - { name: marker, asset: marker, tier: 3, target: local-disk, driver: command, command: [true] }
`,
  });
  mkdirSync(agent.stateDir, { recursive: true, mode: 0o700 });
  opts.stateDir?.(agent.stateDir);
  if (enrolled) {
    for (const f of ['agent.key', 'enrollment.json']) copyFileSync(join(enrolled.stateDir, f), join(agent.stateDir, f));
  }
  return { ...agent, passFile };
}

const verdicts = (lines: Map<string, Line>) => Object.fromEntries([...lines].map(([k, v]) => [k, v.verdict]));

test('a good setup: every check ok, one line each, exit 0', async () => {
  const agent = setup();
  const d = await doctor(agent);
  assert.equal(d.code, 0, d.stdout);
  assert.deepEqual(verdicts(d.lines), {
    config: 'ok',
    key: 'ok',
    collector: 'ok',
    'key accepted': 'ok',
    clock: 'ok',
    'tool restic': 'ok',
    'tool true': 'ok',
    'secret files': 'ok',
    spool: 'ok',
    disk: 'ok',
  });
  const restic = spawnSync('restic', ['version'], { encoding: 'utf8' }).stdout.split('\n')[0];
  assert.equal(d.lines.get('tool restic')?.detail, `${restic} (job files)`);
  assert.equal(d.lines.get('secret files')?.detail, '1 readable and private (0600)');
  assert.match(d.lines.get('collector')!.detail, new RegExp(`^${collector.url} answered in \\d+ ms$`));
});

test('a bad config: the problem with file:line and what to do, exit 1', async () => {
  const agent = setup();
  writeFileSync(agent.config, readFileSync(agent.config, 'utf8').replace('agent:\n', 'agent:\n  heartbeet: 60s\n'));
  const d = await doctor(agent);
  assert.equal(d.code, 1);
  assert.equal(d.lines.get('config')?.verdict, 'PROBLEM');
  assert.match(d.stdout, new RegExp(`${agent.config}:\\d+:\\d+: agent.heartbeet: `));
  assert.match(d.lines.get('config')!.detail, /run lifeline-agent check-config/);
});

test('a key others can read: the key line says chmod 600; the collector still accepts the key', async () => {
  const agent = setup();
  chmodSync(join(agent.stateDir, 'agent.key'), 0o644);
  const d = await doctor(agent);
  assert.equal(d.code, 1);
  assert.equal(d.lines.get('key')?.verdict, 'PROBLEM');
  assert.match(d.lines.get('key')!.detail, /readable by other users \(mode 0644\); run: chmod 600 .*agent\.key/);
  assert.equal(d.lines.get('key accepted')?.verdict, 'ok');
});

test('the collector down: cannot reach it, what to check; the key and clock lines skipped', async () => {
  const agent = setup({ collector: `http://127.0.0.1:${await freePort()}` });
  const d = await doctor(agent);
  assert.equal(d.code, 1);
  assert.equal(d.lines.get('collector')?.verdict, 'PROBLEM');
  assert.match(d.lines.get('collector')!.detail, /cannot reach http:\/\/127\.0\.0\.1:\d+: .*ECONNREFUSED.*is the collector running/);
  assert.equal(d.lines.get('key accepted')?.verdict, 'skipped');
  assert.equal(d.lines.get('clock')?.verdict, 'skipped');
});

test('a key the collector does not know: the commands to enroll it', async () => {
  const agent = setup({ name: 'stranger' });
  const d = await doctor(agent);
  assert.equal(d.code, 1);
  assert.equal(d.lines.get('collector')?.verdict, 'ok');
  assert.equal(d.lines.get('key accepted')?.verdict, 'PROBLEM');
  assert.match(d.lines.get('key accepted')!.detail, /401 E_UNKNOWN_AGENT.*lifeline-collector token create stranger.*lifeline-agent enroll http:\/\/127\.0\.0\.1:\d+ TOKEN/);
});

test('a clock 2 h ahead of the collector: a problem naming NTP', async () => {
  const agent = setup();
  const d = await doctor(agent, '+2h');
  assert.equal(d.code, 1);
  assert.equal(d.lines.get('clock')?.verdict, 'PROBLEM');
  assert.match(d.lines.get('clock')!.detail, /^this host's clock is 7\d{3}\.\d s ahead of the collector's; .*NTP/);
  assert.equal(d.lines.get('key accepted')?.verdict, 'ok');
});

test("a job's tool missing: the package to install", async () => {
  const empty = tempDir('lifeline-empty-path-');
  const agent = setup({ jobEnv: `    env: { PATH: ${empty} }\n` });
  const d = await doctor(agent);
  assert.equal(d.code, 1);
  assert.equal(d.lines.get('tool restic')?.verdict, 'PROBLEM');
  assert.equal(d.lines.get('tool restic')?.detail, 'restic not found in PATH (job files): install restic (apt install restic)');
  assert.equal(d.lines.get('tool true')?.verdict, 'ok');
});

test('a secret file others can read: its own line with chmod 600; the config itself is fine', async () => {
  const agent = setup();
  chmodSync(agent.passFile, 0o644);
  const d = await doctor(agent);
  assert.equal(d.code, 1);
  assert.equal(d.lines.get('config')?.verdict, 'ok');
  assert.equal(d.lines.get('secret file')?.verdict, 'PROBLEM');
  assert.match(d.lines.get('secret file')!.detail, /restic\.pass is readable by other users \(mode 0644\); run: chmod 600 .*\(jobs files restic\.passwordFile\)/);
});

test('a spool backlog an hour old: a problem saying the collector is not taking the messages', async () => {
  const agent = setup({ collector: `http://127.0.0.1:${await freePort()}` });
  // Reports spooled an hour ago (the agent's clock set back for that run) and never delivered.
  const spooled = await run(['run', 'marker', '--config', agent.config], '-1h');
  assert.equal(spooled.code, 0, spooled.stderr);
  const d = await doctor(agent);
  assert.equal(d.code, 1);
  assert.equal(d.lines.get('spool')?.verdict, 'PROBLEM');
  assert.match(d.lines.get('spool')!.detail, /^\d+ message\(s\) waiting, the oldest since \S+: the collector is not taking them/);
});

test('a nearly full state directory: free space and what to do', async () => {
  const agent = setup({
    stateDir: (dir) => {
      mkdirSync(dir, { recursive: true });
      const m = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=8m,mode=0700', 'tmpfs', dir], { encoding: 'utf8' });
      assert.equal(m.status, 0, m.stderr);
      cleanups.push(() => spawnSync('umount', [dir]));
    },
  });
  writeFileSync(join(agent.stateDir, 'filler'), Buffer.alloc(7.5 * 2 ** 20));
  const d = await doctor(agent);
  assert.equal(d.code, 1);
  assert.equal(d.lines.get('disk')?.verdict, 'PROBLEM');
  assert.match(d.lines.get('disk')!.detail, /^0\.\d MiB free of 8\.0 MiB \(\d+ %\) in .*: nearly full; .*agent\.spool\.maxBytes/);
  assert.equal(d.lines.get('key accepted')?.verdict, 'ok');
});
