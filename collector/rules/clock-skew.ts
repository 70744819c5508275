import { severityFor } from './severity';
import type { EvaluationInput, Finding } from './types';
import { agentTier, findingKey, humanDuration } from './util';

/**
 * |agent clock − collector clock| above clockSkewMs: due times and run times disagree. Measured
 * on every request the agent sends, so agents that only `run` (no host facts) are checked too.
 */
export function clockSkew(input: EvaluationInput, now: number): Finding[] {
  const out: Finding[] = [];
  for (const a of input.agents) {
    const skew = a.clockSkewMs;
    if (skew === null || Math.abs(skew) <= input.config.clockSkewMs) continue;
    const direction = skew > 0 ? 'ahead' : 'behind';
    const effect = skew > 0
      ? 'its run times are taken as when the collector received them, so freshness is judged by the collector\'s clock'
      : 'its runs look older than they are and due times are off';
    out.push({
      key: findingKey('clock-skew', a.agent),
      rule: 'clock-skew',
      severity: severityFor('clock-skew', agentTier(input, a.agent)),
      agent: a.agent,
      title: `Clock of ${a.agent} is ${humanDuration(skew)} ${direction}`,
      detail: `The agent's clock is ${humanDuration(skew)} ${direction} of the collector's (tolerance ${humanDuration(input.config.clockSkewMs)}): ${effect}. Enable NTP (systemd-timesyncd or chrony) on ${a.agent}.`,
      since: a.lastSeen ?? now,
    });
  }
  return out;
}
