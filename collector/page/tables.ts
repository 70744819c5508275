// The column headers of every table on the pages, by kind: the pages' <thead> and the
// narrow-screen stylesheet (which turns each row into a labelled card) read the same list.

export const TABLES = {
  assets: ['Asset', 'Newest copy (age / RPO)', '3-2-1 (copies/media/off-site)', 'Last run', 'Next run', 'Open incidents'],
  fleet: ['Asset', 'Tier', 'Newest copy (age / RPO)', '3-2-1 (copies/media/off-site)', 'Last run', 'Open incidents'],
  tierSummary: ['Tier', 'RPO / RTO', 'Assets', 'At risk', 'Healthy'],
  agents: ['Agent', 'Host', 'Version', 'Last seen', 'Disk usage'],
  proxmox: ['Agent', 'Node', 'Guests', 'With a tier', 'Backed up', 'Not counted', 'Snapshots'],
  copies: ['Job → target', 'Location', 'Media', 'Newest snapshot', 'Snapshots', 'Last success', 'Next run', 'Counts for 3-2-1'],
  snapshots: ['Copy', 'Snapshot', 'Taken', 'Verification'],
  datastores: ['Datastore', 'Usage', 'Full by (PBS estimate)', 'Last garbage collection', 'State'],
  serverJobs: ['Server job', 'Kind', 'Schedule', 'Last run', 'Next run'],
  runs: ['Started', 'Job', 'Status', 'Duration', 'Added / total', 'Exit code', 'Log'],
  verifications: ['Started', 'Job', 'Status', 'Duration', 'Error', 'Log'],
  drills: ['Started', 'Job', 'Status', 'Measured restore time vs RTO', 'Restored', 'Log'],
  open: ['Severity', 'Incident', 'Asset / job', 'Since', 'State', 'Actions'],
  mutes: ['Asset', 'Until', 'Reason', 'Actions'],
  resolved: ['Severity', 'Incident', 'Asset / job', 'Opened', 'Resolved'],
  tiers: ['Tier', 'Success rate', 'Storage (trend)', 'Average duration'],
  reportAssets: ['Asset', 'Tier', 'RPO met', 'Worst gap', 'Retention', '3-2-1 now / all period', 'Last restore drill vs RTO', 'Verifications'],
  failures: ['Runs', 'Cause', 'Jobs', 'Last'],
  capacity: ['Agent', 'Filesystem / datastore', 'Used', 'Change, trend', 'Projected full'],
  drPlan: ['Step', 'Asset', 'Copy to restore from (age / RPO)', 'Expected restore time vs RTO', 'Plan'],
} as const satisfies Record<string, readonly string[]>;

export type TableKind = keyof typeof TABLES;

/**
 * Below 600 px every table row becomes a card: the header row is hidden (still read by screen
 * readers) and each data cell is prefixed with its column's name, so nothing scrolls sideways.
 */
export function cardCss(): string {
  const labels = Object.entries(TABLES)
    .flatMap(([kind, head]) =>
      head.map((h, i) => `.t-${kind}>tbody>tr>td:not(.empty):nth-child(${i + 1})::before{content:${JSON.stringify(`${h}: `)}}`),
    )
    .join('\n');
  return `@media (max-width:600px){
.scroll table.cards{min-width:0}
.cards thead{position:absolute;width:1px;height:1px;overflow:hidden;clip-path:inset(50%)}
.cards tr{display:block;padding:.35rem 0;border-bottom:1px solid #d0d0d0}
.cards th,.cards td{display:block;border:0;padding:.1rem .3rem}
.cards td::before{font-weight:600}
.cards tr.risk{border-left:4px solid #a4141b}
.cards tr.risk th{border-left:0}
${labels}
}`;
}
