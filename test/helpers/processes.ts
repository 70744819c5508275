import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join, resolve } from 'node:path';
import { tempDir } from './temp';

// Integration tests run the bundles users run (dist/), built by `npm test` before the suite.
// LIFELINE_DIST points elsewhere when a bundle was built with `scripts/build.mjs --outdir DIR`.
const DIST = process.env.LIFELINE_DIST ?? 'dist';
export const AGENT_BIN = resolve(DIST, 'lifeline-agent.js');
export const COLLECTOR_BIN = resolve(DIST, 'lifeline-collector.js');

export { tempDir };
export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const srv = createServer();
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => res(port));
    });
    srv.on('error', rej);
  });
}

export async function waitFor<T>(what: string, fn: () => T | Promise<T>, timeoutMs = 15_000, everyMs = 100): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const v = await fn();
      if (v) return v as NonNullable<T>;
    } catch (err) {
      last = err;
    }
    await sleep(everyMs);
  }
  throw new Error(`timed out waiting for ${what}${last ? `: ${(last as Error).message}` : ''}`);
}

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a bundled CLI to completion. */
export function cli(bin: string, args: string[], env: NodeJS.ProcessEnv = {}): CliResult {
  const r = spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', env: { ...process.env, ...env }, timeout: 60_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Like cli(), without blocking this process's event loop (for servers the test itself runs). */
export function cliAsync(bin: string, args: string[], env: NodeJS.ProcessEnv = {}): Promise<CliResult> {
  return new Promise((res) => {
    const child = spawn(process.execPath, [bin, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (d) => (stdout += d));
    child.stderr!.on('data', (d) => (stderr += d));
    child.on('close', (code) => res({ code, stdout, stderr }));
  });
}

/** A long-running bundled process whose output is collected for assertions and failures. */
export class Proc {
  readonly child: ChildProcess;
  output = '';
  constructor(bin: string, args: string[], env: NodeJS.ProcessEnv = {}) {
    this.child = spawn(process.execPath, [bin, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    this.child.stdout!.on('data', (d) => (this.output += d));
    this.child.stderr!.on('data', (d) => (this.output += d));
  }
  get exited(): Promise<number | null> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return Promise.resolve(this.child.exitCode);
    return new Promise((r) => this.child.once('exit', (code) => r(code)));
  }
  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<number | null> {
    const done = this.exited;
    this.child.kill(signal);
    return done;
  }
}

export interface Collector {
  url: string;
  port: number;
  dir: string;
  config: string;
  db: string;
  proc: Proc;
  start(): Promise<void>;
  stop(signal?: NodeJS.Signals): Promise<number | null>;
  status(): Promise<StatusBody>;
  /** A run's log tail (GET /api/v1/runs/:runId/log). */
  runLog(runId: string): Promise<string | null>;
}

export interface StatusBody {
  agents: { name: string; lastSeen: string | null; version: string | null }[];
  jobs: {
    agent: string;
    name: string;
    asset: string;
    tier: number;
    lastRun: null | { runId: string; status: string; exitCode: number | null; durationMs: number | null; hasLog: boolean; snapshotId?: string | null; startedAt: string; finishedAt: string | null };
  }[];
  incidents: unknown[];
}

/** Starts `lifeline-collector serve` on a free loopback port with a fresh database. */
export async function startCollector(extraYaml = ''): Promise<Collector> {
  const dir = tempDir('lifeline-collector-');
  const port = await freePort();
  const config = join(dir, 'collector.yaml');
  const db = join(dir, 'lifeline.db');
  writeFileSync(config, `listen: 127.0.0.1:${port}\ndatabase: ${db}\n${extraYaml}`);
  const url = `http://127.0.0.1:${port}`;
  const c: Collector = {
    url, port, dir, config, db,
    proc: undefined as unknown as Proc,
    async start() {
      c.proc = new Proc(COLLECTOR_BIN, ['serve', '--config', config]);
      await waitFor(`collector on ${url}`, async () => (await fetch(`${url}/healthz`)).ok);
    },
    stop: (signal) => c.proc.stop(signal),
    async status() {
      return (await (await fetch(`${url}/api/v1/status`)).json()) as StatusBody;
    },
    async runLog(runId) {
      return ((await (await fetch(`${url}/api/v1/runs/${runId}/log`)).json()) as { run: { logTail: string | null } }).run.logTail;
    },
  };
  await c.start();
  return c;
}

export interface AgentSetup {
  dir: string;
  config: string;
  stateDir: string;
  name: string;
}

/** Writes an agent config under a temp dir; `jobs` is the YAML of the jobs list. */
export function writeAgentConfig(opts: { name: string; collector?: string; jobs: string; heartbeat?: string; extraAgent?: string }): AgentSetup {
  const dir = tempDir('lifeline-agent-');
  const stateDir = join(dir, 'state');
  const config = join(dir, 'agent.yaml');
  writeFileSync(
    config,
    `agent:
  name: ${opts.name}
${opts.collector ? `  collector: ${opts.collector}\n` : ''}  stateDir: ${stateDir}
  heartbeat: ${opts.heartbeat ?? '60s'}
  killGrace: 1s
${opts.extraAgent ?? ''}targets:
  - { name: local-disk, location: onsite, media: disk }
  - { name: cloud, location: offsite, media: cloud }
jobs:
${opts.jobs}`,
  );
  return { dir, config, stateDir, name: opts.name };
}

/** keygen + a one-time token from the collector + enroll. */
export function enrollAgent(agent: AgentSetup, collector: Collector): void {
  const key = cli(AGENT_BIN, ['keygen', '--config', agent.config]);
  if (key.code !== 0) throw new Error(`keygen failed: ${key.stderr}`);
  const token = cli(COLLECTOR_BIN, ['token', 'create', agent.name, '--config', collector.config]);
  if (token.code !== 0) throw new Error(`token create failed: ${token.stderr}`);
  const enroll = cli(AGENT_BIN, ['enroll', collector.url, token.stdout.trim(), '--config', agent.config]);
  if (enroll.code !== 0) throw new Error(`enroll failed: ${enroll.stderr}${enroll.stdout}`);
}
