import { hasHiddenChars, visibleText } from '../../shared/display-text';
import { fileIn, newestFile, shellQuote } from './shell';
import type { RunbookWriter, Steps } from './types';

// A command job's program is unknown: its restore is declared in the agent's config, as a
// Proxmox guest (`restore: { kind, vmid, storage, dumpdir }`) and/or free-form `runbook` lines.

const VZDUMP = {
  qemu: { archive: 'vma', tool: 'qmrestore' },
  lxc: { archive: 'tar', tool: 'pct restore' },
} as const;

/** The newest vzdump archive of a guest (not its .log or .notes), or the inventory's. */
function vzdumpWord(dumpdir: string, kind: keyof typeof VZDUMP, vmid: string, snapshotId: string | undefined): string {
  if (snapshotId) return fileIn(dumpdir, snapshotId);
  const { archive } = VZDUMP[kind];
  return newestFile(dumpdir, `vzdump-${kind}-${shellQuote(vmid)}-????_??_??-??_??_??.${archive}*`, `grep -E '\\.${archive}(\\.(zst|gz|lzo))?$'`);
}

function proxmox(f: Readonly<Record<string, string>>, snapshotId: string | undefined): Steps {
  const kind = f.kind === 'lxc' ? 'lxc' : 'qemu';
  const vmid = shellQuote(f.vmid);
  const file = vzdumpWord(f.dumpdir ?? '/var/lib/vz/dump', kind, f.vmid, snapshotId);
  const storage = f.storage ? ` --storage ${shellQuote(f.storage)}` : '';
  const command = kind === 'qemu' ? `qmrestore ${file} ${vmid}${storage}` : `pct restore ${vmid} ${file}${storage}`;
  return {
    commands: [command],
    notes: [
      `${VZDUMP[kind].tool} refuses a VMID that exists (--force replaces the guest). To restore beside the original, use a free VMID (pvesh get /cluster/nextid) instead of ${f.vmid}.`,
    ],
  };
}

export const command: RunbookWriter<'command'> = {
  needs: [],
  write(f, { snapshot }) {
    const steps: Steps = f.kind && f.vmid ? proxmox(f, snapshot?.id) : { commands: [], notes: [] };
    const written = f.runbook ? f.runbook.split('\n') : [];
    // A line is shown as written only when what is shown is what runs: one holding a control,
    // bidi or invisible character is shown visibly in a note instead, never as a command.
    const lines = written.filter((l) => !hasHiddenChars(l));
    if (lines.length) steps.notes.push(`${lines.length === 1 ? 'One command is' : `${lines.length} commands are`} shown as written in the job's runbook on the agent.`);
    written.forEach((l, i) => {
      if (hasHiddenChars(l)) {
        steps.notes.push(`Line ${i + 1} of the job's runbook holds control, bidirectional or invisible characters and is not offered as a command: ${visibleText(l)}`);
      }
    });
    if (!steps.commands.length && !written.length) {
      steps.notes.push('This command job declares no restore: add command.restore (a Proxmox guest) or command.runbook (your own commands) to its config.');
    }
    return { commands: [...steps.commands, ...lines], notes: steps.notes };
  },
};
