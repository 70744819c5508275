import { scaleTier } from './proxmox';
import { groupBy } from '../group-by';
import { severityFor } from './severity';
import type { EvaluationInput, Finding, Tier } from './types';
import { findingKey } from './util';

// The media kind a Proxmox storage type most likely is, as a hint for the target to declare.
const MEDIA_HINT: Record<string, string> = {
  pbs: 'pbs',
  nfs: 'nas',
  cifs: 'nas',
  glusterfs: 'nas',
  dir: 'disk',
  btrfs: 'disk',
  zfspool: 'disk',
  lvm: 'disk',
  lvmthin: 'disk',
  cephfs: 'disk',
};

/**
 * 'storage-undeclared': an enabled Proxmox backup job writes to a storage that agent.yaml does
 * not declare as a target. Location (on-site/off-site) and media drive 3-2-1, and only the
 * operator knows them: Lifeline cannot count those copies right until the target is declared.
 * Storages of agents that do not say what they declare (no `declared`) are not judged.
 */
export function storageUndeclared(input: EvaluationInput): Finding[] {
  const out: Finding[] = [];
  for (const view of input.proxmox ?? []) {
    const users = groupBy(
      view.backupJobs.filter((j) => j.enabled && j.storage !== null),
      (j) => j.storage!,
    );
    for (const [id, jobs] of users) {
      const storage = view.storages.find((s) => s.id === id);
      if (!storage || storage.declared !== false) continue;
      // Scaled by the most critical guest whose backups land there.
      const vmids = new Set(jobs.flatMap((j) => j.vmids));
      let tier: Tier = 4;
      let guests = 0;
      for (const g of view.guests) {
        if (!vmids.has(g.vmid)) continue;
        guests++;
        tier = Math.min(tier, scaleTier(g)) as Tier;
      }
      if (guests === 0) tier = 2;
      const media = MEDIA_HINT[storage.type] ?? 'disk|usb|nas|pbs|cloud|tape';
      out.push({
        key: findingKey('storage-undeclared', view.agent, id),
        rule: 'storage-undeclared',
        severity: severityFor('storage-undeclared', tier),
        agent: view.agent,
        target: id,
        title: `Backup storage ${id} on ${view.agent} is not declared as a target`,
        detail:
          `Backup job${jobs.length > 1 ? 's' : ''} ${jobs.map((j) => `${j.id} (${j.schedule})`).join(', ')} write${jobs.length > 1 ? '' : 's'} to ${id} (${storage.type}${storage.shared ? ', shared' : ''}), ` +
          `but agent.yaml on ${view.agent} declares no target named ${id}: where those copies are (on-site or off-site) and on which media decide 3-2-1, and only you know them. ` +
          `Declare it under targets: - { name: ${id}, location: onsite|offsite, media: ${media} }.`,
        since: view.updatedAt,
        tier,
      });
    }
  }
  return out;
}
