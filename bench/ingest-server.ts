// The server side of bench/ingest.ts, in its own process so the load generator does not share
// its event loop: `lifeline` is the real collector app, `noop` a bare Fastify route that parses
// the same JSON and answers, as the baseline measured in the same run.
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import Fastify from 'fastify';
import { buildApp } from '../collector/app';
import { collectorConfig } from '../collector/config';
import { openDb } from '../collector/db';

const [mode, agentsFile] = process.argv.slice(2);

async function main() {
  let app;
  if (mode === 'noop') {
    app = Fastify({ bodyLimit: 2 ** 20 });
    app.post('/api/v1/reports', async (req) => ({ accepted: (req.body as { messages: unknown[] }).messages.length, duplicates: 0 }));
  } else {
    const agents = JSON.parse(readFileSync(agentsFile, 'utf8')) as { name: string; publicKey: string }[];
    const db = openDb(join(dirname(agentsFile), 'lifeline.db')); // beside the agents file: bench/ingest.ts removes both
    app = buildApp({ config: collectorConfig({ agents, limits: { ratePerSecond: 1e9, burst: 1e9, bodyBytes: 2 ** 20 } }), db });
  }
  await app.listen({ host: '127.0.0.1', port: 0 });
  const { port } = app.server.address() as { port: number };
  process.stdout.write(`${JSON.stringify({ port })}\n`);
}
// A clean exit on SIGTERM lets `node --cpu-prof` write its profile.
process.on('SIGTERM', () => process.exit(0));
main();
