import { envPrefix, restoreDir, shellQuote } from './shell';
import type { RunbookInput, RunbookWriter, Steps } from './types';
import { verificationNotes } from './verified';

// A `pbs` job (agent/drivers/pbs.ts): host paths backed up with proxmox-backup-client into the
// group `host/<backupId>`. Facts { repository, passwordFile, backupId, archives (one
// `name.pxar:/path` or `name.img:/dev/…` a line), namespace?, keyFile?, encryptionPasswordFile?,
// fingerprint? }; inventory ids are snapshot paths `host/<id>/<RFC 3339 UTC>` (REFERENCE §5).
//   proxmox-backup-client restore SNAPSHOT ARCHIVE TARGET --repository R [--ns NS] [--keyfile K]
// with the password in PBS_PASSWORD_FILE (and the key's in PBS_ENCRYPTION_PASSWORD_FILE, the
// certificate's fingerprint in PBS_FINGERPRINT), never on the command line. Given a group
// (`host/<id>`) instead of a snapshot, the client restores the group's newest snapshot.
// The snapshot is the one the view picked (restoreSnapshot: the newest verified ok where the
// listing says), and verificationNotes says why.

const ARCHIVE = /^([A-Za-z0-9_][A-Za-z0-9._-]*)\.(pxar|img):(.+)$/s;
const PBS_TIME = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/;

/** The snapshot path to restore: the inventory's id when it is one of this group, else the group (its newest). */
function snapshotWord(group: string, snapshot: RunbookInput['snapshot']): string {
  if (!snapshot) return group;
  const parts = snapshot.id.split('/');
  if (parts.length === 3 && `${parts[0]}/${parts[1]}` === group && PBS_TIME.test(parts[2])) return snapshot.id;
  if (Number.isFinite(snapshot.time)) return `${group}/${new Date(snapshot.time).toISOString().replace(/\.\d{3}Z$/, 'Z')}`;
  return group;
}

export const pbs: RunbookWriter<'pbs'> = {
  needs: ['repository', 'passwordFile', 'backupId', 'archives'],
  write(f, input): Steps {
    const { job } = input;
    const group = `host/${f.backupId}`;
    const env = envPrefix({ PBS_PASSWORD_FILE: f.passwordFile, PBS_ENCRYPTION_PASSWORD_FILE: f.encryptionPasswordFile, PBS_FINGERPRINT: f.fingerprint });
    const where = ` --repository ${shellQuote(f.repository)}${f.namespace ? ` --ns ${shellQuote(f.namespace)}` : ''}`;
    const keyfile = f.keyFile ? ` --keyfile ${shellQuote(f.keyFile)}` : '';
    const snapshot = snapshotWord(group, input.snapshot);
    const archives = f.archives.split('\n').map((line) => ARCHIVE.exec(line)).filter((m): m is RegExpExecArray => m !== null);
    if (!archives.length) return { commands: [], notes: ["The job's archives the agent sent are none of name.pxar:/path or name.img:/path: no command can be written."] };

    const base = `/restore/${job}`;
    const commands = [
      `${env}proxmox-backup-client snapshot list ${shellQuote(group)}${where}`,
      `mkdir -p ${restoreDir(job)}`,
      ...archives.map(([, name, type]) => {
        const target = shellQuote(`${base}/${type === 'img' ? `${name}.img` : name}`);
        return `${env}proxmox-backup-client restore ${shellQuote(snapshot)} ${shellQuote(`${name}.${type}`)} ${target}${where}${keyfile}`;
      }),
    ];
    const notes = [
      `The first command lists the snapshots of ${group} with their sizes: to restore another one, put its path in place of ${snapshot}.`,
      ...archives.map(([, name, type, source]) =>
        type === 'img'
          ? `${name}.img (of ${source}) comes back as the image file ${base}/${name}.img: check it before writing it to a device.`
          : `${name}.pxar (of ${source}) comes back as the directory ${base}/${name}: copy what you need back to ${source} from there.`,
      ),
    ];
    if (snapshot === group) notes.push(`Given the group ${group}, the client restores its newest snapshot.`);
    if (f.keyFile) notes.push(`The snapshots are encrypted: without the key file ${f.keyFile} nothing restores. Keep a copy of it off this host.`);
    return { commands, notes: [...notes, ...verificationNotes(input)] };
  },
};
