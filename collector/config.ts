import { z } from 'zod';
import { absolutePath, durationField, sizeField } from '../shared/config-types';
import { deepFreeze, loadConfigFile, type ExtraCheck } from '../shared/config-file';
import { nameSchema } from '../shared/protocol';
import { decodePublicKey } from '../shared/signing';

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

const limitsDefaults = { bodyBytes: 2 ** 20, ratePerSecond: 50, burst: 200 };

export const collectorConfigSchema = z
  .object({
    listen: listenField.default(`0.0.0.0:${DEFAULT_PORT}`),
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
    // Validated by the notification channels themselves (a later issue); kept loose until then.
    notify: z.array(z.object({}).loose()).default([]),
    publicUrl: z.url({ protocol: /^https?$/, error: 'expected an http:// or https:// URL' }).optional(),
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

export function loadCollectorConfig(file: string): CollectorConfig {
  return loadConfigFile(file, collectorConfigSchema, checkAgents);
}

/** Builds a config from a plain object (tests, defaults); throws ZodError on invalid input. */
export function collectorConfig(input: unknown = {}): CollectorConfig {
  return deepFreeze(collectorConfigSchema.parse(input));
}
