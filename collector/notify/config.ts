import { z } from 'zod';
import { CHANNELS, CHANNEL_TYPES, type ChannelType } from './channels/index';
import type { ChannelConfig } from './routing';
import { NOTIFY_EVENTS, isSecretFileOption, type NotifyEvent } from './types';

// The `notify:` list of collector.yaml. Each entry is flat: routing keys plus the channel's own
// options, which are validated by that channel's schema (channels/<type>.ts), so a new channel
// needs no change here. Issues carry their full path (notify.1.url) through the parent schema.

const ROUTING_KEYS = ['name', 'type', 'minSeverity', 'tiers', 'assets', 'events'] as const;

const channelSchemas = new Map<ChannelType, z.ZodType>();
function optionsSchema(type: ChannelType): z.ZodType {
  let s = channelSchemas.get(type);
  if (!s) channelSchemas.set(type, (s = CHANNELS[type].options(z) as z.ZodType));
  return s;
}

/** The options of a channel type, by name, as its schema declares them (empty when it is not an object). */
function optionShape(type: ChannelType): Record<string, unknown> {
  return (optionsSchema(type) as { shape?: Record<string, unknown> }).shape ?? {};
}

/**
 * The secret files one raw `notify:` entry names: its options declared with secretFile() by the
 * channel (tokenFile, userFile, passwordFile, urlsFile…). The collector's config loader checks
 * them with every other secret file; an unknown type has none (the schema reports the type).
 */
export function notifySecretFiles(entry: unknown): { key: string; path: unknown }[] {
  if (typeof entry !== 'object' || entry === null) return [];
  const e = entry as Record<string, unknown>;
  if (typeof e.type !== 'string' || !(CHANNEL_TYPES as string[]).includes(e.type)) return [];
  const shape = optionShape(e.type as ChannelType);
  return Object.keys(shape)
    .filter((k) => k in e && isSecretFileOption(shape[k]))
    .map((k) => ({ key: k, path: e[k] }));
}

function urlHasCredentials(url: string): boolean {
  try {
    const u = new URL(url);
    return u.username !== '' || u.password !== '';
  } catch {
    return false;
  }
}

const entrySchema = z
  .object({
    name: z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/, 'letters, digits, "_", "." and "-", at most 64').optional(),
    type: z.enum(CHANNEL_TYPES as [ChannelType, ...ChannelType[]]),
    minSeverity: z.enum(['info', 'warning', 'critical']).optional(),
    tiers: z.array(z.union([z.literal(1), z.literal(2), z.literal(3), z.literal(4)])).min(1).optional(),
    assets: z.array(z.string().min(1)).min(1).optional(),
    events: z.array(z.enum(NOTIFY_EVENTS as [NotifyEvent, ...NotifyEvent[]])).min(1).optional(),
  })
  .loose()
  // Per entry, so each entry's option problems are reported even when another entry is broken.
  .transform((e, ctx) => {
    const rest: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(e)) if (!(ROUTING_KEYS as readonly string[]).includes(k)) rest[k] = v;
    const schema = optionsSchema(e.type);
    const shape = (schema as { shape?: Record<string, unknown> }).shape;
    let ok = true;
    if (shape) {
      for (const k of Object.keys(rest)) {
        if (!(k in shape)) {
          ctx.addIssue({ code: 'custom', path: [k], message: `unknown option for a ${e.type} channel` });
          ok = false;
        }
      }
    }
    const parsed = schema.safeParse(rest);
    if (!parsed.success) {
      for (const issue of parsed.error.issues) ctx.addIssue({ code: 'custom', path: issue.path.map((p) => p as string | number), message: issue.message });
      return z.NEVER;
    }
    // collector.yaml is no secret file, and fetch refuses such URLs anyway (quoting them whole).
    if (typeof rest.url === 'string' && urlHasCredentials(rest.url)) {
      ctx.addIssue({ code: 'custom', path: ['url'], message: `the URL must not hold a user name or password; put them in the channel's secret files (tokenFile, userFile/passwordFile)` });
      ok = false;
    }
    if (!ok) return z.NEVER;
    const c: Omit<ChannelConfig, 'name'> & { name?: string } = { type: e.type, options: Object.freeze(parsed.data) };
    if (e.name) c.name = e.name;
    if (e.minSeverity) c.minSeverity = e.minSeverity;
    if (e.tiers) c.tiers = Object.freeze([...e.tiers]);
    if (e.assets) c.assets = Object.freeze([...e.assets]);
    if (e.events) c.events = Object.freeze([...e.events]);
    return c;
  });

export const notifyConfigSchema = z
  .array(entrySchema)
  .default([])
  .transform((entries, ctx): ChannelConfig[] => {
    const counts = new Map<string, number>();
    for (const e of entries) counts.set(e.type, (counts.get(e.type) ?? 0) + 1);
    const seen = new Map<string, number>();
    const names = new Set<string>();
    const out: ChannelConfig[] = [];
    entries.forEach((e, i) => {
      // Default names: the type when it is the only one of its kind, else type-1, type-2…
      const n = (seen.get(e.type) ?? 0) + 1;
      seen.set(e.type, n);
      const name = e.name ?? (counts.get(e.type) === 1 ? e.type : `${e.type}-${n}`);
      if (names.has(name)) {
        ctx.addIssue({ code: 'custom', path: [i, 'name'], message: `another notify entry is already named ${JSON.stringify(name)}; give each a distinct name` });
        return;
      }
      names.add(name);
      out.push(Object.freeze({ ...e, name }));
    });
    return out;
  });

export type NotifyConfig = z.output<typeof notifyConfigSchema>;
