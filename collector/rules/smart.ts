import { severityFor } from './severity';
import type { EvaluationInput, Finding } from './types';
import { agentTier, findingKey } from './util';

/** A disk whose SMART overall health failed (unknown health raises nothing). */
export function smart(input: EvaluationInput, now: number): Finding[] {
  const out: Finding[] = [];
  for (const a of input.agents) {
    for (const d of a.disks) {
      if (d.smartOk !== false) continue;
      out.push({
        key: findingKey('smart', a.agent, d.device),
        rule: 'smart',
        severity: severityFor('smart', agentTier(input, a.agent)),
        agent: a.agent,
        target: d.device,
        title: `Disk ${d.device} on ${a.agent} is failing SMART`,
        detail: `${d.detail ? `${d.detail}. ` : ''}Replace the disk and make sure every asset on it has a fresh copy elsewhere (smartctl -a ${d.device}).`,
        since: a.lastSeen ?? now,
      });
    }
  }
  return out;
}
