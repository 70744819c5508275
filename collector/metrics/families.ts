// Every gauge family /metrics exposes, declared once: the snapshot fills them, the registry
// registers them, the README and the Grafana dashboard use these names (a test checks it).

export const METRIC_PREFIX = 'lifeline_';

// "backup_job", not "job": Prometheus sets "job" on every scraped series (the scrape job) and would
// rename ours to "exported_job".
const JOB = ['agent', 'backup_job', 'asset', 'tier', 'target'] as const;
const ASSET = ['asset', 'tier'] as const;

export const FAMILIES = {
  job_last_success_timestamp_seconds: { help: 'When the newest successful (or warning) backup of the job finished; absent if none ever did.', labels: JOB },
  job_last_run_duration_seconds: { help: 'Wall time of the newest finished backup run.', labels: JOB },
  job_last_run_added_bytes: { help: 'Bytes the newest finished backup added to the repository, when the tool says.', labels: JOB },
  job_last_run_size_bytes: { help: 'Size of the snapshot, archive or dump of the newest finished backup, when the tool says.', labels: JOB },
  job_last_run_status: {
    help: 'Status of the newest backup run: 1 for the series whose status label is current (running, success, warning, failure, timeout, skipped or never).',
    labels: [...JOB, 'status'],
  },
  job_next_run_timestamp_seconds: { help: 'When the job is next due by its schedule in the agent time zone.', labels: JOB },
  verify_last_success_timestamp_seconds: { help: 'When the newest successful integrity check (verify run) of the job finished.', labels: JOB },
  restore_drill_last_success_timestamp_seconds: { help: 'When the newest successful restore drill of the job finished.', labels: JOB },
  restore_drill_duration_seconds: { help: 'Wall time of the newest finished restore drill (the measured RTO).', labels: JOB },
  asset_rpo_age_seconds: { help: 'Age of the newest good copy of the asset; absent if it has none.', labels: ASSET },
  asset_rpo_seconds: { help: 'Recovery point objective of the asset (its tier).', labels: ASSET },
  asset_rto_seconds: { help: 'Recovery time objective of the asset (its tier).', labels: ASSET },
  asset_rpo_ok: { help: '1 if the newest good copy of the asset is within its RPO, else 0.', labels: ASSET },
  asset_copies: { help: 'Copies of the asset that count for 3-2-1: the original plus targets with a good copy within the RPO.', labels: ASSET },
  asset_media: { help: 'Distinct media kinds among the counted copies of the asset.', labels: ASSET },
  asset_offsite_copies: { help: 'Counted copies of the asset at off-site targets.', labels: ASSET },
  asset_three_two_one_ok: { help: '1 if the asset has 3 copies on 2 media with 1 off-site, else 0.', labels: ASSET },
  agent_last_seen_timestamp_seconds: { help: 'When the collector last heard from the agent; absent if never.', labels: ['agent'] },
  agent_up: { help: '1 if the agent was heard from within its silence limit (heartbeats x silentHeartbeats), else 0.', labels: ['agent'] },
  filesystem_size_bytes: { help: 'Size of a filesystem the agent reported (mount labels are capped in length and number per agent).', labels: ['agent', 'mount'] },
  filesystem_used_bytes: { help: 'Used bytes of a filesystem the agent reported.', labels: ['agent', 'mount'] },
  proxmox_guests: {
    help: 'Proxmox VE guests an agent audits (templates and excluded guests not counted), by state: total, tiered (a tier pool, tag or agent.yaml entry), covered (an enabled backup job).',
    labels: ['agent', 'state'],
  },
  pbs_datastore_size_bytes: { help: 'Size of a Proxmox Backup Server datastore its agent reported; absent while PBS cannot read it.', labels: ['agent', 'datastore'] },
  pbs_datastore_used_bytes: { help: 'Used bytes of a Proxmox Backup Server datastore.', labels: ['agent', 'datastore'] },
  pbs_datastore_estimated_full_timestamp_seconds: {
    help: "PBS's own estimate of when a datastore is full; absent when PBS has none (short history, or usage flat or declining).",
    labels: ['agent', 'datastore'],
  },
  pbs_datastore_up: { help: '1 if PBS can read the datastore, 0 if it reports an error for it.', labels: ['agent', 'datastore'] },
  zfs_pool_size_bytes: { help: 'Size of a ZFS pool its agent reported (zpool list).', labels: ['agent', 'pool'] },
  zfs_pool_allocated_bytes: { help: 'Allocated bytes of a ZFS pool.', labels: ['agent', 'pool'] },
  zfs_pool_healthy: { help: '1 if the pool is ONLINE with no read, write or checksum errors (zpool status), else 0.', labels: ['agent', 'pool'] },
  incidents_open: { help: 'Open incidents by severity (all severities always present).', labels: ['severity'] },
  collector_build_info: { help: 'Always 1; the version label is the running collector version.', labels: ['version'] },
  metrics_series_dropped: { help: 'Series left out of this scrape by the label bounds (per family, or filesystems beyond the per-agent cap).', labels: ['family'] },
} as const satisfies Record<string, { help: string; labels: readonly string[] }>;

export type FamilyName = keyof typeof FAMILIES;
export const FAMILY_NAMES = Object.keys(FAMILIES) as FamilyName[];

export type Labels = Record<string, string>;
export interface Sample {
  labels: Labels;
  value: number;
}
/** One value list per family, computed at one instant. */
export type Snapshot = Record<FamilyName, Sample[]>;
