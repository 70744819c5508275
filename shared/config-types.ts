import { z } from 'zod';
import { parseDuration } from './duration';
import { parseSize } from './size';

// Small zod building blocks for config files, shared by agent and collector configs.

export const durationField = z.union([z.string(), z.number()]).transform((v, ctx) => {
  const ms = parseDuration(v);
  if (ms === null) {
    ctx.addIssue({ code: 'custom', message: `expected a duration like "90s", "30m", "1h30m" or a number of seconds, got ${JSON.stringify(v)}` });
    return z.NEVER;
  }
  return ms;
});

export const sizeField = z.union([z.string(), z.number()]).transform((v, ctx) => {
  const bytes = parseSize(v);
  if (bytes === null) {
    ctx.addIssue({ code: 'custom', message: `expected a size like "64MiB", "500MB" or a number of bytes, got ${JSON.stringify(v)}` });
    return z.NEVER;
  }
  return bytes;
});

export const absolutePath = z.string().refine((p) => p.startsWith('/'), { message: 'expected an absolute path' });
