import { borg } from './borg';
import { borgmatic } from './borgmatic';
import { command } from './command';
import { mongodb } from './mongodb';
import { mysql } from './mysql';
import { paths } from './paths';
import { pbs } from './pbs';
import { pbsGroup } from './pbs-group';
import { postgres } from './postgres';
import { rclone } from './rclone';
import { restic } from './restic';
import { vzdump } from './vzdump';
import { zfs } from './zfs';
import { needsBash } from './shell';
import type { FactDriver, FactKey } from '../../shared/restore-facts';
import type { Runbook, RunbookInput, RunbookWriter } from './types';

export type { Runbook, RunbookInput } from './types';
export { shellQuote } from './shell';

/** One writer per driver of shared/restore-facts.ts, by the driver's name. Adding one is one file and one line here. */
export const RUNBOOK_WRITERS: Readonly<{ [D in FactDriver]: RunbookWriter<D> }> = Object.freeze({ restic, borg, borgmatic, postgres, mysql, mongodb, paths, rclone, command, vzdump, pbs, 'pbs-group': pbsGroup, zfs });

const NO_INVENTORY = 'No inventory of this copy has reached the collector yet: where a command needs the newest copy, it finds it when it runs.';
const BASH =
  "Words written $'…' hold control, bidirectional or invisible characters the agent sent, as \\xHH escapes: run these commands in bash, and check those values before you do.";
const NUL = 'The restore facts or the snapshot id hold a NUL character, which no command can pass to a program: no command can be written.';

function title({ agent, job, driver, snapshot }: RunbookInput): string {
  if (!snapshot) return `Restore ${job} on ${agent} from its newest ${driver} copy`;
  const when = Number.isFinite(snapshot.time) ? ` of ${new Date(snapshot.time).toISOString().replace(/\.\d{3}Z$/, 'Z')}` : '';
  return `Restore ${job} on ${agent} from ${driver} snapshot ${snapshot.id}${when}`;
}

/**
 * The commands that restore a copy's newest snapshot by hand, written from the restore facts
 * its agent sent (every value shell-quoted: they are agent-supplied). A driver without a writer,
 * or facts missing what its commands need, gives notes only: no command is guessed.
 */
export function restoreRunbook(input: RunbookInput): Runbook {
  const heading = title(input);
  // Looked up by a name the agent sent: each writer reads only its own driver's keys.
  const writer = Object.hasOwn(RUNBOOK_WRITERS, input.driver) ? (RUNBOOK_WRITERS[input.driver as FactDriver] as RunbookWriter<FactDriver>) : undefined;
  if (!writer) return { title: heading, commands: [], notes: [`No runbook is known for the ${input.driver} driver: restore with the tool's own documentation.`] };
  const facts = input.restore ?? {};
  if (Object.values(facts).some((v) => typeof v === 'string' && v.includes('\0')) || input.snapshot?.id.includes('\0')) return { title: heading, commands: [], notes: [NUL] };
  const missing = writer.needs.filter((key) => !facts[key]);
  if (missing.length) {
    const why = input.restore ? `lack ${missing.join(', ')}` : 'were not sent (an agent older than this collector sends none)';
    return { title: heading, commands: [], notes: [`The job's restore facts ${why}: no command can be written.`] };
  }
  const { commands, notes } = writer.write(facts as Readonly<Record<FactKey<FactDriver>, string>>, input);
  if (!commands.length) return { title: heading, commands, notes: notes.length ? notes : ["The job's restore facts describe nothing to restore: no command can be written."] };
  const all = input.snapshot ? notes : [NO_INVENTORY, ...notes];
  return { title: heading, commands, notes: needsBash(commands) ? [...all, BASH] : all };
}
