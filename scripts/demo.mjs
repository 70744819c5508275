// `npm run demo`: a collector on http://localhost:9470 and a local agent enrolled with it,
// whose demo jobs back up a demo folder every minute. Everything lives under .demo/.
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { build, ensureNodeModules, root } from './setup.mjs';

ensureNodeModules();
build();

const demo = join(root, '.demo');
const dirs = { data: join(demo, 'data'), backups: join(demo, 'backups'), offsite: join(demo, 'offsite'), agent: join(demo, 'agent'), collector: join(demo, 'collector') };
for (const d of Object.values(dirs)) mkdirSync(d, { recursive: true, mode: 0o700 });
if (!existsSync(join(dirs.data, 'documents'))) {
  mkdirSync(join(dirs.data, 'documents'), { recursive: true });
  for (let i = 1; i <= 20; i++) writeFileSync(join(dirs.data, 'documents', `note-${i}.txt`), `demo document ${i}\n`.repeat(200));
}

const port = process.env.LIFELINE_DEMO_PORT ?? '9470';
const collectorConfig = join(demo, 'collector.yaml');
writeFileSync(collectorConfig, `# demo collector (npm run demo)
listen: 127.0.0.1:${port}
database: ${join(dirs.collector, 'lifeline.db')}
# Re-evaluate often, so what the demo agent does shows on the page within seconds.
incidents: { evaluateEvery: 10s }
`);
const agentConfig = join(demo, 'agent.yaml');
writeFileSync(agentConfig, `# demo agent (npm run demo): two jobs backing up .demo/data every minute
agent:
  name: demo-host
  stateDir: ${dirs.agent}
  heartbeat: 30s
targets:
  - { name: local-disk, location: onsite, media: disk }
  - { name: offsite-copy, location: offsite, media: cloud }
jobs:
  - name: documents-archive
    asset: documents
    tier: 1
    target: local-disk
    schedule: "* * * * *"
    timeout: 5m
    driver: command
    command: [tar, -czf, ${join(dirs.backups, 'documents.tgz')}, -C, ${dirs.data}, documents]
  - name: documents-offsite
    asset: documents
    tier: 1
    target: offsite-copy
    schedule: "* * * * *"
    timeout: 5m
    driver: command
    command: [cp, ${join(dirs.backups, 'documents.tgz')}, ${join(dirs.offsite, 'documents.tgz')}]
`);

const agentBin = join(root, 'dist', 'lifeline-agent.js');
const collectorBin = join(root, 'dist', 'lifeline-collector.js');
const children = [];
const prefix = (name, stream) => {
  let buf = '';
  stream.on('data', (d) => {
    buf += d;
    const lines = buf.split('\n');
    buf = lines.pop();
    for (const l of lines) process.stdout.write(`[${name}] ${l}\n`);
  });
};
const start = (name, bin, args) => {
  // Its own process group: Ctrl-C reaches the demo only, which stops each child with one
  // SIGTERM and waits (a second signal must not cut the collector's database close short).
  const child = spawn(process.execPath, [bin, ...args], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  prefix(name, child.stdout);
  prefix(name, child.stderr);
  child.on('exit', (code, sig) => {
    if (!stopping) {
      console.error(`[${name}] exited (${code ?? sig}); stopping the demo`);
      shutdown(1);
    }
  });
  children.push(child);
  return child;
};

let stopping = false;
async function shutdown(code = 0) {
  if (stopping) return;
  stopping = true;
  console.log('stopping the demo (the collector closes its database)…');
  await Promise.all(
    children.map(
      (c) =>
        new Promise((resolve) => {
          if (c.exitCode !== null || c.signalCode !== null) return resolve();
          c.once('exit', resolve);
          c.kill('SIGTERM');
        }),
    ),
  );
  process.exit(code);
}
process.on('SIGINT', () => shutdown(0));
process.on('SIGTERM', () => shutdown(0));

start('collector', collectorBin, ['serve', '--config', collectorConfig]);
const base = `http://127.0.0.1:${port}`;
for (let i = 0; ; i++) {
  try {
    if ((await fetch(`${base}/healthz`)).ok) break;
  } catch {}
  if (i > 100) {
    console.error(`the collector did not come up on ${base}`);
    shutdown(1);
  }
  await new Promise((r) => setTimeout(r, 100));
}

if (!existsSync(join(dirs.agent, 'enrollment.json'))) {
  // The token on stdout; its advice for a new host (stderr) is not for the demo.
  const token = execFileSync(process.execPath, [collectorBin, 'token', 'create', 'demo-host', '--config', collectorConfig], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();
  // enroll's own advice (enable the service…) is for a real host: the demo does it all.
  execFileSync(process.execPath, [agentBin, 'enroll', base, token, '--config', agentConfig], { stdio: ['ignore', 'ignore', 'inherit'] });
  console.log('[demo] agent demo-host enrolled with the collector');
}
start('agent', agentBin, ['daemon', '--config', agentConfig]);
// One run right away, so the status shows something before the first scheduled minute.
execFileSync(process.execPath, [agentBin, 'run', 'documents-archive', '--config', agentConfig], { stdio: 'inherit' });

console.log(`
Lifeline demo is running.
  status page:  http://localhost:${port}/
  JSON status:  curl http://localhost:${port}/api/v1/status
  agent status: node dist/lifeline-agent.js status --config .demo/agent.yaml
The demo jobs run every minute. Ctrl-C stops everything; data stays in .demo/.
`);
