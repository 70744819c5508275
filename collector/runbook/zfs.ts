import { shellQuote } from './shell';
import type { RunbookInput, RunbookWriter, Steps } from './types';

// A `zfs` job (agent/drivers/zfs.ts). Facts { dataset, recursive?, snapshots?, replicaHost?,
// replicaDataset?, remoteZfs? }; inventory ids are `dataset@snapshot` (the replica's dataset for a
// replication job). A snapshot job is restored on the host itself: `zfs clone` of the snapshot
// beside the dataset (nothing is lost), or `zfs rollback` (destroys what came after it). A
// replica is sent back: `ssh host zfs send replica@snap | zfs receive -u dataset-restored`.

const SNAPSHOT_ID = /^([A-Za-z0-9][A-Za-z0-9_.:/-]*)@([A-Za-z0-9_.:-]+)$/;

/** `dataset@name` when the inventory's id is a snapshot of `dataset`, else null. */
function snapshotOf(dataset: string, snapshot: RunbookInput['snapshot']): string | null {
  const m = snapshot ? SNAPSHOT_ID.exec(snapshot.id) : null;
  return m && m[1] === dataset ? snapshot!.id : null;
}

const listCommand = (zfs: string, dataset: string) => `${zfs} list -t snapshot -o name,creation,used -s creation -d 1 ${shellQuote(dataset)}`;

export const zfs: RunbookWriter<'zfs'> = {
  needs: ['dataset'],
  write(f, input): Steps {
    const recursive = f.recursive === 'true';
    if (f.replicaDataset) {
      const remote = f.replicaHost ? `ssh ${shellQuote(f.replicaHost)} ${f.remoteZfs ? shellQuote(f.remoteZfs) : 'zfs'}` : 'zfs';
      const snap = snapshotOf(f.replicaDataset, input.snapshot);
      const restored = `${f.dataset}-restored`;
      const notes = [
        `The first command lists the replica's snapshots on ${f.replicaHost ?? 'this host'}: ${snap ? `to send another one, put its name in place of ${snap}.` : 'no inventory has reached the collector, so put the newest one in place of SNAPSHOT.'}`,
        `It arrives as ${restored}, unmounted, beside the original: check it (zfs mount ${restored}), then swap with zfs rename, or receive straight over ${f.dataset} with zfs receive -F (that rolls the original back, destroying what it holds after the snapshot).`,
      ];
      if (recursive) notes.push('send -R brings its descendant datasets and their snapshots along.');
      return {
        commands: [listCommand(remote, f.replicaDataset), `${remote} send${recursive ? ' -R' : ''} ${snap ? shellQuote(snap) : `${shellQuote(f.replicaDataset)}@SNAPSHOT`} | zfs receive -u ${shellQuote(restored)}`],
        notes,
      };
    }
    const snap = snapshotOf(f.dataset, input.snapshot);
    const word = snap ? shellQuote(snap) : `${shellQuote(f.dataset)}@SNAPSHOT`;
    const name = snap ? snap.slice(snap.indexOf('@') + 1) : 'SNAPSHOT';
    const clone = `${f.dataset}-restore`;
    return {
      commands: [listCommand('zfs', f.dataset), `zfs clone ${word} ${shellQuote(clone)}`],
      notes: [
        snap ? `The clone is of ${snap}, the newest snapshot the collector knows; the first command lists the others.` : 'No inventory has reached the collector: put the newest snapshot the first command lists in place of SNAPSHOT.',
        `The clone ${clone} is mounted beside ${f.dataset} with the snapshot's files: copy back what you need, then zfs destroy ${clone}. Single files are also readable, without a clone, under the dataset's .zfs/snapshot/${name}/ directory.`,
        `To put the whole dataset back instead: zfs rollback -r ${word} — this destroys every snapshot newer than it and all changes since${recursive ? '; rollback is per dataset, so do the same for each descendant' : ''}.`,
      ],
    };
  },
};
