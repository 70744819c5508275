// Ingest throughput on loopback: signed single-message requests/s and messages/s in signed
// batches of 100, each beside a no-op Fastify route measured in the same run.
// Run ids are made as the agent makes them (shared/run-id.ts: in time order).
// Run: npm run bench (or: node --import tsx bench/ingest.ts [seconds])
import { generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import autocannon from 'autocannon';
import { AGENT_HEADER, SIGNATURE_HEADER } from '../shared/protocol';
import { newRunId } from '../shared/run-id';

const SECONDS = Number(process.argv[2] ?? 10);
const AGENTS = 32;
const CONNECTIONS = 32;

interface Agent {
  name: string;
  publicKey: string;
  privateKey: KeyObject;
  seq: number;
}

const agents: Agent[] = Array.from({ length: AGENTS }, (_, i) => {
  const { publicKey, privateKey } = generateKeyPairSync('ed25519');
  const raw = Buffer.from(publicKey.export({ format: 'jwk' }).x!, 'base64url');
  return { name: `bench-${i}`, publicKey: raw.toString('base64'), privateKey, seq: 1 };
});

const LOG = 'restic backup: processed 1234 files, 5.6 GiB in 0:42\n'.repeat(4);
function runMessage(agent: Agent) {
  const now = new Date().toISOString();
  return {
    kind: 'run', agent: agent.name, seq: agent.seq++, sentAt: now, runId: newRunId(), job: `job-${agent.seq % 20}`,
    trigger: 'schedule', startedAt: now, finishedAt: now, status: 'success', exitCode: 0, durationMs: 42_000,
    bytesAdded: 123_456, bytesTotal: 5_600_000_000, files: 1234, snapshotId: 'a1b2c3d4', logTail: LOG,
  };
}

interface Prepared {
  headers: Record<string, string>;
  body: Buffer;
}

// Real Ed25519 signatures made ahead of time (node:crypto, interoperable with the agent's
// tweetnacl), so the generator spends its CPU on sending.
function prepare(count: number, perRequest: number): Prepared[] {
  const out: Prepared[] = [];
  for (let i = 0; i < count; i++) {
    const agent = agents[i % AGENTS];
    const body = Buffer.from(JSON.stringify({ messages: Array.from({ length: perRequest }, () => runMessage(agent)) }));
    out.push({ body, headers: { 'content-type': 'application/json', [AGENT_HEADER]: agent.name, [SIGNATURE_HEADER]: sign(null, body, agent.privateKey).toString('base64') } });
  }
  return out;
}

/** A server in its own process; its directory (the agents file, the real app's database) is the caller's to remove. */
async function startServer(mode: 'lifeline' | 'noop'): Promise<{ url: string; child: ChildProcess; dir: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'lifeline-bench-'));
  const file = join(dir, 'agents.json');
  writeFileSync(file, JSON.stringify(agents.map(({ name, publicKey }) => ({ name, publicKey }))));
  const profile = process.env.BENCH_CPU_PROF ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_CPU_PROF}`] : [];
  const child = spawn(process.execPath, [...profile, '--import', 'tsx', 'bench/ingest-server.ts', mode, file], { stdio: ['ignore', 'pipe', 'inherit'] });
  const line = await new Promise<string>((res) => createInterface({ input: child.stdout! }).once('line', res));
  return { url: `http://127.0.0.1:${JSON.parse(line).port}`, child, dir };
}

async function load(url: string, prepared: Prepared[], seconds = SECONDS, warnOnReplay = true) {
  let next = 0;
  const result = await autocannon({
    url,
    connections: CONNECTIONS,
    duration: seconds,
    requests: [
      {
        method: 'POST',
        path: '/api/v1/reports',
        setupRequest: (req) => {
          const p = prepared[next++ % prepared.length];
          return { ...req, headers: p.headers, body: p.body };
        },
      },
    ],
  });
  if (warnOnReplay && next > prepared.length) console.warn(`  (ran out of unique requests: ${next - prepared.length} were replays)`);
  return { rps: result.requests.average, p50: result.latency.p50, p99: result.latency.p99, non2xx: result.non2xx, errors: result.errors };
}

async function measure(label: string, mode: 'lifeline' | 'noop', prepared: Prepared[]) {
  const server = await startServer(mode);
  try {
    await load(server.url, prepared.slice(0, 200), 2, false); // warm-up (JIT, caches) on requests kept apart from the measured ones
    return { label, ...(await load(server.url, prepared.slice(200))) };
  } finally {
    server.child.kill('SIGTERM');
    await new Promise((r) => server.child.once('exit', r));
    rmSync(server.dir, { recursive: true, force: true });
  }
}

const row = (r: Awaited<ReturnType<typeof measure>>, perRequest: number) =>
  `${r.label.padEnd(34)} ${r.rps.toFixed(0).padStart(8)} req/s ${(r.rps * perRequest).toFixed(0).padStart(9)} msg/s   p50 ${String(r.p50).padStart(4)} ms  p99 ${String(r.p99).padStart(4)} ms  non-2xx ${r.non2xx}  errors ${r.errors}`;

console.log(`ingest benchmark: ${SECONDS}s per case, ${CONNECTIONS} connections, ${AGENTS} agents, loopback, ${process.version}`);
const singles = prepare(Math.max(20_000, SECONDS * 6_000), 1);
// The no-op route outruns these; replays cost it nothing, and the real app never runs out.
const batches = prepare(Math.max(1_000, SECONDS * 400), 100);
const results: [string, number, Awaited<ReturnType<typeof measure>>, Awaited<ReturnType<typeof measure>>][] = [];
for (const [name, prepared, per] of [['single message', singles, 1], ['batch of 100', batches, 100]] as const) {
  const noop = await measure(`no-op Fastify route, ${name}`, 'noop', prepared);
  const real = await measure(`lifeline signed, ${name}`, 'lifeline', prepared);
  console.log(row(noop, per));
  console.log(row(real, per));
  results.push([name, per, noop, real]);
}
for (const [name, per, noop, real] of results) {
  console.log(`ratio lifeline/no-op (${name}): ${(real.rps / noop.rps).toFixed(2)}  → ${(real.rps * per).toFixed(0)} messages/s`);
}
process.exit(0);
