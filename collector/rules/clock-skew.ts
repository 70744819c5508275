import { severityFor } from './severity';
import type { EvaluationInput, Finding } from './types';
import { agentTier, findingKey, humanDuration } from './util';

/** |agent clock − collector clock| above clockSkewMs: due times and run times disagree. */
export function clockSkew(input: EvaluationInput, now: number): Finding[] {
  const out: Finding[] = [];
  for (const a of input.agents) {
    if (a.clockOffsetMs === null || Math.abs(a.clockOffsetMs) <= input.config.clockSkewMs) continue;
    out.push({
      key: findingKey('clock-skew', a.agent),
      rule: 'clock-skew',
      severity: severityFor('clock-skew', agentTier(input, a.agent)),
      agent: a.agent,
      title: `Clock of ${a.agent} is ${humanDuration(a.clockOffsetMs)} ${a.clockOffsetMs > 0 ? 'ahead' : 'behind'}`,
      detail: `The agent's clock differs from the collector's by ${humanDuration(a.clockOffsetMs)} (tolerance ${humanDuration(input.config.clockSkewMs)}); run times and missed-run checks will be off. Enable NTP (systemd-timesyncd or chrony) on ${a.agent}.`,
      since: a.lastSeen ?? now,
    });
  }
  return out;
}
