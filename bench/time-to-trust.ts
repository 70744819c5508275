// Time to trust: from `dpkg -i` of both packages to a test push received by a loopback
// ntfy-compatible server and the agent's first report at the collector, with the commands a
// user types, on this machine. The packages are built first (not timed) and purged at the end.
// Where systemd is not PID 1 (CI, containers) the bench starts each unit's ExecStart as the unit's
// user in systemd's place: the collector when it is installed (postinst would start it), the
// agent when enroll has run (enroll would restart it).
// Needs root and a host without Lifeline (it installs into /etc/lifeline, /var/lib/lifeline-*).
// Run: npm run bench -- bench/time-to-trust.ts
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ntfyOk, startServer } from '../test/fixtures/notify-helpers';
import { buildPackages, collectorStatus, lifelineTraces, purgeAll, run, runAsync, startUnit, waitHealthy, type Service } from '../test/helpers/deb';
import { AGENT_BIN, freePort, tempDir, waitFor } from '../test/helpers/processes';

if (process.getuid?.() !== 0 || lifelineTraces().length > 0) {
  console.log(`time to trust: skipped (needs root and a host without Lifeline${lifelineTraces().length ? `; found: ${lifelineTraces().join(', ')}` : ''})`);
  process.exit(0);
}

const work = tempDir('lifeline-ttt-');
const services: Service[] = [];
const ntfy = await startServer((r) => ntfyOk(r));
const systemd = run('test', ['-d', '/run/systemd/system']).code === 0;
const rows: { what: string; ms: number; at: number }[] = [];
let t0 = 0;
async function step<T>(what: string, fn: () => T | Promise<T>): Promise<T> {
  const s = performance.now();
  const v = await fn();
  rows.push({ what, ms: performance.now() - s, at: performance.now() - t0 });
  return v;
}
// Commands run without blocking: the ntfy stand-in answers from this process.
const typed = async (cmd: string, args: string[]) => {
  const r = await runAsync(cmd, args);
  if (r.code !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${r.code}: ${r.stderr}`);
  return r;
};

try {
  const built = buildPackages(join(work, 'debs'));
  const port = await freePort();
  // The packaged agent.yaml names no agent: it is the host's name, which token create is given.
  const agentName = /agent "([^"]+)"/.exec(run(process.execPath, [AGENT_BIN, 'check-config', '--config', join(process.cwd(), 'packaging/config/agent.yaml')]).stdout)?.[1] ?? 'pve1';
  t0 = performance.now();
  await step('dpkg -i lifeline-collector_*.deb lifeline-agent_*.deb', () => typed('dpkg', ['-i', built.collector, built.agent]));
  // The user's one edit: a notification channel (and, on this shared machine, a free loopback port).
  await step('edit /etc/lifeline/collector.yaml: notify: [{ type: ntfy, url: … }]', () =>
    writeFileSync('/etc/lifeline/collector.yaml', `${readFileSync('/etc/lifeline/collector.yaml', 'utf8')}\nlisten: 127.0.0.1:${port}\nnotify:\n  - { type: ntfy, url: "${ntfy.url}/homelab-backups" }\n`),
  );
  await step(systemd ? 'systemctl restart lifeline-collector' : '(systemd\'s part) the collector unit\'s ExecStart, as lifeline, up to /healthz', async () => {
    if (systemd) typed('systemctl', ['restart', 'lifeline-collector']);
    else services.push(startUnit('lifeline-collector.service'));
    await waitHealthy(port, services[0]);
  });
  const notify = await step('lifeline-collector notify test', () => runAsync('lifeline-collector', ['notify', 'test']));
  await step('… the test push at the loopback ntfy server', () => waitFor('the test push', () => ntfy.received.length > 0, 30_000, 20));
  const token = await step(`lifeline-collector token create ${agentName}`, () => typed('lifeline-collector', ['token', 'create', agentName]));
  await step(`lifeline-agent enroll http://127.0.0.1:${port} TOKEN`, () => typed('lifeline-agent', ['enroll', `http://127.0.0.1:${port}`, token.stdout.trim()]));
  await step(systemd ? '… enroll restarted lifeline-agent; its first report at the collector' : '(systemd\'s part) the agent unit\'s ExecStart; its first report at the collector', async () => {
    if (!systemd) services.push(startUnit('lifeline-agent.service'));
    await waitFor('the agent\'s first report', async () => (await collectorStatus(port)).agents.some((a) => a.lastSeen !== null), 60_000, 50);
  });

  const s = (ms: number) => `${(ms / 1000).toFixed(2)} s`;
  console.log(`time to trust (${systemd ? 'systemd as PID 1' : 'no systemd as PID 1: units started by the bench'}; node ${process.version})`);
  for (const r of rows) console.log(`  ${s(r.at).padStart(8)}  (+${s(r.ms).padStart(7)})  ${r.what}`);
  const commands = rows.filter((r) => /^(lifeline-|systemctl )/.test(r.what)).length;
  console.log(`  total from dpkg -i to the agent's first report: ${s(rows.at(-1)!.at)}; ${commands} commands typed after installing, plus one edit of collector.yaml`);
  console.log(`  notify test answered (exit ${notify.code}): ${notify.stdout.trim().split('\n').join(' | ')}${notify.code !== 0 ? ` ${notify.stderr.trim()}` : ''}`);
} finally {
  for (const svc of services) await svc.stop();
  await ntfy.close();
  purgeAll();
  rmSync(work, { recursive: true, force: true });
  const left = lifelineTraces();
  if (left.length) console.log(`  left behind after purge: ${left.join(', ')}`);
}
