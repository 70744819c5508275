import { z } from 'zod';

// GFS retention as restic, borg, PBS and vzdump's prune-backups express it.
export const retentionSchema = z
  .object({
    last: z.number().int().nonnegative().optional(),
    hourly: z.number().int().nonnegative().optional(),
    daily: z.number().int().nonnegative().optional(),
    weekly: z.number().int().nonnegative().optional(),
    monthly: z.number().int().nonnegative().optional(),
    yearly: z.number().int().nonnegative().optional(),
  })
  .strict();

export type Retention = z.infer<typeof retentionSchema>;
