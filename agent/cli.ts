import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { AGENT_HEADER, SIGNATURE_HEADER } from '../shared/protocol-constants';
import { ConfigError } from '../shared/config-error';
import { nextRun } from '../shared/schedule';
import { sign } from '../shared/signing';
import { VERSION } from '../shared/version';
import { onStopSignals } from '../shared/stop-signals';
import { helloMessage } from './catalog';
import { FINGERPRINT_RE, normalizeFingerprint } from './collector-tls';
import { collectorTls, collectorUrl, saveEnrollment } from './collector-url';
import type { AgentConfig } from './config';
import { DEFAULT_AGENT_CONFIG, loadConfig, loadConfigIsolated } from './config-loader';
import { Daemon } from './daemon';
import { describeFsError } from './durable-file';
import { postBytes } from './http-post';
import { runJob, supportedTasks, type Task } from './job-runner';
import { KeyError, loadKey, publicKeyBase64, writeNewKey } from './keys';
import { consoleLogger } from './logger';
import { Sender, type SenderState } from './sender';
import { Spool, SpoolWriteError, type SpoolOptions } from './spool';

const USAGE = `lifeline-agent ${VERSION} — runs and reports this host's backups

Usage: lifeline-agent COMMAND [--config FILE]

Commands:
  keygen               create the agent key (0600) and print its public key
  enroll URL TOKEN [--fingerprint FP]
                       register this agent's key with the collector using a one-time token
                       (--fingerprint: pin an https:// collector's certificate, as token create prints it)
  doctor               check the config, key, collector, clock, tools, secrets, spool and disk; one line each
  check-config [--json]  validate the config and list every problem (--json: print the effective config)
  run JOB              back up now (then the tool's prune and an inventory), in the foreground
  prune JOB            apply the job's retention with the tool's own prune
  verify JOB           check the integrity of the job's repository or archive
  restore-test JOB     restore the newest copy into a scratch directory and check it
  inventory JOB        list the copies at the job's target and report them
  daemon               run jobs on their schedules (the systemd service)
  status [--json]      show jobs, their schedules, last runs and the spool
  snapshot VMID [--note TEXT]  take a Proxmox guest snapshot before a risky change (never a backup)
  snapshots [--json]   list this node's guest snapshots with their age, oldest first
  vzdump-hook PHASE [MODE VMID]  vzdump's hook script: records the guest's backup (always exits 0)
  proxmox install-hook [--wrapper PATH] [--vzdump-conf PATH] [--jobs-cfg PATH]
                       make vzdump call the hook (a wrapper, and "script:" in /etc/vzdump.conf)
  pbs scan [--json]    read this Proxmox Backup Server once and show what the daemon reports (spools nothing)

Options:
  --config FILE        config file (default: $LIFELINE_CONFIG or ${DEFAULT_AGENT_CONFIG})
  -h, --help           show this help
  -V, --version        print the version

Exit codes: 0 ok · 1 run failed or timed out · 2 bad usage or config · 3 run finished with warnings · 4 run skipped (already running) · 5 the result could not be recorded (the state directory's disk is full)
`;

export const EXIT = { ok: 0, failed: 1, usage: 2, warning: 3, skipped: 4, unrecorded: 5 } as const;

export async function main(argv: string[]): Promise<number> {
  let args;
  try {
    args = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        config: { type: 'string' },
        json: { type: 'boolean' },
        note: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
        version: { type: 'boolean', short: 'V' },
        wrapper: { type: 'string' },
        'vzdump-conf': { type: 'string' },
        'jobs-cfg': { type: 'string' },
        fingerprint: { type: 'string' },
      },
    });
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n\n${USAGE}`);
    return EXIT.usage;
  }
  const { values, positionals } = args;
  if (values.version) {
    process.stdout.write(`${VERSION}\n`);
    return EXIT.ok;
  }
  const [command, ...rest] = positionals;
  if (values.help || !command) {
    process.stdout.write(USAGE);
    return values.help ? EXIT.ok : EXIT.usage;
  }
  const configFile = values.config ?? process.env.LIFELINE_CONFIG ?? DEFAULT_AGENT_CONFIG;
  try {
    switch (command) {
      case 'keygen':
        return keygen(await loadConfig(configFile));
      case 'enroll':
        if (rest.length !== 2) return usage('enroll needs URL and TOKEN');
        return await enroll(await loadConfig(configFile), rest[0], rest[1], values.fingerprint);
      case 'doctor': {
        const { doctorCommand } = await import('./doctor');
        return await doctorCommand(configFile);
      }
      case 'check-config':
        return checkConfig(await loadConfig(configFile), Boolean(values.json));
      case 'run':
      case 'prune':
      case 'verify':
      case 'restore-test':
      case 'inventory':
        if (rest.length !== 1) return usage(`${command} needs the name of one job`);
        return await runNow(await loadConfig(configFile), rest[0], command === 'run' ? 'backup' : command);
      case 'daemon':
        return await daemon(loadConfigIsolated(configFile));
      case 'status':
        return status(await loadConfig(configFile), Boolean(values.json));
      case 'snapshot': {
        if (rest.length !== 1) return usage('snapshot needs the VMID of one guest');
        const { snapshotCommand } = await import('./proxmox/snapshots');
        return await snapshotCommand(await loadConfig(configFile), rest[0], values.note);
      }
      case 'snapshots': {
        const { snapshotsCommand } = await import('./proxmox/snapshots');
        return await snapshotsCommand(await loadConfig(configFile), Boolean(values.json));
      }
      case 'vzdump-hook': {
        // Never a non-zero exit: vzdump would fail the guest's backup (agent/proxmox/hook.ts).
        const { runVzdumpHook, settingsFromConfig } = await import('./proxmox/hook');
        const [phase = '', mode, vmid] = rest;
        const settings = async () => settingsFromConfig(await loadConfig(configFile));
        const lines = await runVzdumpHook({ phase, mode, vmid, env: process.env, settings, parentPid: process.ppid });
        if (lines.length > 0) process.stdout.write(`${lines.join('\n')}\n`);
        return EXIT.ok;
      }
      case 'proxmox': {
        if (rest.length !== 1 || rest[0] !== 'install-hook') return usage('proxmox needs a subcommand: install-hook');
        const { installHookCommand } = await import('./proxmox/install-hook');
        return installHookCommand(await loadConfig(configFile), { wrapper: values.wrapper, vzdumpConf: values['vzdump-conf'], jobsCfg: values['jobs-cfg'] });
      }
      case 'pbs': {
        if (rest.length !== 1 || rest[0] !== 'scan') return usage('pbs needs a subcommand: scan');
        const { pbsScanCommand } = await import('./pbs/command');
        return await pbsScanCommand(await loadConfig(configFile), Boolean(values.json));
      }
      default:
        return usage(`unknown command "${command}"`);
    }
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`invalid config:\n${err.message}\n`);
      return EXIT.usage;
    }
    if (err instanceof KeyError) {
      process.stderr.write(`${err.message}\n`);
      return EXIT.usage;
    }
    throw err;
  }
}

function usage(msg: string): number {
  process.stderr.write(`${msg}\n\n${USAGE}`);
  return EXIT.usage;
}

function keygen(config: AgentConfig): number {
  const pair = writeNewKey(config.keyFile);
  process.stderr.write(`wrote ${config.keyFile} (mode 0600); public key of agent "${config.name}":\n`);
  process.stdout.write(`${publicKeyBase64(pair)}\n`);
  return EXIT.ok;
}

async function enroll(config: AgentConfig, url: string, token: string, fingerprint: string | undefined): Promise<number> {
  const base = url.replace(/\/+$/, '');
  if (fingerprint !== undefined && !FINGERPRINT_RE.test(fingerprint.trim())) return usage(`invalid --fingerprint ${JSON.stringify(fingerprint)}: expected 32 hex pairs separated by ":", as token create prints it`);
  if (fingerprint !== undefined && !base.startsWith('https://')) return usage('--fingerprint pins an https:// collector; the URL is http://');
  const pinned = fingerprint === undefined ? undefined : normalizeFingerprint(fingerprint);
  // The token goes only to a collector that passed the certificate check (the pin given here first).
  const tls = pinned ? { fingerprint: pinned } : collectorTls({ ...config, collector: base });
  const pair = existsSync(config.keyFile) ? loadKey(config.keyFile) : writeNewKey(config.keyFile);
  const body = Buffer.from(JSON.stringify({ token, name: config.name, publicKey: publicKeyBase64(pair) }));
  let answer;
  try {
    const headers = { 'content-type': 'application/json', [AGENT_HEADER]: config.name, [SIGNATURE_HEADER]: sign(body, pair.secretKey) };
    answer = await postBytes(`${base}/api/v1/enroll`, body, headers, { timeoutMs: 15_000, tls });
  } catch (err) {
    process.stderr.write(`cannot reach the collector at ${base}: ${(err as Error).message}\n`);
    return EXIT.failed;
  }
  if (answer.status !== 200) {
    let reason = answer.text.slice(0, 300);
    try {
      reason = (JSON.parse(answer.text) as { error: { message: string } }).error.message;
    } catch {
      /* not our error shape: show the raw answer */
    }
    process.stderr.write(`enrollment refused (${answer.status}): ${reason}\n`);
    return EXIT.failed;
  }
  saveEnrollment(config.stateDir, { collector: base, agent: config.name, enrolledAt: new Date().toISOString(), ...(pinned ? { fingerprint: pinned } : {}) });
  process.stdout.write(`enrolled "${config.name}" with ${base}\n`);
  const { restartAfterEnroll } = await import('./service-restart');
  process.stdout.write(`${restartAfterEnroll(config.file)}\n`);
  return EXIT.ok;
}

function checkConfig(config: AgentConfig, json: boolean): number {
  if (json) {
    process.stdout.write(`${JSON.stringify(config, null, 2)}\n`);
    return EXIT.ok;
  }
  process.stdout.write(`OK: ${config.file}: agent "${config.name}", ${config.jobs.length} job(s), ${config.targets.length} target(s)\n`);
  if (!collectorUrl(config)) process.stdout.write('note: no collector set (agent.collector) and not enrolled yet\n');
  return EXIT.ok;
}

function openSpool(config: AgentConfig, notice?: SpoolOptions['notice']): Spool {
  return new Spool(join(config.stateDir, 'spool'), { maxBytes: config.spool.maxBytes, agent: config.name, notice });
}

const SEVERITY: Record<string, number> = { success: 0, skipped: 1, warning: 2, timeout: 3, failure: 3 };
const EXIT_FOR: Record<string, number> = { success: EXIT.ok, warning: EXIT.warning, skipped: EXIT.skipped, failure: EXIT.failed, timeout: EXIT.failed };

async function runNow(config: AgentConfig, name: string, task: Task): Promise<number> {
  const job = config.jobs.find((j) => j.name === name);
  if (!job) return usage(`no job "${name}" in ${config.file}; jobs: ${config.jobs.map((j) => j.name).join(', ') || '(none)'}`);
  if (!supportedTasks(job).includes(task)) {
    process.stderr.write(`job ${name} uses the ${job.driver} driver, which cannot ${task}; it can: ${supportedTasks(job).join(', ')}\n`);
    return EXIT.usage;
  }
  const notices: string[] = [];
  const spool = openSpool(config, (_level, msg) => notices.push(msg));
  const unrecorded: SpoolWriteError[] = [];
  // The collector learns the job (tier, asset, target) even if no daemon has said hello yet;
  // with the guests' backups the last Proxmox scan found, which a hello without would retire.
  const discovered = config.proxmox ? (await import('./proxmox/discovery')).loadDiscoveredJobs(config.stateDir) : [];
  if (config.pbs) discovered.push(...(await import('./pbs/state')).loadPbsJobs(config.stateDir));
  if (config.truenas) discovered.push(...(await import('./truenas/state')).loadTrueNasJobs(config.stateDir));
  try {
    spool.append(helloMessage(config, discovered));
  } catch (err) {
    if (!(err instanceof SpoolWriteError)) throw err;
    unrecorded.push(err);
  }
  // Ctrl-C stops the job's process group (it runs in its own, out of the terminal's reach) and
  // still reports the run; without this the agent died and left the backup running, unreported.
  // Once the run is recorded, Ctrl-C only cuts the delivery attempt short (the daemon delivers).
  const abort = new AbortController();
  let sender: Sender | undefined;
  const interrupt = () => {
    abort.abort();
    void sender?.stop();
  };
  const release = onStopSignals(
    (sig) => {
      process.stderr.write(`lifeline-agent: ${sig}: stopping ${job.name}, then recording its run\n`);
      interrupt();
    },
    (sig) => {
      process.stderr.write(`lifeline-agent: ${sig} again: still stopping ${job.name} and recording its run\n`);
      interrupt();
    },
  );
  try {
    const result = await runJob(job, { config, spool, trigger: 'manual', task, signal: abort.signal });
    unrecorded.push(...result.unrecorded);
    for (const r of result.reports) {
      process.stdout.write(`${job.name} ${r.operation}: ${r.status} in ${r.durationMs} ms${r.exitCode !== null ? `, exit code ${r.exitCode}` : ''}${r.error ? ` — ${r.error}` : ''}\n`);
    }
    if (task === 'inventory' && unrecorded.length === 0) process.stdout.write(`${job.name}: inventory of ${job.target.name} spooled\n`);
    for (const n of notices) process.stderr.write(`lifeline-agent: ${n}\n`);
    const url = collectorUrl(config);
    if (url && !abort.signal.aborted) {
      sender = new Sender({ spool, url, agent: config.name, secretKey: loadKey(config.keyFile).secretKey, batch: config.spool.batch, baseMs: config.retry.min, capMs: config.retry.max, tls: collectorTls(config), log: () => {} });
      // A down collector is the daemon's problem: give up after two failed tries.
      const delivered = await sender.flush(10_000, 2);
      await sender.stop();
      if (!delivered) process.stderr.write(`${undelivered(url, sender.state())}\n`);
    }
    if (unrecorded.length > 0) {
      const outcome = result.reports.map((r) => `${r.operation} ${r.status}`).join(', ') || 'nothing ran';
      process.stderr.write(`lifeline-agent: ${unrecorded.length} report(s) of this run could not be recorded, so the collector will never see them (${outcome}): ${unrecorded[0].message}\n`);
      return EXIT.unrecorded;
    }
    const worst = result.reports.reduce<string>((w, r) => (SEVERITY[r.status] > SEVERITY[w] ? r.status : w), 'success');
    return EXIT_FOR[worst];
  } finally {
    release();
  }
}

/** Why the report is still in the spool, and whether the daemon can deliver it as things are. */
function undelivered(url: string, state: SenderState): string {
  switch (state.lastRefusal) {
    case 'unknown-agent':
      return `the collector ${url} refused the report: ${state.lastError}. The report stays in the spool; it is delivered once this agent is enrolled`;
    case 'cannot-store':
      return `${state.lastError}: the report stays in the spool and the daemon delivers it when the collector can store again`;
    default:
      return `collector ${url} not reachable now (${state.lastError ?? 'no answer'}): the report stays in the spool and the daemon will deliver it`;
  }
}

async function daemon(config: AgentConfig): Promise<number> {
  const log = consoleLogger();
  let d: Daemon | undefined;
  try {
    d = new Daemon(config, log);
    d.start();
  } catch (err) {
    // Whatever started is stopped again: no daemon without its scheduler (systemd restarts it).
    if (err instanceof KeyError) throw err;
    const e = err as NodeJS.ErrnoException;
    log.error(`cannot start: ${e.code && e.path ? describeFsError(e, e.path) : e.message}`);
    await d?.stop();
    return EXIT.failed;
  }
  const running = d;
  await new Promise<void>((resolve) => {
    const release = onStopSignals(
      (sig) => {
        log.info(`${sig} received: stopping`);
        const done = () => {
          release();
          resolve();
        };
        running.stop().then(done, done);
      },
      (sig) => log.info(`${sig} again: still stopping (reporting what the running jobs did)`),
    );
    process.on('SIGHUP', () => running.reload());
  });
  return EXIT.ok;
}

function status(config: AgentConfig, json: boolean): number {
  const spool = openSpool(config);
  const now = new Date();
  const jobs = config.jobs.map((j) => {
    let last: { status?: string; finishedAt?: string; error?: string } | null = null;
    try {
      last = JSON.parse(readFileSync(join(config.stateDir, 'runs', `${j.name}.json`), 'utf8'));
    } catch {
      last = null;
    }
    return { name: j.name, asset: j.asset, tier: j.tier, target: j.target.name, schedule: j.schedule, nextRun: nextRun(j.schedule, now)?.toISOString() ?? null, lastRun: last };
  });
  const out = { agent: config.name, version: VERSION, collector: collectorUrl(config), spool: spool.stats(), jobs };
  if (json) {
    process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
    return EXIT.ok;
  }
  const { spool: s } = out;
  process.stdout.write(`agent ${out.agent} (${VERSION}) → ${out.collector ?? 'no collector configured'}\n`);
  process.stdout.write(`spool: ${s.pending} pending, ${s.dropped} dropped, ${s.rejected} set aside, ${s.lost} lost\n`);
  if (config.pbs) process.stdout.write(`pbs: ${config.pbs.source === 'api' ? config.pbs.url : 'the CLIs'}, scanned every ${Math.round(config.pbs.scanMs / 1000)}s (lifeline-agent pbs scan shows what it sees)\n`);
  if (s.rejected > 0) process.stdout.write(`  ${s.rejected} message(s) set aside in ${spool.dir}/rejected (the .reason file beside each says why)\n`);
  if (s.error) process.stdout.write(`  CANNOT SPOOL: ${s.error}\n`);
  process.stdout.write('\n');
  const rows = [['JOB', 'ASSET', 'TIER', 'TARGET', 'SCHEDULE', 'NEXT RUN', 'LAST RUN']];
  for (const j of jobs) {
    rows.push([j.name, j.asset, String(j.tier), j.target, j.schedule, j.nextRun ?? '-', j.lastRun ? `${j.lastRun.status} ${j.lastRun.finishedAt}` : 'never']);
  }
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  for (const r of rows) process.stdout.write(`${r.map((c, i) => c.padEnd(widths[i])).join('  ').trimEnd()}\n`);
  return EXIT.ok;
}
