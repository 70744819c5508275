import { z } from 'zod';
import { absolutePath, durationField } from '../../shared/config-types';
import { nameSchema, targetSchema, tierSchema } from '../../shared/protocol';
import { scheduleError } from '../../shared/schedule';

// A check: a job without an agent (a NAS, a Windows box running Duplicati, a cron script on a
// host Lifeline does not run on). Declared in collector.yaml `checks:` or through the admin API,
// one schema for both. Its `id` is the secret in its ping and intake URLs, as in Healthchecks.

/** A UUID in canonical 8-4-4-4-12 form, either case (what `uuidgen` prints). */
export const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

/**
 * A period as the cron slots it means ("a ping at least once per slot"): minutes dividing an
 * hour, hours dividing a day, a day, a week. Other periods have no slot grid; null.
 */
export function periodSchedule(ms: number): string | null {
  if (ms % MINUTE !== 0 || ms <= 0) return null;
  const min = ms / MINUTE;
  if (min < 60 && 60 % min === 0) return min === 1 ? '* * * * *' : `*/${min} * * * *`;
  if (ms < DAY && ms % HOUR === 0 && 24 % (ms / HOUR) === 0) return ms === HOUR ? '0 * * * *' : `0 */${ms / HOUR} * * *`;
  if (ms === DAY) return '0 0 * * *';
  if (ms === 7 * DAY) return '0 0 * * 0';
  return null;
}

// Which Proxmox notifications are runs of this check (fields of the notification's metadata:
// shared/REFERENCE-INTEGRATIONS.md §§5–6). Absent fields match anything.
export const PROXMOX_TYPES = ['vzdump', 'verification', 'gc', 'prune', 'sync', 'tape-backup', 'replication'] as const;
export const proxmoxMatchSchema = z
  .object({
    type: z.enum(PROXMOX_TYPES, { error: `expected one of ${PROXMOX_TYPES.join(', ')}` }),
    hostname: z.string().min(1).max(255).optional(),
    jobId: z.string().min(1).max(255).optional(),
    datastore: z.string().min(1).max(255).optional(),
  })
  .strict();
export type ProxmoxMatch = z.output<typeof proxmoxMatchSchema>;

export const checkSchema = z
  .object({
    id: z.string().regex(UUID_RE, 'expected a UUID like "3f2a9c1e-5b7d-4e21-9a0c-6d8e1f2b3c4d" (make one with `uuidgen`)').transform((s) => s.toLowerCase()),
    name: nameSchema,
    asset: nameSchema,
    tier: tierSchema,
    target: targetSchema.strict(),
    /** When a ping is expected (cron, as agent jobs): read in the collector's time zone. */
    schedule: z
      .string()
      .max(128)
      .refine((s) => scheduleError(s) === null, { message: 'expected a cron schedule like "0 2 * * *", "@daily" or "every 15m"' })
      .optional(),
    /** Or: at least one ping per period (a slot grid: see periodSchedule). */
    period: durationField
      .refine((ms) => periodSchedule(ms) !== null, { message: 'expected a period that divides an hour or a day (e.g. 5m, 1h, 6h), 1d or 7d; use schedule for anything else' })
      .optional(),
    /** How late a ping may be before the run counts as missed (default: rules.grace). */
    grace: durationField.optional(),
    /** A start with no end for this long is running too long (default: the grace, as Healthchecks). */
    timeout: durationField.optional(),
    /** 'maintenance': a server job (PBS verify, GC, prune) that is no copy: RPO and 3-2-1 skip it. */
    role: z.enum(['backup', 'maintenance']).optional(),
    proxmox: proxmoxMatchSchema.optional(),
  })
  .strict()
  .refine((c) => (c.schedule === undefined) !== (c.period === undefined), { message: 'expected either schedule or period', path: ['schedule'] });

export type Check = z.output<typeof checkSchema>;

// Secrets of the intake routes, each from a file: the ping key of slug URLs
// (/ping/<ping-key>/<name>) and the header a Proxmox webhook target sends.
export const intakeSchema = z
  .object({ pingKeyFile: absolutePath.optional(), proxmoxSecretFile: absolutePath.optional() })
  .strict()
  .prefault({});

/** The cron schedule a check is due on. */
export const checkSchedule = (c: Check): string => c.schedule ?? periodSchedule(c.period!)!;

/** The role a check's runs play: a PBS verify, GC or prune notification keeps a datastore healthy, no copy. */
export function checkRole(c: Check): 'backup' | 'maintenance' {
  if (c.role) return c.role;
  const t = c.proxmox?.type;
  return t === 'verification' || t === 'gc' || t === 'prune' ? 'maintenance' : 'backup';
}

/** Duplicate names and ids among checks (the config's cross-check, also used by the admin API). */
export function checkListProblems(checks: unknown): { path: PropertyKey[]; message: string }[] {
  if (!Array.isArray(checks)) return [];
  const problems: { path: PropertyKey[]; message: string }[] = [];
  const names = new Set<string>();
  const ids = new Set<string>();
  checks.forEach((c, i) => {
    const { name, id } = (c ?? {}) as { name?: unknown; id?: unknown };
    if (typeof name === 'string') {
      if (names.has(name)) problems.push({ path: ['checks', i, 'name'], message: `duplicate check name ${JSON.stringify(name)}` });
      names.add(name);
    }
    if (typeof id === 'string') {
      const key = id.toLowerCase();
      if (ids.has(key)) problems.push({ path: ['checks', i, 'id'], message: 'duplicate check id: each check needs its own UUID' });
      ids.add(key);
    }
  });
  return problems;
}
