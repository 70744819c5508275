import { z } from 'zod';
import { absolutePath, durationField, sizeField } from '../shared/config-types';
import { deepFreeze, loadConfigFile, type ExtraCheck } from '../shared/config-file';
import { nameSchema } from '../shared/protocol';
import { decodePublicKey } from '../shared/signing';
import { scheduleError } from '../shared/schedule';
import { secretFileIssues, type NamedSecretFile } from '../shared/secret-file';
import { DEFAULT_TIERS, TIER_IDS, type TierId } from '../shared/tiers';
import { notifyConfigSchema, notifySecretFiles } from './notify/config';
import { tlsProblem } from './tls';
import { historySchema } from './history/policy';
import { checkListProblems, checkSchema, intakeSchema } from './checks/schema';
import { DEFAULT_RULES_CONFIG, type RulesConfig, type TierPolicyView } from './rules/types';

export const DEFAULT_COLLECTOR_CONFIG = '/etc/lifeline/collector.yaml';
export const DEFAULT_DATABASE = '/var/lib/lifeline-collector/lifeline.db';
export const DEFAULT_PORT = 9470;

/** "0.0.0.0:9470", "[::]:9470" or "localhost:9470" → host and port; null when malformed. */
export function parseListen(listen: string): { host: string; port: number } | null {
  const m = /^(?:\[([0-9A-Fa-f:.]+)\]|([^\s:[\]]+)):(\d{1,5})$/.exec(listen.trim());
  if (!m) return null;
  const port = Number(m[3]);
  return port <= 65535 ? { host: m[1] ?? m[2], port } : null;
}

const listenField = z.string().refine((s) => parseListen(s) !== null, { message: 'expected HOST:PORT, e.g. "0.0.0.0:9470" or "[::]:9470"' });

const publicKeyField = z
  .string()
  .refine((s) => decodePublicKey(s) !== null, { message: 'expected the base64 of a 32-byte Ed25519 public key (as printed by "lifeline-agent keygen")' });

const reportSchedule = z
  .string()
  .nullable()
  .refine((s) => s === null || scheduleError(s) === null, { message: 'expected a cron schedule like "0 8 * * 1", or null' });

const limitsDefaults = { bodyBytes: 2 ** 20, ratePerSecond: 50, burst: 200 };

// open: anyone on the network; token: a shared secret (Bearer, ?token= or its cookie); basic:
// HTTP basic auth against usersFile (lines "user:$scrypt$…" from `lifeline-collector passwd USER`;
// the old "user:password" and "user:sha256:<hex>" still read, with a warning: collector/passwords.ts).
const accessSchema = z
  .object({
    read: z.enum(['open', 'token', 'basic']).default('open'),
    tokenFile: absolutePath.optional(),
    usersFile: absolutePath.optional(),
  })
  .strict()
  .refine((a) => a.read !== 'token' || a.tokenFile !== undefined, { message: 'read: token needs tokenFile', path: ['tokenFile'] })
  .refine((a) => a.read !== 'basic' || a.usersFile !== undefined, { message: 'read: basic needs usersFile', path: ['usersFile'] })
  .prefault({});

export const collectorConfigSchema = z
  .object({
    listen: listenField.default(`0.0.0.0:${DEFAULT_PORT}`),
    /** What the service logs: warnings and errors by default; `info` adds a line per request. */
    logLevel: z.enum(['error', 'warn', 'info', 'debug'], { error: 'expected error, warn, info or debug' }).default('warn'),
    database: absolutePath.default(DEFAULT_DATABASE),
    agents: z.array(z.object({ name: nameSchema, publicKey: publicKeyField }).strict()).default([]),
    limits: z
      .object({
        bodyBytes: sizeField.default(limitsDefaults.bodyBytes),
        ratePerSecond: z.number().positive().default(limitsDefaults.ratePerSecond),
        burst: z.int().min(1).default(limitsDefaults.burst),
      })
      .strict()
      .default(limitsDefaults),
    enrollTokenTtl: durationField.default(24 * 3_600_000),
    notify: notifyConfigSchema,
    rules: z
      .object({
        grace: durationField.default(DEFAULT_RULES_CONFIG.graceMs),
        silentHeartbeats: z.int().min(1).default(DEFAULT_RULES_CONFIG.silentHeartbeats),
        clockSkew: durationField.default(DEFAULT_RULES_CONFIG.clockSkewMs),
        capacityPct: z.number().min(1).max(100).default(DEFAULT_RULES_CONFIG.capacityPct),
        capacityPctByTarget: z.record(z.string(), z.number().min(1).max(100)).default({}),
        fullWithinDays: z.number().positive().default(DEFAULT_RULES_CONFIG.fullWithinDays),
        sizeChangeShare: z.number().positive().default(DEFAULT_RULES_CONFIG.sizeChangeShare),
        durationFactor: z.number().min(1).default(DEFAULT_RULES_CONFIG.durationFactor),
        runningFactor: z.number().min(1).default(DEFAULT_RULES_CONFIG.runningFactor),
        verifyGrace: durationField.default(DEFAULT_RULES_CONFIG.verifyGraceMs),
        minRunsForAnomaly: z.int().min(1).default(DEFAULT_RULES_CONFIG.minRunsForAnomaly),
        // Proxmox guest snapshots older than this are reported (ADR-003: a snapshot is never a backup).
        snapshotMaxAge: durationField.default(DEFAULT_RULES_CONFIG.snapshotMaxAgeMs),
      })
      .strict()
      .prefault({}),
    // RPO/RTO per tier, over the ADR-005 defaults (shared/tiers.ts).
    tiers: z.partialRecord(z.enum(['1', '2', '3', '4']), z.object({ rpo: durationField.optional(), rto: durationField.optional() }).strict()).default({}),
    incidents: z
      .object({ reminder: durationField.default(24 * 3_600_000), flap: durationField.default(5 * 60_000), evaluateEvery: durationField.default(60_000) })
      .strict()
      .prefault({}),
    // Notification retries: exponential backoff from `base` up to `max`, at most `attempts` tries.
    notifyRetry: z
      .object({ base: durationField.default(30_000), max: durationField.default(3_600_000), attempts: z.int().min(1).default(10) })
      .strict()
      .prefault({}),
    // The collector watching itself (/healthz, the notify-channel-failing incident): a notification
    // unsent after `outboxStuckAfter` makes /healthz degraded; a channel whose last
    // `channelFailures` deliveries failed raises an incident through the other channels.
    watchdog: z
      .object({ outboxStuckAfter: durationField.default(3_600_000), channelFailures: z.int().min(1).default(3) })
      .strict()
      .prefault({}),
    // An outbound dead man's switch: a Healthchecks-style ping URL, pinged every `every` while
    // /healthz is ok and at <url>/fail (the reason as the body) while it is not.
    selfCheck: z
      .object({ url: z.url({ protocol: /^https?$/, error: 'expected an http:// or https:// URL' }), every: durationField.default(60_000) })
      .strict()
      .optional(),
    // When the weekly and monthly reports are sent through the notify channels (null: never).
    reports: z
      .object({ weekly: reportSchedule.default('0 8 * * 1'), monthly: reportSchedule.default('0 8 1 * *') })
      .strict()
      .prefault({}),
    // Acknowledge, mute and maintenance windows through the API need this token (Bearer).
    adminTokenFile: absolutePath.optional(),
    // Who may read the page, the JSON read API and /metrics (agents' reports and enrollment never ask).
    access: accessSchema,
    publicUrl: z.url({ protocol: /^https?$/, error: 'expected an http:// or https:// URL' }).optional(),
    // How long runs, their logs, notifications, incidents and de-duplication are kept (collector/history/).
    history: historySchema,
    // HTTPS with this certificate and key (PEM); `lifeline-collector tls generate` makes a self-signed pair.
    tls: z.object({ certFile: absolutePath, keyFile: absolutePath }).strict().optional(),
    // Jobs without an agent, fed by pings and notifications (collector/checks/), and those routes' secrets.
    checks: z.array(checkSchema).default([]),
    intake: intakeSchema,
  })
  .strict();

export type CollectorConfig = Readonly<z.output<typeof collectorConfigSchema>>;

const checkAgents: ExtraCheck = (data) => {
  const problems: { path: PropertyKey[]; message: string }[] = [];
  const agents = (data as { agents?: unknown })?.agents;
  if (!Array.isArray(agents)) return problems;
  const seen = new Set<string>();
  agents.forEach((a, i) => {
    const name = (a as { name?: unknown })?.name;
    if (typeof name !== 'string') return;
    if (seen.has(name)) problems.push({ path: ['agents', i, 'name'], message: `duplicate agent name ${JSON.stringify(name)}` });
    seen.add(name);
  });
  return problems;
};

// Secrets the collector reads later must be readable now, and private: a refusal at start, not
// at 3 a.m. and not a token every user of the host can read. One check for every such file.
const checkSecretFiles: ExtraCheck = (data) => {
  const d = (typeof data === 'object' && data !== null ? data : {}) as { adminTokenFile?: unknown; access?: unknown; notify?: unknown; tls?: unknown; intake?: unknown };
  const files: NamedSecretFile[] = [{ path: ['adminTokenFile'], file: d.adminTokenFile }];
  if (typeof d.tls === 'object' && d.tls !== null) files.push({ path: ['tls', 'keyFile'], file: (d.tls as { keyFile?: unknown }).keyFile });
  const access = (typeof d.access === 'object' && d.access !== null ? d.access : {}) as Record<string, unknown>;
  for (const key of ['tokenFile', 'usersFile']) files.push({ path: ['access', key], file: access[key] });
  const intake = (typeof d.intake === 'object' && d.intake !== null ? d.intake : {}) as Record<string, unknown>;
  for (const key of ['pingKeyFile', 'proxmoxSecretFile']) files.push({ path: ['intake', key], file: intake[key] });
  if (Array.isArray(d.notify)) {
    d.notify.forEach((entry, i) => {
      for (const { key, path } of notifySecretFiles(entry)) files.push({ path: ['notify', i, key], file: path });
    });
  }
  return secretFileIssues(files);
};

// The certificate and key must make a pair the server can use: refused at start, with the key named.
const checkTls: ExtraCheck = (data) => {
  const tls = (data as { tls?: { certFile?: unknown; keyFile?: unknown } } | null)?.tls;
  if (typeof tls?.certFile !== 'string' || typeof tls.keyFile !== 'string' || !tls.certFile.startsWith('/') || !tls.keyFile.startsWith('/')) return [];
  // A key file that is missing or open is reported by checkSecretFiles already.
  if (secretFileIssues([{ path: ['tls', 'keyFile'], file: tls.keyFile }]).length > 0) return [];
  const problem = tlsProblem({ certFile: tls.certFile, keyFile: tls.keyFile });
  return problem ? [{ path: ['tls', problem.key], message: problem.message }] : [];
};

export function loadCollectorConfig(file: string): CollectorConfig {
  return loadConfigFile(file, collectorConfigSchema, (data) => [...checkAgents(data), ...checkListProblems((data as { checks?: unknown } | null)?.checks), ...checkSecretFiles(data), ...checkTls(data)]);
}

/** Builds a config from a plain object (tests, defaults); throws ZodError on invalid input. */
export function collectorConfig(input: unknown = {}): CollectorConfig {
  return deepFreeze(collectorConfigSchema.parse(input));
}

/** The rules' thresholds from the config (durations already in ms). */
export function rulesConfig(config: CollectorConfig): RulesConfig {
  const r = config.rules;
  return {
    graceMs: r.grace,
    silentHeartbeats: r.silentHeartbeats,
    clockSkewMs: r.clockSkew,
    capacityPct: r.capacityPct,
    capacityPctByTarget: r.capacityPctByTarget,
    fullWithinDays: r.fullWithinDays,
    sizeChangeShare: r.sizeChangeShare,
    durationFactor: r.durationFactor,
    runningFactor: r.runningFactor,
    verifyGraceMs: r.verifyGrace,
    minRunsForAnomaly: r.minRunsForAnomaly,
    snapshotMaxAgeMs: r.snapshotMaxAge,
  };
}

/** RPO/RTO per tier: the ADR-005 defaults with the config's overrides. */
export function tierPolicies(config: CollectorConfig): Record<TierId, TierPolicyView> {
  const out = {} as Record<TierId, TierPolicyView>;
  for (const id of TIER_IDS) {
    const o = config.tiers[String(id) as '1'] ?? {};
    out[id] = { rpoMs: o.rpo ?? DEFAULT_TIERS[id].rpoMs, rtoMs: o.rto ?? DEFAULT_TIERS[id].rtoMs };
  }
  return out;
}
