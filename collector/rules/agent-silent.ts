import { severityFor } from './severity';
import type { EvaluationInput, Finding } from './types';
import { agentTier, findingKey, humanDuration, localDateTime } from './util';

/**
 * No message from an agent for more than silentHeartbeats × its heartbeat interval (exactly
 * that long is still fine: the last heartbeat may be arriving). Severity follows the most
 * critical tier the agent backs up. An agent never heard from is left to the missed-run rule.
 */
export function agentSilent(input: EvaluationInput, now: number): Finding[] {
  const out: Finding[] = [];
  for (const a of input.agents) {
    if (a.lastSeen === null || a.heartbeatMs <= 0) continue;
    const limit = input.config.silentHeartbeats * a.heartbeatMs;
    if (now - a.lastSeen <= limit) continue;
    out.push({
      key: findingKey('agent-silent', a.agent),
      rule: 'agent-silent',
      severity: severityFor('agent-silent', agentTier(input, a.agent)),
      agent: a.agent,
      title: `Agent ${a.agent} is silent`,
      detail: `Last heard ${localDateTime(a.lastSeen)} (${humanDuration(now - a.lastSeen)} ago; heartbeat every ${humanDuration(a.heartbeatMs)}). Check the host, the lifeline-agent service and the network path to the collector.`,
      since: a.lastSeen + limit,
    });
  }
  return out;
}
