import { severityFor } from './severity';
import type { EvaluationInput, Finding } from './types';
import { agentTier, findingKey, localDateTime } from './util';

/**
 * What an agent says of its own spool, the durable queue every report passes through:
 * 'cannot-spool' while it cannot store messages (its disk is full: results of backups are being
 * lost), 'reports-set-aside' while messages it could not deliver wait in spool/rejected.
 */
export function agentSpool(input: EvaluationInput, now: number): Finding[] {
  const out: Finding[] = [];
  for (const a of input.agents) {
    const spool = a.spool;
    if (!spool) continue;
    const tier = agentTier(input, a.agent);
    const since = a.lastSeen ?? now;
    if (spool.error) {
      const lost = spool.lost > 0 ? ` ${spool.lost} report(s) could not be stored so far.` : '';
      out.push({
        key: findingKey('cannot-spool', a.agent),
        rule: 'cannot-spool',
        severity: severityFor('cannot-spool', tier),
        agent: a.agent,
        title: `Agent cannot spool: ${/no space|full|quota/i.test(spool.error) ? 'disk full' : 'write error'} on ${a.agent}`,
        detail: `${a.agent} said at ${localDateTime(since)}: ${spool.error}.${lost} Backup results may not reach the collector until there is room in the agent's state directory (df -h /var/lib/lifeline-agent).`,
        since,
      });
    }
    if (spool.rejected > 0) {
      out.push({
        key: findingKey('reports-set-aside', a.agent),
        rule: 'reports-set-aside',
        severity: severityFor('reports-set-aside', tier),
        agent: a.agent,
        title: `${spool.rejected} report(s) from ${a.agent} were set aside`,
        detail: `${a.agent} set aside ${spool.rejected} message(s) it could not deliver (unreadable, or refused by the collector). Each waits in spool/rejected of its state directory with a .reason file; a run whose result is among them shows as "result lost". Read the reasons, then delete the files to clear this.`,
        since,
      });
    }
  }
  return out;
}
