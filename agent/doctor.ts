import { spawnSync } from 'node:child_process';
import { readFileSync, statSync, statfsSync } from 'node:fs';
import { isAbsolute, join } from 'node:path';
import { ConfigError, loadConfigFile } from '../shared/config-file';
import { AGENT_HEADER, SIGNATURE_HEADER } from '../shared/protocol-constants';
import { secretFileProblem } from '../shared/secret-file';
import { keyPairFromSeed, sign, type KeyPair } from '../shared/signing';
import { clockOffsetMs } from './clock';
import { collectorTls, collectorUrl } from './collector-url';
import { agentConfigSchema, checkJobs, resolveAgentConfig, type AgentConfig } from './config';
import { backlogVerdict, clockVerdict, doctorExit, formatLines, hostTools, jobTools, spaceVerdict, versionLine, type CheckLine, type ToolSpec } from './doctor-checks';
import { DRIVERS } from './drivers';
import { postBytes } from './http-post';
import { Spool } from './spool';

// `lifeline-agent doctor`: every check on one line, ok or PROBLEM with what to do, exit 1 when
// any is a problem. It changes nothing: the collector check is a signed no-op (POST
// /api/v1/check, authenticated like a report, nothing stored), tools are asked their version.

export async function doctorCommand(file: string): Promise<number> {
  const lines = await doctor(file);
  process.stdout.write(formatLines(lines));
  return doctorExit(lines);
}

export async function doctor(file: string): Promise<CheckLine[]> {
  const lines: CheckLine[] = [];
  const config = configCheck(file, lines);
  if (!config) return lines;
  const pair = keyCheck(config, lines);
  const offset = await collectorCheck(config, pair, lines);
  lines.push(clockVerdict(offset));
  toolChecks(config, lines);
  secretChecks(config, lines);
  spoolCheck(config, lines);
  diskCheck(config, lines);
  return lines;
}

/**
 * The config, as check-config loads it. Secret-file problems are left to their own lines; when
 * only they (or job options) are wrong, the rest is still checked from a lenient load.
 */
function configCheck(file: string, lines: CheckLine[]): AgentConfig | null {
  try {
    const config = resolveAgentConfig(loadConfigFile(file, agentConfigSchema, checkJobs), file);
    lines.push({ name: 'config', verdict: 'ok', detail: `${file}: agent "${config.name}", ${config.jobs.length} job(s), ${config.targets.length} target(s)` });
    return config;
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    const own = err.problems.filter((p) => !/^secret file /.test(p.message));
    if (own.length > 0) lines.push({ name: 'config', verdict: 'problem', detail: `${own.length} problem(s); fix them, then run lifeline-agent check-config:\n${own.map((p) => `${p.line > 0 ? `${p.file}:${p.line}:${p.column}` : p.file}: ${p.path ? `${p.path}: ` : ''}${p.message}`).join('\n')}` });
    try {
      const config = resolveAgentConfig(loadConfigFile(file, agentConfigSchema), file);
      if (own.length === 0) lines.push({ name: 'config', verdict: 'ok', detail: `${file}: agent "${config.name}" (its secret files are checked below)` });
      return config;
    } catch {
      lines.push({ name: 'other checks', verdict: 'skipped', detail: 'they need a config that loads' });
      return null;
    }
  }
}

/** The key's mode and owner; the key is still read (when it can be) to ask the collector about it. */
function keyCheck(config: AgentConfig, lines: CheckLine[]): KeyPair | null {
  const problem = secretFileProblem(config.keyFile);
  if (problem?.fault === 'missing') {
    lines.push({ name: 'key', verdict: 'problem', detail: `no agent key at ${config.keyFile}; run: lifeline-agent enroll URL TOKEN (it creates the key), or lifeline-agent keygen` });
    return null;
  }
  let pair: KeyPair | null = null;
  try {
    const seed = Buffer.from(readFileSync(config.keyFile, 'utf8').trim(), 'base64');
    if (seed.length === 32) pair = keyPairFromSeed(new Uint8Array(seed));
  } catch {
    pair = null;
  }
  if (problem) lines.push({ name: 'key', verdict: 'problem', detail: `${problem.message} (the daemon refuses to start with it)` });
  else if (!pair) lines.push({ name: 'key', verdict: 'problem', detail: `${config.keyFile} does not hold an Ed25519 key (32 bytes of base64); move it away and run: lifeline-agent keygen, then enroll again` });
  else lines.push({ name: 'key', verdict: 'ok', detail: `${config.keyFile} (mode 0600)` });
  return pair;
}

/** Reachable, and the key accepted: one signed POST /api/v1/check. Returns the clock offset (ms) or null. */
async function collectorCheck(config: AgentConfig, pair: KeyPair | null, lines: CheckLine[]): Promise<number | null> {
  const url = collectorUrl(config);
  if (!url) {
    lines.push({ name: 'collector', verdict: 'problem', detail: `none set: set agent.collector in ${config.file} or run: lifeline-agent enroll URL TOKEN` });
    lines.push({ name: 'key accepted', verdict: 'skipped', detail: 'no collector to ask' });
    return null;
  }
  const body = Buffer.from(JSON.stringify({ check: 'doctor', sentAt: new Date().toISOString() }));
  // Unsigned when the key cannot be read: the collector answers 401, which still shows it is there.
  const headers: Record<string, string> = { 'content-type': 'application/json', [AGENT_HEADER]: config.name };
  if (pair) headers[SIGNATURE_HEADER] = sign(body, pair.secretKey);
  const sentAt = Date.now();
  let answer;
  try {
    answer = await postBytes(`${url}/api/v1/check`, body, headers, { timeoutMs: 10_000, tls: collectorTls(config) });
  } catch (err) {
    const msg = (err as Error).message;
    const certificate = /certificate|fingerprint/i.test(msg);
    lines.push({ name: 'collector', verdict: 'problem', detail: certificate ? `${url}: ${msg}` : `cannot reach ${url}: ${msg}; is the collector running (systemctl status lifeline-collector on its host) and is the address right (agent.collector)?` });
    lines.push({ name: 'key accepted', verdict: 'skipped', detail: 'the collector did not answer' });
    return null;
  }
  const receivedAt = Date.now();
  const ms = receivedAt - sentAt;
  const error = errorOf(answer.text);
  if (answer.status === 404) {
    lines.push({ name: 'collector', verdict: 'ok', detail: `${url} answered in ${ms} ms` });
    lines.push({ name: 'key accepted', verdict: 'skipped', detail: 'this collector has no POST /api/v1/check (older than this agent): upgrade it to check the key' });
  } else if (answer.status === 200) {
    lines.push({ name: 'collector', verdict: 'ok', detail: `${url} answered in ${ms} ms` });
    lines.push({ name: 'key accepted', verdict: 'ok', detail: `the collector knows agent "${config.name}" and its key` });
  } else if (answer.status === 401) {
    lines.push({ name: 'collector', verdict: 'ok', detail: `${url} answered in ${ms} ms` });
    const fix =
      error.code === 'E_BAD_SIGNATURE'
        ? `the collector has another key for agent "${config.name}": enroll this key again (on the collector: lifeline-collector token create ${config.name}; here: lifeline-agent enroll ${url} TOKEN)`
        : error.code === 'E_UNKNOWN_AGENT'
          ? `the collector does not know agent "${config.name}": on the collector run lifeline-collector token create ${config.name}, then here: lifeline-agent enroll ${url} TOKEN`
          : `${error.message ?? answer.text.slice(0, 200)}`;
    lines.push({ name: 'key accepted', verdict: 'problem', detail: `refused (401 ${error.code ?? ''}): ${fix}` });
  } else {
    lines.push({ name: 'collector', verdict: 'problem', detail: `${url} answered ${answer.status}${error.code ? ` ${error.code}` : ''}: ${error.message ?? answer.text.slice(0, 200)}` });
    lines.push({ name: 'key accepted', verdict: 'skipped', detail: 'the collector could not say' });
  }
  // The collector's clock in ms when it says it (Date has whole seconds), against the midpoint.
  const now = (() => {
    try {
      const v = (JSON.parse(answer.text) as { now?: unknown }).now;
      return typeof v === 'number' && Number.isFinite(v) ? v : null;
    } catch {
      return null;
    }
  })();
  return now !== null ? Math.round(now - (sentAt + receivedAt) / 2) : clockOffsetMs(sentAt, receivedAt, answer.date);
}

function errorOf(text: string): { code?: string; message?: string } {
  try {
    const e = (JSON.parse(text) as { error?: { code?: unknown; message?: unknown } }).error;
    return { code: typeof e?.code === 'string' ? e.code : undefined, message: typeof e?.message === 'string' ? e.message : undefined };
  } catch {
    return {};
  }
}

/** Each distinct tool of every job, once, with its version or what to install. */
function toolChecks(config: AgentConfig, lines: CheckLine[]): void {
  // Who uses each tool: "job NAME", or the proxmox: / pbs: section.
  const seen = new Map<string, { spec: ToolSpec; users: string[]; path: string | undefined }>();
  for (const job of config.jobs) {
    const path = job.env.PATH ?? process.env.PATH ?? '';
    for (const spec of jobTools(job, config)) {
      const key = `${spec.bin}\0${path}`;
      const entry = seen.get(key) ?? { spec, users: [], path };
      entry.users.push(`job ${job.name}`);
      seen.set(key, entry);
    }
  }
  for (const { section, spec } of hostTools(config)) {
    const key = `${spec.bin}\0${process.env.PATH ?? ''}`;
    const entry = seen.get(key) ?? { spec, users: [], path: process.env.PATH };
    entry.users.push(section);
    seen.set(key, entry);
  }
  for (const { spec, users, path } of seen.values()) {
    const name = `tool ${spec.bin.split('/').pop()}`;
    const found = locate(spec, path ?? '');
    const used = `(${users.join(', ')})`;
    if (!found) {
      const where = isAbsolute(spec.bin) ? `${spec.bin} does not exist or is not executable` : `${(spec.anyOf ?? [spec.bin]).join(' or ')} not found in PATH`;
      lines.push({ name, verdict: 'problem', detail: `${where} ${used}: install ${spec.pkg}${spec.pkg.includes(' ') ? '' : ` (apt install ${spec.pkg})`}` });
      continue;
    }
    if (spec.versionArgs.length === 0) {
      lines.push({ name, verdict: 'ok', detail: `${found} ${used}` });
      continue;
    }
    const r = spawnSync(found, [...spec.versionArgs], { encoding: 'utf8', timeout: 10_000, env: { ...process.env, PATH: path } });
    const version = versionLine(`${r.stdout ?? ''}\n${r.stderr ?? ''}`);
    if (r.error) lines.push({ name, verdict: 'problem', detail: `${found} ${used} does not run: ${r.error.message}` });
    else lines.push({ name, verdict: 'ok', detail: `${version || found} ${used}` });
  }
}

/** The absolute path of the tool (or one of its alternatives), or undefined when it is not there. */
function locate(spec: ToolSpec, path: string): string | undefined {
  const executable = (p: string) => {
    try {
      const st = statSync(p);
      return st.isFile() && (st.mode & 0o111) !== 0;
    } catch {
      return false;
    }
  };
  if (isAbsolute(spec.bin)) return executable(spec.bin) ? spec.bin : undefined;
  for (const name of spec.anyOf ?? [spec.bin]) {
    for (const dir of path.split(':').filter(Boolean)) if (executable(join(dir, name))) return join(dir, name);
  }
  return undefined;
}

/** Every secret file the config names (envFiles, the drivers', pbs:), as the daemon checks them. */
function secretChecks(config: AgentConfig, lines: CheckLine[]): void {
  const files: { file: string; what: string }[] = [];
  for (const job of config.jobs) {
    for (const [name, file] of Object.entries(job.envFiles)) files.push({ file, what: `jobs ${job.name} envFiles.${name}` });
    const driver = DRIVERS[job.driver];
    if (job.options !== undefined) for (const { key, path } of driver?.secretFiles?.(job.options) ?? []) files.push({ file: path, what: `jobs ${job.name} ${job.driver}.${key}` });
  }
  if (config.pbs) files.push({ file: config.pbs.tokenSecretFile, what: 'pbs.tokenSecretFile' });
  let bad = 0;
  for (const { file, what } of files) {
    const problem = secretFileProblem(file);
    if (problem) {
      bad++;
      lines.push({ name: 'secret file', verdict: 'problem', detail: `${problem.message} (${what})` });
    }
  }
  if (bad === 0) lines.push({ name: 'secret files', verdict: 'ok', detail: files.length === 0 ? 'none named in the config' : `${files.length} readable and private (0600)` });
}

function spoolCheck(config: AgentConfig, lines: CheckLine[]): void {
  const spool = new Spool(join(config.stateDir, 'spool'), { maxBytes: config.spool.maxBytes, agent: config.name });
  const stats = spool.stats();
  const oldest = stats.pending > 0 ? Date.parse(spool.pending(1)[0]?.message.sentAt ?? '') : NaN;
  lines.push(backlogVerdict(stats, Number.isFinite(oldest) ? oldest : null, Date.now(), spool.dir));
}

function diskCheck(config: AgentConfig, lines: CheckLine[]): void {
  try {
    const s = statfsSync(config.stateDir);
    lines.push(spaceVerdict(config.stateDir, s.bavail * s.bsize, s.blocks * s.bsize, config.spool.maxBytes));
  } catch (err) {
    lines.push({ name: 'disk', verdict: 'problem', detail: `cannot read the free space of ${config.stateDir}: ${(err as Error).message}` });
  }
}
