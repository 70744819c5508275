// Agent footprint: idle RSS of the bundled daemon with a 20-job config beside a bare `node`
// process measured in the same run, the bundle size, and CPU used while idle between heartbeats;
// the daemon twice side by side: with the node flags it ships with (agent/node-flags.ts: the
// unit, the command, the hook wrapper) and with node's defaults.
// Run: npm run bench (builds dist/ first), or: node --import tsx bench/agent-footprint.ts
import { spawn } from 'node:child_process';
import { readFileSync, statSync } from 'node:fs';
import { AGENT_BIN, enrollAgent, sleep, startCollector, writeAgentConfig } from '../test/helpers/processes';
import { benchAgentFlags, flagsLabel } from './agent-flags';

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
const variants = [
  { label: `shipped (${flagsLabel(benchAgentFlags)})`, flags: benchAgentFlags },
  { label: 'node defaults', flags: [] as readonly string[] },
];
const daemons = variants.map((v, i) => {
  const agent = writeAgentConfig({ name: `footprint-${i}`, jobs, heartbeat: '60s' });
  enrollAgent(agent, collector);
  return { ...v, child: spawn(process.execPath, [...v.flags, AGENT_BIN, 'daemon', '--config', agent.config], { stdio: 'ignore' }) };
});
const bare = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1 << 30)'], { stdio: 'ignore' });
await sleep(10_000); // start-up, hello and first heartbeat delivered, lazy compilation and GC settled

const bareRss = rssKiB(bare.pid!);
const measured = daemons.map((d) => ({ ...d, rss: rssKiB(d.child.pid!), t0: cpuTicks(d.child.pid!) }));
await sleep(IDLE_SECONDS * 1000);
const bundle = statSync(AGENT_BIN).size;

console.log(`agent footprint (${process.version}, ${IDLE_SECONDS}s idle window, heartbeat 60s, 20 jobs, daemons side by side)`);
for (const d of measured) {
  const idleTicks = cpuTicks(d.child.pid!) - d.t0;
  console.log(`  ${d.label}:`);
  console.log(`    idle RSS: agent daemon ${(d.rss / 1024).toFixed(1)} MiB vs bare node ${(bareRss / 1024).toFixed(1)} MiB → ratio ${(d.rss / bareRss).toFixed(2)} (target ≤ 1.30)`);
  console.log(`    CPU while idle: ${idleTicks} ticks = ${(idleTicks / TICKS_PER_SECOND * 1000).toFixed(0)} ms over ${IDLE_SECONDS}s (${((idleTicks / TICKS_PER_SECOND / IDLE_SECONDS) * 100).toFixed(2)}% of a core)`);
}
console.log(`  bundle: dist/lifeline-agent.js ${(bundle / 1024).toFixed(0)} KiB (target ≤ 700 KB)`);

for (const d of daemons) d.child.kill('SIGKILL');
bare.kill('SIGKILL');
await collector.stop('SIGKILL');
process.exit(0);
