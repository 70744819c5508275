import { hostname } from 'node:os';
import { join } from 'node:path';
import { z } from 'zod';
import { absolutePath, durationField, sizeField } from '../shared/config-types';
import { loadConfigFile, deepFreeze, type ExtraCheck } from '../shared/config-file';
import { findCopyCycle, type CopyEdge } from '../shared/copy-cycle';
import { nameSchema, targetSchema, tierSchema, type Target } from '../shared/protocol';
import { retentionSchema, type Retention } from '../shared/retention-policy';
import { scheduleError } from '../shared/schedule';
import { secretFileIssues, secretFileProblem, type NamedSecretFile } from '../shared/secret-file';
import { resolveTiers, type RetryPolicy, type TierId } from '../shared/tiers';
import { DRIVERS } from './drivers';

export const DEFAULT_STATE_DIR = '/var/lib/lifeline-agent';

const scheduleField = z.string().superRefine((s, ctx) => {
  const why = scheduleError(s);
  if (why) ctx.addIssue({ code: 'custom', message: `invalid schedule ${JSON.stringify(s)}: ${why}` });
});

const driverSchemas = new Map<string, z.ZodType>();
/** The options schema of a driver, built once from its factory. */
function driverOptions(driver: string): z.ZodType | undefined {
  if (!DRIVERS[driver]) return undefined;
  if (!driverSchemas.has(driver)) driverSchemas.set(driver, DRIVERS[driver].options(z));
  return driverSchemas.get(driver);
}

const retrySchema = z
  .object({ attempts: z.int().min(0, 'expected 0 to 10 attempts').max(10, 'expected 0 to 10 attempts'), delay: durationField.default(15 * 60_000) })
  .strict()
  .transform(({ attempts, delay }) => ({ attempts, delayMs: delay }));

const envName = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'expected an environment variable name');

const baseJobShape = {
  name: nameSchema,
  asset: nameSchema,
  tier: tierSchema,
  target: nameSchema,
  driver: z.string(),
  schedule: scheduleField.optional(),
  retention: retentionSchema.optional(),
  timeout: durationField.default(6 * 3_600_000),
  env: z.record(envName, z.string()).default({}),
  // Secrets: the variable's value is read from the file at run time and redacted from logs.
  envFiles: z.record(envName, absolutePath).default({}),
  verify: z.object({ schedule: scheduleField }).strict().optional(),
  restoreTest: z.object({ schedule: scheduleField }).strict().optional(),
  workdir: absolutePath.optional(),
  // Further attempts after a failed scheduled backup (default: the tier's).
  retry: retrySchema.optional(),
  // The job copies what another target holds (a restic backup of a PBS datastore): the
  // collector derives a copy at this job's target of every copy at the source.
  source: z.object({ target: nameSchema }).strict().optional(),
};

// Driver options live under a key named after the driver; checkJobs validates them, the
// transform only reshapes.
const jobSchema = z
  .object(baseJobShape)
  .loose()
  .transform((job) => {
    const { name, asset, tier, target, driver, schedule, retention, timeout, env, envFiles, verify, restoreTest, workdir, retry, source } = job;
    // Invalid options were already reported by checkJobs; never throw from here.
    const options = driverOptions(driver)?.safeParse((job as Record<string, unknown>)[driver]).data as unknown;
    return { name, asset, tier, target, driver, schedule, retention, timeoutMs: timeout, env, envFiles, verify, restoreTest, workdir, retry, ...(source ? { source } : {}), options };
  });

const tierOverrideSchema = z
  .object({ schedule: scheduleField.optional(), retention: retentionSchema.optional(), rpo: durationField.optional(), rto: durationField.optional(), retry: retrySchema.optional() })
  .strict();

const spoolDefaults = { maxBytes: 64 * 2 ** 20, batch: 100 };

// The Proxmox VE host (agent/proxmox/): where its tools are (tests point them at stand-ins), how
// often the cluster is scanned, and the guests whose tier is set here rather than by a pool or tag.
const vmidKey = z.string().regex(/^[1-9]\d{2,8}$/, 'expected a VMID (100 to 999999999)');
const toolPath = (dflt: string) => absolutePath.default(dflt);
export const PVE_TOOLS = { pvesh: '/usr/bin/pvesh', qm: '/usr/sbin/qm', pct: '/usr/sbin/pct', vzdump: '/usr/bin/vzdump', qmrestore: '/usr/sbin/qmrestore' } as const;
const proxmoxSchema = z
  .object({
    /** This node's name in the cluster (default: the host name). */
    node: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9.-]{0,62}$/, 'expected a Proxmox node name').optional(),
    tools: z
      .object({
        pvesh: toolPath(PVE_TOOLS.pvesh),
        qm: toolPath(PVE_TOOLS.qm),
        pct: toolPath(PVE_TOOLS.pct),
        vzdump: toolPath(PVE_TOOLS.vzdump),
        qmrestore: toolPath(PVE_TOOLS.qmrestore),
      })
      .strict()
      .prefault({}),
    /** vzdump's task logs (/var/log/pve/tasks) and per-guest logs (/var/log/vzdump). */
    taskDir: absolutePath.default('/var/log/pve/tasks'),
    logDir: absolutePath.default('/var/log/vzdump'),
    /** How often guests, pools, backup jobs, snapshots and the task history are read. */
    scan: durationField.refine((ms) => ms >= 10_000, 'expected at least 10s').default(15 * 60_000),
    /** A tier per VMID, over its pool or tag. */
    tiers: z.record(vmidKey, tierSchema).default({}),
    /** Guests left out of the coverage audit (still watched when they are backed up). */
    exclude: z.array(z.int().min(100).max(999_999_999)).default([]),
    /** Longest a tool call may take. */
    timeout: durationField.default(120_000),
  })
  .strict();

// The Proxmox Backup Server this agent runs on (agent/pbs/): read through its local REST API
// with an API token (or its CLIs), every `scan`, for datastore usage, server jobs and snapshots.
const PBS_FINGERPRINT_RE = /^[0-9A-Fa-f]{2}(:[0-9A-Fa-f]{2}){31}$/;
export const PBS_TOOLS = { manager: '/usr/sbin/proxmox-backup-manager', client: '/usr/bin/proxmox-backup-client' } as const;
const PBS_GROUP_RE = /^(vm|ct|host)\/[A-Za-z0-9_][A-Za-z0-9._-]*$/;
const pbsSectionSchema = z
  .object({
    /** api: the local REST API with the token; cli: proxmox-backup-manager and proxmox-backup-client. */
    source: z.enum(['api', 'cli'], { error: 'expected api (the local REST API) or cli (proxmox-backup-manager and proxmox-backup-client)' }).default('api'),
    url: z.url({ protocol: /^https$/, error: 'expected an https:// URL (PBS listens on https://localhost:8007)' }).default('https://localhost:8007'),
    /** The API token id (`user@realm!name`, not secret); its secret is read from tokenSecretFile. */
    tokenId: z.string().regex(/^[^\s:@!]+@[A-Za-z0-9._-]+![A-Za-z0-9._-]+$/, 'expected an API token id like "root@pam!lifeline"'),
    tokenSecretFile: absolutePath,
    /** SHA-256 of PBS's certificate (as PBS shows it, AA:BB:…); pinned instead of the system CAs. */
    fingerprint: z.string().regex(PBS_FINGERPRINT_RE, 'expected the SHA-256 fingerprint as 32 hex pairs separated by ":" (proxmox-backup-manager cert info)').optional(),
    tools: z.object({ manager: toolPath(PBS_TOOLS.manager), client: toolPath(PBS_TOOLS.client) }).strict().prefault({}),
    scan: durationField.refine((ms) => ms >= 10_000, 'expected at least 10s').default(10 * 60_000),
    /** The tier of the server jobs (a datastore's own `tier` first). */
    tier: tierSchema.default(2),
    /**
     * The tier of backup groups not given one under `groups`. Default 4, the least critical: an
     * asset takes the most critical tier among its jobs, so the Proxmox VE host's tier for the
     * guest decides. Raise it when no agent watches the PVE host.
     */
    groupTier: tierSchema.default(4),
    /**
     * Per datastore: the target its copies count at — name it like the PVE storage that points at
     * this datastore, so the PVE host's vzdump-<vmid>-<storage> jobs and these group jobs are the same copy.
     */
    datastores: z.record(z.string(), z.object({ target: nameSchema.optional(), tier: tierSchema.optional(), asset: nameSchema.optional() }).strict()).default({}),
    groups: z
      .record(z.string(), z.object({ asset: nameSchema.optional(), tier: tierSchema.optional() }).strict())
      .superRefine((groups, ctx) => {
        for (const key of Object.keys(groups)) {
          if (!PBS_GROUP_RE.test(key)) ctx.addIssue({ code: 'custom', path: [key], message: 'expected a backup group like "vm/100", "ct/101" or "host/elsa"' });
        }
      })
      .default({}),
    /** Datastores not watched. */
    exclude: z.array(z.string()).default([]),
    /** Longest one API request or tool call may take. */
    timeout: durationField.default(120_000),
  })
  .strict();

// ZFS on this host (agent/zfs/pools.ts): where zpool is, for the pools in the host facts
// (default: found in PATH, /usr/sbin or /sbin).
const zfsSectionSchema = z.object({ zpool: absolutePath.optional() }).strict();

// TrueNAS watched through its API (agent/truenas/): replication and periodic snapshot tasks'
// state as runs. The JSON-RPC websocket (/api/current) or, on releases before 26.04, REST
// (/api/v2.0); the API key is read from a file and never logged.
export const TRUENAS_DEFAULT_TARGETS = {
  replication: { name: 'truenas-replica', location: 'offsite', media: 'nas' },
  snapshot: { name: 'truenas', location: 'onsite', media: 'nas' },
} as const;
const truenasSectionSchema = z
  .object({
    url: z.url({ protocol: /^https$/, error: 'expected an https:// URL of the TrueNAS web interface' }),
    api: z.enum(['websocket', 'rest'], { error: 'expected websocket (JSON-RPC at /api/current) or rest (/api/v2.0, removed in TrueNAS 26.04)' }).default('websocket'),
    /** The user the API key belongs to (auth.login_ex with API_KEY_PLAIN names it). */
    user: z.string().min(1).max(128).default('root'),
    apiKeyFile: absolutePath,
    fingerprint: z.string().regex(PBS_FINGERPRINT_RE, 'expected the SHA-256 fingerprint as 32 hex pairs separated by ":"').optional(),
    scan: durationField.refine((ms) => ms >= 10_000, 'expected at least 10s').default(10 * 60_000),
    tier: tierSchema.default(2),
    /** Targets (declared under targets:) the replicas and the snapshots count at. */
    replicationTarget: nameSchema.optional(),
    snapshotTarget: nameSchema.optional(),
    /** Per task name (replication) or dataset (snapshot task): its asset and tier. */
    tasks: z.record(z.string(), z.object({ asset: nameSchema.optional(), tier: tierSchema.optional() }).strict()).default({}),
    timeout: durationField.default(60_000),
  })
  .strict();

export const agentConfigSchema = z
  .object({
    agent: z
      .object({
        name: nameSchema.optional(),
        collector: z.url({ protocol: /^https?$/, error: 'expected an http:// or https:// URL' }).optional(),
        // An https:// collector's certificate: its SHA-256 pinned (lifeline-collector tls fingerprint), or a CA file vouching for it.
        collectorFingerprint: z.string().regex(PBS_FINGERPRINT_RE, 'expected the SHA-256 fingerprint as 32 hex pairs separated by ":" (lifeline-collector tls fingerprint prints it)').optional(),
        collectorCa: absolutePath.optional(),
        keyFile: absolutePath.optional(),
        stateDir: absolutePath.default(DEFAULT_STATE_DIR),
        heartbeat: durationField.default(60_000),
        // How often the host facts (disk usage, SMART, load, clock offset) are collected and sent.
        hostFacts: durationField.refine((ms) => ms >= 10_000, 'expected at least 10s').default(300_000),
        killGrace: durationField.default(10_000),
        spool: z
          .object({ maxBytes: sizeField.default(spoolDefaults.maxBytes), batch: z.int().min(1).max(500).default(spoolDefaults.batch) })
          .strict()
          .default(spoolDefaults),
        // Backoff while the collector is unreachable: exponential with jitter between these.
        retry: z.object({ min: durationField.default(1000), max: durationField.default(300_000) }).strict().default({ min: 1000, max: 300_000 }),
      })
      .strict()
      .refine((a) => !(a.collectorFingerprint && a.collectorCa), { message: 'use either collectorFingerprint or collectorCa, not both', path: ['collectorCa'] }),
    targets: z.array(targetSchema.strict()).default([]),
    tiers: z.partialRecord(z.enum(['1', '2', '3', '4']), tierOverrideSchema).default({}),
    jobs: z.array(jobSchema).default([]),
    proxmox: proxmoxSchema.optional(),
    pbs: pbsSectionSchema.optional(),
    zfs: zfsSectionSchema.optional(),
    truenas: truenasSectionSchema.optional(),
  })
  .strict();

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const BASE_JOB_KEYS = new Set(Object.keys(baseJobShape));

/** Checks the schema cannot express: driver options, unknown keys, references, secret files. */
export const checkJobs: ExtraCheck = (data) => {
  const problems: { path: PropertyKey[]; message: string }[] = [];
  if (!isRecord(data)) return problems;
  // Every file holding a secret: envFiles, the files the drivers name, and the agent's key.
  const secrets: NamedSecretFile[] = [];
  const targetNames = new Set<string>();
  (Array.isArray(data.targets) ? data.targets : []).forEach((t, i) => {
    if (!isRecord(t) || typeof t.name !== 'string') return;
    if (targetNames.has(t.name)) problems.push({ path: ['targets', i, 'name'], message: `duplicate target name ${JSON.stringify(t.name)}` });
    targetNames.add(t.name);
  });
  const jobNames = new Set<string>();
  (Array.isArray(data.jobs) ? data.jobs : []).forEach((job, i) => {
    if (!isRecord(job)) return;
    const at = (...p: PropertyKey[]) => ['jobs', i, ...p];
    if (typeof job.name === 'string') {
      if (jobNames.has(job.name)) problems.push({ path: at('name'), message: `duplicate job name ${JSON.stringify(job.name)}` });
      jobNames.add(job.name);
    }
    if (typeof job.target === 'string' && !targetNames.has(job.target)) {
      problems.push({ path: at('target'), message: `unknown target ${JSON.stringify(job.target)}; declare it under "targets:"` });
    }
    if (isRecord(job.envFiles)) {
      for (const [name, file] of Object.entries(job.envFiles)) secrets.push({ path: at('envFiles', name), file });
    }
    const driverName = job.driver;
    if (typeof driverName !== 'string') return;
    const schema = driverOptions(driverName);
    if (!schema) {
      problems.push({ path: at('driver'), message: `unknown driver ${JSON.stringify(driverName)}; expected one of: ${Object.keys(DRIVERS).join(', ')}` });
      return;
    }
    for (const key of Object.keys(job)) {
      if (!BASE_JOB_KEYS.has(key) && key !== driverName) problems.push({ path: at(key), message: `unknown key for a ${driverName} job` });
    }
    if (job[driverName] === undefined) {
      problems.push({ path: at(driverName), message: `a ${driverName} job needs its options under "${driverName}:"` });
      return;
    }
    const parsed = schema.safeParse(job[driverName]);
    if (!parsed.success) {
      for (const issue of parsed.error.issues) problems.push({ path: at(driverName, ...issue.path), message: issue.message });
      return;
    }
    // A secret the tool needs must be readable before anything runs, not at 3 a.m.
    for (const { key, path } of DRIVERS[driverName].secretFiles?.(parsed.data) ?? []) secrets.push({ path: at(driverName, key), file: path });
    for (const p of DRIVERS[driverName].checkJob?.(job, parsed.data, { proxmox: isRecord(data.proxmox) }) ?? []) problems.push({ path: at(...p.path), message: p.message });
  });
  if (isRecord(data.pbs)) secrets.push({ path: ['pbs', 'tokenSecretFile'], file: data.pbs.tokenSecretFile });
  if (isRecord(data.truenas)) {
    secrets.push({ path: ['truenas', 'apiKeyFile'], file: data.truenas.apiKeyFile });
    for (const key of ['replicationTarget', 'snapshotTarget'] as const) {
      const name = data.truenas[key];
      if (typeof name === 'string' && !targetNames.has(name)) problems.push({ path: ['truenas', key], message: `unknown target ${JSON.stringify(name)}; declare it under "targets:"` });
    }
  }
  problems.push(...sourceIssues(data, targetNames), ...secretFileIssues(secrets), ...checkKeyFile(data));
  return problems;
};

/**
 * `source: { target }` names a declared target or a datastore target of this agent's `pbs:`
 * section, never the job's own target, and the copies it makes form no cycle (X into Y into X).
 */
function sourceIssues(data: Record<string, unknown>, targetNames: ReadonlySet<string>): { path: PropertyKey[]; message: string }[] {
  const problems: { path: PropertyKey[]; message: string }[] = [];
  const known = new Set(targetNames);
  const stores = isRecord(data.pbs) && isRecord(data.pbs.datastores) ? data.pbs.datastores : {};
  for (const [store, conf] of Object.entries(stores)) known.add(isRecord(conf) && typeof conf.target === 'string' ? conf.target : store);
  const edges: CopyEdge<PropertyKey[]>[] = [];
  (Array.isArray(data.jobs) ? data.jobs : []).forEach((job, i) => {
    if (!isRecord(job) || !isRecord(job.source) || typeof job.source.target !== 'string') return;
    const from = job.source.target;
    const at = ['jobs', i, 'source', 'target'];
    if (!known.has(from)) problems.push({ path: at, message: `unknown source target ${JSON.stringify(from)}; expected a target declared under "targets:" or a datastore target of "pbs:"` });
    else if (from === job.target) problems.push({ path: at, message: `a job cannot copy its own target ${JSON.stringify(from)}` });
    else if (typeof job.target === 'string') edges.push({ from, to: job.target, what: at });
  });
  const cycle = findCopyCycle(edges);
  if (cycle) problems.push({ path: cycle.closing.what, message: `copies form a cycle: ${cycle.path.join(' → ')}; a chain of copies must end` });
  return problems;
}

// The key may not exist yet (keygen and enroll create it); once it does, it is checked like
// every other secret, so a key others can read is refused at load, not first at signing.
function checkKeyFile(data: Record<string, unknown>): { path: PropertyKey[]; message: string }[] {
  const agent = isRecord(data.agent) ? data.agent : {};
  const stateDir = typeof agent.stateDir === 'string' ? agent.stateDir : DEFAULT_STATE_DIR;
  const keyFile = typeof agent.keyFile === 'string' ? agent.keyFile : join(stateDir, 'agent.key');
  if (!keyFile.startsWith('/')) return [];
  const problem = secretFileProblem(keyFile);
  return problem && problem.fault !== 'missing' ? [{ path: ['agent', 'keyFile'], message: problem.message }] : [];
}

type ParsedAgentConfig = z.output<typeof agentConfigSchema>;
type ParsedJob = ParsedAgentConfig['jobs'][number];

export interface JobConfig extends Omit<ParsedJob, 'target' | 'schedule' | 'retention' | 'retry'> {
  retry: RetryPolicy;
  target: Target;
  schedule: string;
  retention: Retention;
  /** The tier's RPO (a driver that watches copies others make judges their age against it). */
  rpoMs?: number;
}

export interface AgentConfig {
  file: string;
  name: string;
  collector?: string;
  /** Upper case, AA:BB:… */
  collectorFingerprint?: string;
  collectorCa?: string;
  keyFile: string;
  stateDir: string;
  heartbeatMs: number;
  hostFactsMs: number;
  killGraceMs: number;
  spool: { maxBytes: number; batch: number };
  retry: { min: number; max: number };
  targets: readonly Target[];
  jobs: readonly JobConfig[];
  /** Set on a Proxmox VE host (the `proxmox:` section). */
  proxmox?: ProxmoxConfig;
  /** Set on a Proxmox Backup Server (the `pbs:` section). */
  pbs?: PbsConfig;
  /** The `zfs:` section. */
  zfs?: { zpool?: string };
  /** Set when TrueNAS is watched (the `truenas:` section). */
  truenas?: TrueNasConfig;
}

export interface TrueNasConfig {
  url: string;
  api: 'websocket' | 'rest';
  user: string;
  apiKeyFile: string;
  /** Upper case, AA:BB:… */
  fingerprint?: string;
  scanMs: number;
  tier: TierId;
  replicationTarget: Target;
  snapshotTarget: Target;
  tasks: Readonly<Record<string, { asset?: string; tier?: TierId }>>;
  timeoutMs: number;
}

export interface PbsConfig {
  source: 'api' | 'cli';
  url: string;
  tokenId: string;
  tokenSecretFile: string;
  /** Upper case, AA:BB:… */
  fingerprint?: string;
  tools: Record<keyof typeof PBS_TOOLS, string>;
  scanMs: number;
  tier: TierId;
  groupTier: TierId;
  datastores: Readonly<Record<string, { target?: string; tier?: TierId; asset?: string }>>;
  groups: Readonly<Record<string, { asset?: string; tier?: TierId }>>;
  exclude: readonly string[];
  timeoutMs: number;
}

export interface ProxmoxConfig {
  node: string;
  tools: Record<keyof typeof PVE_TOOLS, string>;
  taskDir: string;
  logDir: string;
  scanMs: number;
  tiers: Readonly<Record<string, TierId>>;
  exclude: readonly number[];
  timeoutMs: number;
}

/** Loads, validates and resolves the agent config: tier defaults applied, targets looked up, frozen. */
export function loadAgentConfig(file: string): AgentConfig {
  return resolveAgentConfig(loadConfigFile(file, agentConfigSchema, checkJobs), file);
}

export function resolveAgentConfig(cfg: ParsedAgentConfig, file: string): AgentConfig {
  const overrides = Object.fromEntries(Object.entries(cfg.tiers).map(([id, t]) => [id, { ...t, rpoMs: t.rpo, rtoMs: t.rto }]));
  const tiers = resolveTiers(overrides as never);
  const targets = new Map(cfg.targets.map((t) => [t.name, t]));
  const jobs = cfg.jobs.map((j): JobConfig => {
    const tier = tiers[j.tier as TierId];
    return { ...j, target: targets.get(j.target)!, schedule: j.schedule ?? tier.schedule, retention: j.retention ?? tier.retention, retry: j.retry ?? tier.retry, rpoMs: tier.rpoMs };
  });
  const stateDir = cfg.agent.stateDir;
  return deepFreeze({
    file,
    name: cfg.agent.name ?? hostname().split('.')[0],
    collector: cfg.agent.collector,
    ...(cfg.agent.collectorFingerprint ? { collectorFingerprint: cfg.agent.collectorFingerprint.toUpperCase() } : {}),
    ...(cfg.agent.collectorCa ? { collectorCa: cfg.agent.collectorCa } : {}),
    keyFile: cfg.agent.keyFile ?? join(stateDir, 'agent.key'),
    stateDir,
    heartbeatMs: cfg.agent.heartbeat,
    hostFactsMs: cfg.agent.hostFacts,
    killGraceMs: cfg.agent.killGrace,
    spool: cfg.agent.spool,
    retry: cfg.agent.retry,
    targets: cfg.targets,
    jobs,
    ...(cfg.proxmox ? { proxmox: resolveProxmox(cfg.proxmox) } : {}),
    ...(cfg.pbs ? { pbs: resolvePbs(cfg.pbs) } : {}),
    ...(cfg.zfs ? { zfs: cfg.zfs.zpool ? { zpool: cfg.zfs.zpool } : {} } : {}),
    ...(cfg.truenas ? { truenas: resolveTrueNas(cfg.truenas, targets) } : {}),
  });
}

function resolvePbs(p: NonNullable<ParsedAgentConfig['pbs']>): PbsConfig {
  return {
    source: p.source,
    url: p.url.replace(/\/+$/, ''),
    tokenId: p.tokenId,
    tokenSecretFile: p.tokenSecretFile,
    ...(p.fingerprint ? { fingerprint: p.fingerprint.toUpperCase() } : {}),
    tools: p.tools,
    scanMs: p.scan,
    tier: p.tier as TierId,
    groupTier: p.groupTier as TierId,
    datastores: p.datastores as PbsConfig['datastores'],
    groups: p.groups as PbsConfig['groups'],
    exclude: p.exclude,
    timeoutMs: p.timeout,
  };
}

function resolveTrueNas(t: NonNullable<ParsedAgentConfig['truenas']>, targets: ReadonlyMap<string, Target>): TrueNasConfig {
  return {
    url: t.url.replace(/\/+$/, ''),
    api: t.api,
    user: t.user,
    apiKeyFile: t.apiKeyFile,
    ...(t.fingerprint ? { fingerprint: t.fingerprint.toUpperCase() } : {}),
    scanMs: t.scan,
    tier: t.tier as TierId,
    replicationTarget: (t.replicationTarget && targets.get(t.replicationTarget)) || TRUENAS_DEFAULT_TARGETS.replication,
    snapshotTarget: (t.snapshotTarget && targets.get(t.snapshotTarget)) || TRUENAS_DEFAULT_TARGETS.snapshot,
    tasks: t.tasks as TrueNasConfig['tasks'],
    timeoutMs: t.timeout,
  };
}

function resolveProxmox(p: NonNullable<ParsedAgentConfig['proxmox']>): ProxmoxConfig {
  return {
    node: p.node ?? hostname().split('.')[0],
    tools: p.tools,
    taskDir: p.taskDir,
    logDir: p.logDir,
    scanMs: p.scan,
    tiers: p.tiers as Record<string, TierId>,
    exclude: p.exclude,
    timeoutMs: p.timeout,
  };
}
