import { z } from 'zod';
import { outcomeFromProcess, type Driver } from './types';

// Any local program, argv form, never through a shell. Exit 0 is success; codes listed under
// warningExitCodes count as warnings; everything else is a failure.
// `command: [tar, -czf, …]` is the short form of `command: { argv: [...] }`.
// YAML reads `[sleep, 5]` as a string and a number; both are meant as arguments.
const arg = z.union([z.string(), z.number()]).transform(String);
const argv = z.array(arg).min(1, 'expected at least the program to run');
const options = z.preprocess(
  (v) => (Array.isArray(v) ? { argv: v } : v),
  z.object({ argv, warningExitCodes: z.array(z.int()).default([]) }).strict(),
);

export const commandDriver: Driver<typeof options> = {
  name: 'command',
  options,
  async backup(ctx) {
    const result = await ctx.exec(ctx.options.argv);
    return outcomeFromProcess(result, ctx.options.warningExitCodes);
  },
};
