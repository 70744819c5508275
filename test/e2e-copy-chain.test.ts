import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { AGENT_BIN, cliAsync, enrollAgent, startCollector, tempDir, type AgentSetup, type Collector } from './helpers/processes';

// Copies of copies end to end (issue 13), with real restic (Debian's), the built agent and
// collector processes and real HTTP between them. pve1 backs vm-100's files up with restic into a
// repository under `datastore/`, a directory standing in for a Proxmox Backup Server datastore
// (proxmox-backup-client cannot run here; a restic repository is likewise a directory of chunks
// another tool copies as plain files). The PBS host's `cloud-restic` job backs that whole
// directory up into a second restic repository, the off-site target, and declares
// `source: { target: pbs1 }`. The collector then counts vm-100's off-site copy through the chain,
// on the page's JSON and in /metrics, and the runbook's two steps restore vm-100 for real.

const dir = tempDir('lifeline-e2e-chain-');
const datastore = join(dir, 'datastore');
const innerRepo = join(datastore, 'vm-100');
const cloudRepo = join(dir, 'cloud');
const src = join(dir, 'vm-100-disk');
const cache = join(dir, 'cache');
const passFile = join(dir, 'restic.pass');
const FILES: Record<string, Buffer> = {
  'disk.img': randomBytes(200_000),
  'etc/hostname': Buffer.from('vm-100\n'),
  'var/lib/app/state.json': Buffer.from('{"ok":true}\n'),
};

let collector: Collector;
let pve1: AgentSetup;
let pbs: AgentSetup;

function agentConfig(name: string, targets: string, jobs: string): AgentSetup {
  const base = tempDir(`lifeline-agent-${name}-`);
  const stateDir = join(base, 'state');
  const config = join(base, 'agent.yaml');
  writeFileSync(config, `agent:\n  name: ${name}\n  stateDir: ${stateDir}\n  heartbeat: 60s\n  killGrace: 1s\ntargets:\n${targets}jobs:\n${jobs}`);
  return { dir: base, config, stateDir, name };
}

const resticOptions = (repo: string, path: string, host: string) => `{ repository: ${repo}, passwordFile: ${passFile}, paths: [${path}], host: ${host}, cacheDir: ${cache} }`;

async function agent(setup: AgentSetup, command: string, job: string): Promise<void> {
  const r = await cliAsync(AGENT_BIN, [command, job, '--config', setup.config]);
  assert.equal(r.code, 0, `${command} ${job}: ${r.stderr}${r.stdout}`);
}

const getJson = async (path: string) => (await fetch(`${collector.url}${path}`)).json();
const metrics = async () => (await fetch(`${collector.url}/metrics`)).text();

before(async () => {
  writeFileSync(passFile, 'chain-test-password-4c1e\n', { mode: 0o600 });
  for (const [name, content] of Object.entries(FILES)) {
    mkdirSync(join(src, name, '..'), { recursive: true });
    writeFileSync(join(src, name), content);
  }
  mkdirSync(datastore);
  const env = { ...process.env, RESTIC_PASSWORD_FILE: passFile, RESTIC_CACHE_DIR: cache };
  for (const repo of [innerRepo, cloudRepo]) execFileSync('restic', ['init'], { env: { ...env, RESTIC_REPOSITORY: repo }, stdio: 'ignore' });
  collector = await startCollector();
  pve1 = agentConfig(
    'pve1',
    '  - { name: pbs1, location: onsite, media: pbs }\n',
    `  - { name: vm-100-backup, asset: vm-100, tier: 1, target: pbs1, driver: restic, restic: ${resticOptions(innerRepo, src, 'pve1')}, restoreTest: { schedule: "0 5 1 * *" } }\n`,
  );
  pbs = agentConfig(
    'pbs',
    '  - { name: pbs1, location: onsite, media: pbs }\n  - { name: cloud, location: offsite, media: cloud }\n',
    `  - { name: cloud-restic, asset: pbs-datastore, tier: 2, target: cloud, source: { target: pbs1 }, driver: restic, restic: ${resticOptions(cloudRepo, datastore, 'pbs')}, restoreTest: { schedule: "0 6 1 * *" } }\n`,
  );
  try {
    enrollAgent(pve1, collector);
    enrollAgent(pbs, collector);
  } catch (err) {
    await collector.stop('SIGKILL');
    throw err;
  }
});

after(async () => {
  await collector?.stop('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
  for (const a of [pve1, pbs]) if (a) rmSync(a.dir, { recursive: true, force: true });
});

test("vm-100's off-site copy through the chain: the badge and RPO age on the page and in /metrics, then a real two-step restore within the RTO", async () => {
  // The guest's backup alone: a copy at pbs1, none off-site.
  await agent(pve1, 'run', 'vm-100-backup');
  const alone = await getJson('/api/v1/assets/vm-100');
  assert.deepEqual(alone.badge.missing, ['2 of 3 copies', 'no off-site copy']);

  // The PBS host backs the datastore up to the cloud: vm-100 now has its off-site copy.
  await agent(pbs, 'run', 'cloud-restic');
  // Each hop's restore drill, for the runbook's expected times.
  await agent(pve1, 'restore-test', 'vm-100-backup');
  await agent(pbs, 'restore-test', 'cloud-restic');

  const page = await getJson('/api/v1/assets/vm-100');
  assert.deepEqual(page.badge, { copies: 3, media: ['disk', 'pbs', 'cloud'], offsite: 1, ok: true, missing: [] });
  const derived = page.copies.find((c: { job: string }) => c.job === 'cloud-restic via pbs1');
  assert.equal(derived.chain.text, 'vm-100 → pbs1 (pbs, on-site) → cloud-restic (cloud, off-site)');
  assert.equal(derived.fresh, true);
  assert.deepEqual(derived.target, { name: 'cloud', location: 'offsite', media: 'cloud' });
  // The derived copy holds the guest's snapshot as restic listed it (taken before the copy started).
  const inner = page.copies.find((c: { job: string }) => c.job === 'vm-100-backup');
  assert.equal(derived.lastSuccessAt, inner.snapshot.time);
  assert.ok(Date.parse(derived.lastSuccessAt) <= Date.parse(inner.lastSuccessAt));
  assert.ok(page.rpoOk && page.ageMs >= 0 && page.ageMs < 5 * 60_000, `RPO age ${page.ageMs}`);

  const text = await metrics();
  assert.match(text, /^lifeline_asset_offsite_copies\{asset="vm-100",tier="1"\} 1$/m);
  assert.match(text, /^lifeline_asset_copies\{asset="vm-100",tier="1"\} 3$/m);
  assert.match(text, /^lifeline_asset_three_two_one_ok\{asset="vm-100",tier="1"\} 1$/m);
  const age = Number(/^lifeline_asset_rpo_age_seconds\{asset="vm-100",tier="1"\} (\S+)$/m.exec(text)?.[1]);
  assert.ok(age >= 0 && age < 300, `rpo age ${age}`);

  // The runbook of the derived copy: the cloud repository first, then the guest from what it gave back.
  const book = page.runbooks.find((r: { job: string }) => r.job === 'cloud-restic via pbs1');
  assert.deepEqual(book.steps.map((s: { job: string }) => s.job), ['cloud-restic', 'vm-100-backup']);
  for (const s of book.steps) assert.ok(s.expectedMs > 0, `${s.job} has a drill time`);
  assert.equal(book.expectedMs, book.steps[0].expectedMs + book.steps[1].expectedMs);
  assert.match(book.notes[0], /within the 4h RTO/);

  // The host and the datastore are gone: only the cloud repository is left.
  rmSync(datastore, { recursive: true, force: true });
  rmSync(src, { recursive: true, force: true });
  const outer = join(dir, 'restore-1');
  const guest = join(dir, 'restore-2');
  const started = performance.now();
  // Step 1 as written, into a scratch directory instead of /restore/cloud-restic.
  const [step1] = book.steps[0].commands as string[];
  assert.match(step1, /restic restore \S+ --target \/restore\/cloud-restic$/);
  bash(step1.replace('/restore/cloud-restic', outer));
  const restoredStore = join(outer, datastore);
  assert.ok(readdirSync(join(restoredStore, 'vm-100')).includes('config'), 'the datastore came back');
  // Step 2 as written, pointed at the restored datastore (the runbook's note says so).
  const [step2] = book.steps[1].commands as string[];
  assert.ok(step2.includes(innerRepo), step2);
  bash(step2.replace(innerRepo, join(restoredStore, 'vm-100')).replace('/restore/vm-100-backup', guest));
  const tookMs = performance.now() - started;
  for (const [name, content] of Object.entries(FILES)) assert.deepEqual(readFileSync(join(guest, src, name)), content, name);
  assert.ok(tookMs <= page.rtoMs, `restored in ${tookMs} ms, RTO ${page.rtoMs} ms`);
});

function bash(command: string): void {
  execFileSync('bash', ['-c', command], { env: { ...process.env, RESTIC_CACHE_DIR: cache }, stdio: ['ignore', 'pipe', 'pipe'] });
}
