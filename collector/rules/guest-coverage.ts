import { coverOf, guestAsset, guestLabel, isCovered, judgedGuests, largestGapMs, scaleTier } from './proxmox';
import { severityFor } from './severity';
import type { EvaluationInput, Finding, GuestView, ProxmoxView, RuleName, Severity, Tier } from './types';
import { findingKey, humanDuration } from './util';

/**
 * The coverage audit of Proxmox VE guests (ADR-005: tier assignment validated in code), from
 * each agent's newest 'proxmox' message. Templates and guests agent.yaml excludes are left out.
 * - 'guest-untiered': a guest in no tier pool, with no tier tag and not in agent.yaml.
 * - 'guest-not-covered': a tiered guest that no ENABLED backup job includes. Proxmox's own
 *   /cluster/backup-info/not-backed-up counts disabled jobs as covering: not trusted here.
 * - 'guest-schedule-too-slow': the fastest job covering a tiered guest leaves a gap between
 *   two runs longer than the tier's RPO (a gap exactly equal to the RPO is fine). A job whose
 *   schedule has no cron form cannot be checked: said so (info), never guessed.
 */
export function guestCoverage(input: EvaluationInput, now: number): Finding[] {
  const out: Finding[] = [];
  for (const { view, guest } of judgedGuests(input)) {
    if (guest.template || guest.excluded) continue;
    const cover = coverOf(view, guest, input.jobs);
    const finding = (rule: RuleName, f: { title: string; detail: string; severity?: Severity }): Finding => ({
      key: findingKey(rule, view.agent, guestAsset(guest)),
      rule,
      severity: f.severity ?? severityFor(rule, scaleTier(guest)),
      agent: view.agent,
      asset: guestAsset(guest),
      title: f.title,
      detail: f.detail,
      since: view.updatedAt,
      tier: scaleTier(guest),
    });
    if (guest.tier === null) {
      out.push(
        finding('guest-untiered', {
          title: `${guestLabel(guest)} on ${view.agent} has no tier`,
          detail:
            `${guestLabel(guest)} (node ${guest.node}) is in no tier pool, has no tier tag and no tier in agent.yaml, so nothing says how fresh its backup must be. ` +
            `${isCovered(cover) ? 'It is backed up' : 'No enabled backup job covers it either'}. ` +
            `Put it in a pool tier-1 … tier-4, give it a tag tier-1 … tier-4, or set proxmox.tiers: { ${guest.vmid}: N } in agent.yaml on ${view.agent}; ` +
            `a guest that needs no backup goes under proxmox.exclude.`,
        }),
      );
      continue;
    }
    const rpoMs = input.tiers[guest.tier].rpoMs;
    if (!isCovered(cover)) {
      const disabled = cover.disabled.length
        ? ` Only the disabled backup job${cover.disabled.length > 1 ? 's' : ''} ${cover.disabled.map((j) => `${j.id} (${j.schedule})`).join(', ')} include${cover.disabled.length > 1 ? '' : 's'} it: enable ${cover.disabled.length > 1 ? 'one' : 'it'} in Datacenter → Backup, or add the guest to an enabled job. Proxmox's "not backed up" list counts disabled jobs, so it does not show this guest.`
        : ' Add it to a backup job in Datacenter → Backup (by VMID, or through a pool the job backs up).';
      out.push(
        finding('guest-not-covered', {
          title: `${guestLabel(guest)} on ${view.agent} is not backed up by any enabled job`,
          detail: `${guestLabel(guest)} (node ${guest.node}, tier ${guest.tier} from its ${guest.tierFrom ?? 'config'}, RPO ${humanDuration(rpoMs)}) has no backup at all.${disabled}`,
        }),
      );
      continue;
    }
    const slow = scheduleCheck(view, guest, guest.tier, cover, rpoMs, now);
    if (slow) out.push(finding('guest-schedule-too-slow', slow));
  }
  return out;
}

interface Candidate {
  name: string;
  schedule: string;
  gap: number | null;
}

/** Null when the fastest covering job runs within the RPO; else the finding's text. */
function scheduleCheck(view: ProxmoxView, guest: GuestView, tier: Tier, cover: ReturnType<typeof coverOf>, rpoMs: number, now: number) {
  const candidates: Candidate[] = [
    ...cover.enabled.map((j) => ({ name: `backup job ${j.id}`, schedule: j.schedule, gap: j.cron === null ? null : largestGapMs(j.cron, view.timezone, now) })),
    ...cover.agentJobs.map((j) => ({ name: `${j.job} on ${j.agent}`, schedule: j.schedule, gap: largestGapMs(j.schedule, j.timezone, now) })),
  ];
  const known = candidates.filter((c) => c.gap !== null).sort((a, b) => a.gap! - b.gap!);
  const fastest = known[0];
  if (fastest && fastest.gap! <= rpoMs) return null;
  const unknown = candidates.filter((c) => c.gap === null);
  const label = guestLabel(guest);
  const objective = `tier ${tier} RPO of ${humanDuration(rpoMs)}`;
  const slower = fastest
    ? ` The fastest job it can check, ${fastest.name} ("${fastest.schedule}"), leaves up to ${humanDuration(fastest.gap!)} between two runs.`
    : '';
  if (unknown.length) {
    return {
      severity: 'info' as const,
      title: `${label} on ${view.agent}: backup schedule cannot be checked against its ${humanDuration(rpoMs)} RPO`,
      detail:
        `The schedule of ${unknown.map((c) => `${c.name} ("${c.schedule}")`).join(', ')} has no cron form Lifeline can read, so whether it runs often enough for the ${objective} is not known.${slower} ` +
        `Check it by hand, or give the job a plain schedule such as "02:00" or "sat 02:00".`,
    };
  }
  return {
    title: `${label} on ${view.agent} is backed up less often than its ${humanDuration(rpoMs)} RPO`,
    detail: `${fastest!.name} ("${fastest!.schedule}") leaves up to ${humanDuration(fastest!.gap!)} between two runs, more than the ${objective}: a copy can be that old when the guest is lost. Run a job more often, or move the guest to a tier whose RPO fits.`,
  };
}
