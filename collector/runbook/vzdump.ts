import { shellQuote } from './shell';
import type { RunbookWriter, Steps } from './types';
import { verificationNotes } from './verified';

// A Proxmox VE guest backed up by a Proxmox backup job (the catalog's `vzdump-<vmid>-<storage>`
// jobs): facts { vmtype, vmid, storage, storageType, node }, inventory ids that are PVE volume
// ids (`local:backup/vzdump-qemu-100-2024_01_31-02_00_03.vma.zst`, `pbs1:backup/vm/100/2024-01-31T01:00:03Z`).
//
// What the commands rely on, read in the sources (proxmox/qemu-server @ e6352be6, proxmox/
// pve-container @ 94f55852, proxmox/pve-storage @ 0c56bad8):
// - `qmrestore <archive> <vmid>` (src/PVE/CLI/qmrestore.pm) takes a file path or a storage volume
//   id, PBS included (API2/Qemu.pm $classify_restore_archive). Its --storage is where the DISKS
//   go ("Default storage."; restore_file_archive checks the storage holds 'images'): the backup
//   storage is the wrong value. Without it each disk returns to the storage it was on.
// - `pct restore <vmid> <ostemplate>` (src/PVE/CLI/pct.pm → API2/LXC.pm create_vm with restore=1)
//   takes the same volume ids; its --storage ("Default Storage.", default 'local') receives every
//   volume of the container, and must allow container data ('rootdir').
// - Both refuse a VMID in use unless --force (qmrestore: create_and_lock_config; pct:
//   check_vmid_unused), and even with --force refuse a running guest ("vm is running",
//   "can't overwrite running container"). --unique: "Assign a unique random ethernet address."
// - `pvesm list <storage> --content backup --vmid <vmid>` prints a header, then one volume per
//   line, volid first, sorted by volid (PVE/Storage.pm volume_list): for one guest, oldest to
//   newest, archive names and PBS snapshot names both carrying the time.
// On a PBS storage the inventory carries each snapshot's verification state (PBSPlugin
// list_volumes' `verification`): the view hands the newest verified snapshot, never a failed one
// while another exists (verified.ts), and the notes say which was chosen.

const KIND = {
  qemu: { tool: 'qmrestore', volumes: /:backup\/(vzdump-qemu-|vm\/)/.source, content: 'images' },
  lxc: { tool: 'pct restore', volumes: /:backup\/(vzdump-lxc-|ct\/)/.source, content: 'rootdir' },
} as const;

/** The command for a guest type, restoring `volid` as `vmid` (both already shell words). */
function restoreCommand(kind: keyof typeof KIND, volid: string, vmid: string, storage: string | null, extra = ''): string {
  const to = storage ? ` --storage ${shellQuote(storage)}` : '';
  return kind === 'qemu' ? `qmrestore ${volid} ${vmid}${to}${extra}` : `pct restore ${vmid} ${volid}${to}${extra}`;
}

/** The inventory's volume id; an id without a storage (an older agent's file name) gets the job's storage. */
function volidOf(id: string, storage: string): string {
  return id.includes(':') ? id : `${storage}:backup/${id.replace(/^.*\//, '')}`;
}

export const vzdump: RunbookWriter<'vzdump'> = {
  needs: ['vmtype', 'vmid', 'storage'],
  write(f, input): Steps {
    const { snapshot, pveStorages } = input;
    if (f.vmtype !== 'qemu' && f.vmtype !== 'lxc') {
      return { commands: [], notes: [`The guest type the agent sent is neither qemu nor lxc: no command can be written.`] };
    }
    const kind = f.vmtype;
    const vmid = shellQuote(f.vmid);
    const volid = snapshot
      ? shellQuote(volidOf(snapshot.id, f.storage))
      : `"$(pvesm list ${shellQuote(f.storage)} --content backup --vmid ${vmid} | awk 'NR > 1 && $1 ~ /${KIND[kind].volumes}/ { print $1 }' | tail -n 1)"`;
    const notes: string[] = [];
    // A container's volumes all go to one storage: one that holds container data on this node.
    let target: string | null = null;
    if (kind === 'lxc') {
      const fit = (pveStorages ?? []).filter((s) => s.content.split(',').map((c) => c.trim()).includes('rootdir'));
      target = fit[0]?.id ?? null;
      if (fit.length > 1) notes.push(`The container's volumes go to ${fit[0].id}; another storage for container data works as well: ${fit.slice(1).map((s) => s.id).join(', ')}.`);
      if (!target) notes.push("No storage for container data is known: pct restore puts every volume on 'local' unless --storage names one that holds container data (content rootdir).");
    } else {
      notes.push('The disks go back to the storages they were on when the backup was made; add --storage NAME to put them all on another storage that holds VM images.');
    }
    const where = f.node ? ` on ${f.node}` : '';
    notes.unshift(`Run as root${where}, where ${f.storage} holds the backup.`);
    const nextid = '"$(pvesh get /cluster/nextid)"';
    notes.push(
      `${KIND[kind].tool} refuses VMID ${f.vmid} while a guest with that VMID exists, running or not: it never overwrites one. ` +
        `To restore beside it (the original keeps running), use a free VMID and new MAC addresses: ${restoreCommand(kind, volid, nextid, target, ' --unique 1')}`,
    );
    if (kind === 'qemu' && f.storageType === 'pbs') notes.push('From Proxmox Backup Server, --live-restore 1 starts the VM at once while its disks are restored in the background.');
    notes.push(`--force 1 replaces the existing guest ${f.vmid} and destroys its disks; Proxmox refuses it while the guest runs. Only for a guest beyond repair.`);
    notes.push(...verificationNotes(input));
    return { commands: [restoreCommand(kind, volid, vmid, target)], notes };
  },
};
