// Agent footprint: idle RSS of the bundled daemon with a 20-job config beside a bare `node`
// process measured in the same run, the bundle size, and CPU used while idle between heartbeats.
// Run: npm run bench (builds dist/ first), or: node --import tsx bench/agent-footprint.ts
import { spawn } from 'node:child_process';
import { readFileSync, statSync } from 'node:fs';
import { AGENT_BIN, enrollAgent, sleep, startCollector, writeAgentConfig } from '../test/helpers/processes';

const IDLE_SECONDS = Number(process.argv[2] ?? 20);
const TICKS_PER_SECOND = 100; // USER_HZ on Linux

const rssKiB = (pid: number) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]);
const cpuTicks = (pid: number) => {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return Number(fields[11]) + Number(fields[12]); // utime + stime
};

const collector = await startCollector();
// 20 jobs on far-apart schedules: none fires during the measurement.
const jobs = Array.from({ length: 20 }, (_, i) =>
  `  - { name: job-${i}, asset: asset-${i}, tier: ${(i % 4) + 1}, target: local-disk, driver: command, command: [echo, ${i}], schedule: "0 3 1 1 *" }\n`,
).join('');
const agent = writeAgentConfig({ name: 'footprint', jobs, heartbeat: '60s' });
enrollAgent(agent, collector);

const daemon = spawn(process.execPath, [AGENT_BIN, 'daemon', '--config', agent.config], { stdio: 'ignore' });
const bare = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1 << 30)'], { stdio: 'ignore' });
await sleep(10_000); // start-up, hello and first heartbeat delivered, lazy compilation and GC settled

const agentRss = rssKiB(daemon.pid!);
const bareRss = rssKiB(bare.pid!);
const t0 = cpuTicks(daemon.pid!);
await sleep(IDLE_SECONDS * 1000);
const idleTicks = cpuTicks(daemon.pid!) - t0;
const bundle = statSync(AGENT_BIN).size;

console.log(`agent footprint (${process.version}, ${IDLE_SECONDS}s idle window, heartbeat 60s, 20 jobs)`);
console.log(`  idle RSS: agent daemon ${(agentRss / 1024).toFixed(1)} MiB vs bare node ${(bareRss / 1024).toFixed(1)} MiB → ratio ${(agentRss / bareRss).toFixed(2)} (target ≤ 1.30)`);
console.log(`  bundle: dist/lifeline-agent.js ${(bundle / 1024).toFixed(0)} KiB (target ≤ 700 KB)`);
console.log(`  CPU while idle: ${idleTicks} ticks = ${(idleTicks / TICKS_PER_SECOND * 1000).toFixed(0)} ms over ${IDLE_SECONDS}s (${((idleTicks / TICKS_PER_SECOND / IDLE_SECONDS) * 100).toFixed(2)}% of a core)`);

daemon.kill('SIGKILL');
bare.kill('SIGKILL');
await collector.stop('SIGKILL');
process.exit(0);
