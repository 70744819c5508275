// The restore facts a job's catalog entry carries (`restore`, a flat string record on the wire):
// which keys each driver sends, written once for the agent that sends them (each driver's
// restoreFacts) and the collector that writes runbooks from them (collector/runbook/*). A key
// renamed on one side and not the other no longer compiles. Facts name where the copies are and
// which files hold the credentials, never a credential itself.

export const RESTORE_FACT_KEYS = {
  restic: ['repository', 'passwordFile', 'host', 'paths', 'tags'],
  borg: ['repository', 'passphraseFile', 'rsh', 'remotePath', 'archivePrefix'],
  borgmatic: ['config', 'repository'],
  postgres: ['dir', 'database', 'all', 'compress', 'host', 'port', 'user', 'passFile', 'pgBin'],
  mysql: ['dir', 'database', 'compress', 'host', 'port', 'socket', 'user', 'optionsFile', 'client'],
  mongodb: ['dir', 'uri', 'configFile', 'database', 'oplog'],
  paths: ['dir', 'compress', 'paths', 'volumes'],
  rclone: ['destination', 'source', 'configFile', 'mode'],
  // `restore: { kind, vmid, storage, dumpdir }` and `runbook:` from the job's config.
  command: ['kind', 'vmid', 'storage', 'dumpdir', 'runbook'],
  // From the driver, and from the Proxmox discovery of scheduled vzdump jobs (storageType, node).
  vzdump: ['vmtype', 'vmid', 'storage', 'storageType', 'node'],
  pbs: ['repository', 'passwordFile', 'backupId', 'namespace', 'archives', 'keyFile', 'encryptionPasswordFile', 'fingerprint'],
  // Listed by the agent on a Backup Server (agent/pbs/scan.ts).
  'pbs-group': ['store', 'backupType', 'backupId', 'pbsHost', 'authId', 'passwordFile', 'namespace', 'archives', 'fingerprint'],
  zfs: ['dataset', 'recursive', 'snapshots', 'replicaHost', 'replicaDataset', 'remoteZfs'],
} as const satisfies Record<string, readonly string[]>;

export type FactDriver = keyof typeof RESTORE_FACT_KEYS;
export type FactKey<D extends FactDriver> = (typeof RESTORE_FACT_KEYS)[D][number];
/** One driver's facts as they travel: lists one item a line, numbers as text, `true` as "true". */
export type RestoreFacts<D extends FactDriver> = Partial<Record<FactKey<D>, string>>;
