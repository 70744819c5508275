import type { z as Z } from 'zod';
import { factsFrom } from './restore-facts';
import { outcomeFromProcess, type Driver, type Zod } from './types';

// Any local program, argv form, never through a shell. Exit 0 is success; codes listed under
// warningExitCodes count as warnings; everything else is a failure.
// `command: [tar, -czf, …]` is the short form of `command: { argv: [...] }`.
// What the program wrote is unknown to Lifeline, so the restore runbook comes from the config:
// `restore: { kind: qemu|lxc, vmid, storage, dumpdir }` for a Proxmox vzdump run this way, and
// `runbook: [command, …]` for anything else, shown as written.
const RUNBOOK_MAX_CHARS = 1024;
const VMID = 'expected a Proxmox VMID (100 to 999999999)';

const options = (z: Zod) => {
  // YAML reads `[sleep, 5]` or `[true]` as numbers and booleans; all are meant as arguments.
  const arg = z.union([z.string(), z.number(), z.boolean()], { error: 'expected a program argument (a string)' }).transform(String);
  const argv = z.array(arg).min(1, 'expected at least the program to run');
  const vmid = z
    .union([z.int(), z.string().regex(/^\d+$/)], { error: VMID })
    .transform(Number)
    .pipe(z.int().min(100, VMID).max(999_999_999, VMID));
  const restore = z
    .object({
      kind: z.enum(['qemu', 'lxc'], 'expected "qemu" (a VM, qmrestore) or "lxc" (a container, pct restore)'),
      vmid,
      storage: z.string().regex(/^[A-Za-z][A-Za-z0-9._-]*$/, 'expected a Proxmox storage ID such as local-lvm').optional(),
      dumpdir: z.string().refine((p) => p.startsWith('/'), 'expected an absolute path').default('/var/lib/vz/dump'),
    })
    .strict();
  const runbook = z
    .array(z.string().regex(/^[^\n]+$/, 'expected one command on one line'))
    .min(1)
    .refine((lines) => lines.join('\n').length <= RUNBOOK_MAX_CHARS, `expected at most ${RUNBOOK_MAX_CHARS} characters of runbook in all`);
  return z.preprocess(
    (v) => (Array.isArray(v) ? { argv: v } : v),
    z.object({ argv, warningExitCodes: z.array(z.int()).default([]), restore: restore.optional(), runbook: runbook.optional() }).strict(),
  );
};

type CommandOptions = Z.output<ReturnType<typeof options>>;

export const commandDriver: Driver<CommandOptions> = {
  name: 'command',
  options,
  restoreFacts: ({ restore, runbook }) => factsFrom('command', { ...restore, runbook }),
  async backup(ctx) {
    const result = await ctx.exec(ctx.options.argv);
    return outcomeFromProcess(result, ctx.options.warningExitCodes);
  },
};
