import type { FactKey, RestoreFacts } from '../../shared/restore-facts';
import { envPrefix, restoreDir, shellQuote } from './shell';
import type { RunbookInput, RunbookWriter, Steps } from './types';
import { verificationNotes } from './verified';
import { vzdump } from './vzdump';

// A backup group as the agent on a Proxmox Backup Server lists it (driver 'pbs-group', job
// `pbs-<store>-<type>-<id>`): facts { store, backupType (vm|ct|host), backupId, namespace?,
// pbsHost, authId? }, inventory ids that are PBS snapshot paths (`vm/100/2024-01-31T01:00:03Z`,
// "{type}/{id}/{RFC 3339 UTC}", REFERENCE-INTEGRATIONS §5).
// - vm/ct: restored from Proxmox VE, which reads the datastore through a PBS storage; the storage
//   is taken to be named like this copy's target, and the commands are vzdump's (qmrestore /
//   pct restore of `<storage>:backup/<type>/<id>/<time>`, the volume id PBSPlugin lists).
// - host: `proxmox-backup-client restore <snapshot> <archive> <target dir> --repository
//   [user@]host:store`, the password from PBS_PASSWORD_FILE (docs/backup-client.rst), never
//   written here. Given a group (`host/<id>`) instead of a snapshot, the client restores its newest.

const PBS_TIME = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/;
const VMID = /^[1-9]\d{2,8}$/;

/** The snapshot's path on the PBS: its id when it is one, else built from the group and its time. */
function snapshotPath(f: Readonly<Record<string, string>>, snapshot: NonNullable<RunbookInput['snapshot']>): string {
  const id = snapshot.id.replace(/^[^:]*:backup\//, '');
  const parts = id.split('/');
  if (parts.length === 3 && parts[0] === f.backupType && PBS_TIME.test(parts[2])) return id;
  return `${f.backupType}/${f.backupId}/${new Date(snapshot.time).toISOString().replace(/\.\d{3}Z$/, 'Z')}`;
}

function guest(f: Readonly<Record<string, string>>, input: RunbookInput): Steps {
  const storage = input.target;
  if (!storage) return { commands: [], notes: ['The copy names no target, so the Proxmox VE storage to restore from is unknown: no command can be written.'] };
  if (!VMID.test(f.backupId)) return { commands: [], notes: [`The group's id ${f.backupId} is no Proxmox VMID: no qmrestore or pct restore command can be written.`] };
  const snapshot = input.snapshot && { ...input.snapshot, id: `${storage}:backup/${snapshotPath(f, input.snapshot)}` };
  const facts: RestoreFacts<'vzdump'> = { vmtype: f.backupType === 'vm' ? 'qemu' : 'lxc', vmid: f.backupId, storage, storageType: 'pbs' };
  const steps = vzdump.write(facts as Readonly<Record<FactKey<'vzdump'>, string>>, { ...input, snapshot });
  const assumption =
    `Run on a Proxmox VE node. The commands take the PBS storage there to be named ${storage}, like this copy's target, and to read datastore ${f.store}` +
    `${f.namespace ? ` (namespace ${f.namespace})` : ''} on ${f.pbsHost}: if it has another name, put that name before ":backup/" (pvesm status lists the storages).`;
  return { commands: steps.commands, notes: [assumption, ...steps.notes.filter((n) => !n.startsWith('Run as root'))] };
}

function host(f: Readonly<Record<string, string>>, input: RunbookInput): Steps {
  const snap = input.snapshot ? snapshotPath(f, input.snapshot) : `host/${f.backupId}`;
  const repository = `${f.authId ? `${f.authId}@` : ''}${f.pbsHost}:${f.store}`;
  const env = envPrefix({ PBS_PASSWORD_FILE: f.passwordFile || '/root/pbs-password', PBS_FINGERPRINT: f.fingerprint });
  const opts = ` --repository ${shellQuote(repository)}${f.namespace ? ` --ns ${shellQuote(f.namespace)}` : ''}`;
  const archives = (f.archives ?? '')
    .split('\n')
    .map((a) => a.replace(/:.*$/, '').trim())
    .filter((a) => a.endsWith('.pxar'));
  const notes = [
    `${f.passwordFile ? 'PBS_PASSWORD_FILE is the file the job reads' : 'Set PBS_PASSWORD_FILE to a file holding'} the password or API token secret of ${f.authId || 'root@pam'} on ${f.pbsHost} (readable by root only): it never goes on the command line.`,
    ...(f.fingerprint ? [] : ["If the server's certificate is self-signed, also set PBS_FINGERPRINT to its SHA-256 fingerprint (proxmox-backup-manager cert info on the PBS)."]),
    `Files come back under /restore/${input.job}; an encrypted backup also needs --keyfile with its key.`,
    ...(input.snapshot ? [] : ['Given the group host/' + f.backupId + ', proxmox-backup-client restores its newest snapshot.']),
    ...verificationNotes(input),
  ];
  if (archives.length) {
    const commands = archives.map((a) => `${env}proxmox-backup-client restore ${shellQuote(snap)} ${shellQuote(a)} ${shellQuote(`/restore/${input.job}/${a.replace(/\.pxar$/, '')}`)}${opts}`);
    return { commands, notes };
  }
  return {
    commands: [`${env}proxmox-backup-client snapshot files ${shellQuote(snap)}${opts}`, `${env}proxmox-backup-client restore ${shellQuote(snap)} ARCHIVE.pxar ${restoreDir(input.job)}${opts}`],
    notes: ['Replace ARCHIVE.pxar with an archive the first command lists (a .pxar file, e.g. root.pxar).', ...notes],
  };
}

export const pbsGroup: RunbookWriter<'pbs-group'> = {
  needs: ['store', 'backupType', 'backupId', 'pbsHost'],
  write(f, input): Steps {
    if (f.backupType === 'vm' || f.backupType === 'ct') return guest(f, input);
    if (f.backupType === 'host') return host(f, input);
    return { commands: [], notes: [`The group type ${f.backupType} is none of vm, ct or host: no command can be written.`] };
  },
};
