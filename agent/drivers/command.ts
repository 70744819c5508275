import type { z as Z } from 'zod';
import { outcomeFromProcess, type Driver, type Zod } from './types';

// Any local program, argv form, never through a shell. Exit 0 is success; codes listed under
// warningExitCodes count as warnings; everything else is a failure.
// `command: [tar, -czf, …]` is the short form of `command: { argv: [...] }`.
const options = (z: Zod) => {
  // YAML reads `[sleep, 5]` or `[true]` as numbers and booleans; all are meant as arguments.
  const arg = z.union([z.string(), z.number(), z.boolean()], { error: 'expected a program argument (a string)' }).transform(String);
  const argv = z.array(arg).min(1, 'expected at least the program to run');
  return z.preprocess(
    (v) => (Array.isArray(v) ? { argv: v } : v),
    z.object({ argv, warningExitCodes: z.array(z.int()).default([]) }).strict(),
  );
};

type CommandOptions = Z.output<ReturnType<typeof options>>;

export const commandDriver: Driver<CommandOptions> = {
  name: 'command',
  options,
  async backup(ctx) {
    const result = await ctx.exec(ctx.options.argv);
    return outcomeFromProcess(result, ctx.options.warningExitCodes);
  },
};
