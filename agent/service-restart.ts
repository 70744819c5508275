import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { DEFAULT_AGENT_CONFIG } from './config-loader';

// After `lifeline-agent enroll`: the packaged daemon reads its collector and key only at start,
// so enroll (re)starts the lifeline-agent unit when systemd runs and the unit uses this config.
// The daemon then reports within seconds; nothing to watch, nothing else to type.

export const AGENT_UNIT = 'lifeline-agent.service';
const UNIT_DIRS = ['/etc/systemd/system', '/lib/systemd/system', '/usr/lib/systemd/system'];

export type AfterEnroll = { action: 'restart' } | { action: 'say'; text: string };

/** What to do once enrolled: pure, from what the host has. */
export function afterEnroll(host: { systemdRunning: boolean; unitInstalled: boolean; unitConfig: boolean }): AfterEnroll {
  if (!host.unitInstalled) return { action: 'say', text: 'start the agent: lifeline-agent daemon (or its systemd unit: systemctl enable --now lifeline-agent)' };
  if (!host.unitConfig) return { action: 'say', text: `the ${AGENT_UNIT} unit runs ${DEFAULT_AGENT_CONFIG}, not this config: start a daemon for it with: lifeline-agent daemon --config FILE` };
  if (!host.systemdRunning) return { action: 'say', text: `systemd is not running here: start the agent with: lifeline-agent daemon` };
  return { action: 'restart' };
}

/** Restarts the unit if that is what afterEnroll says; returns the line to print. */
export function restartAfterEnroll(configFile: string): string {
  const step = afterEnroll({
    systemdRunning: existsSync('/run/systemd/system'),
    unitInstalled: UNIT_DIRS.some((d) => existsSync(`${d}/${AGENT_UNIT}`)),
    unitConfig: resolve(configFile) === DEFAULT_AGENT_CONFIG,
  });
  if (step.action === 'say') return step.text;
  // A unit that gave up before enrollment (StartLimitBurst) refuses a start until reset.
  spawnSync('systemctl', ['reset-failed', AGENT_UNIT], { stdio: 'ignore', timeout: 60_000 });
  const r = spawnSync('systemctl', ['restart', AGENT_UNIT], { encoding: 'utf8', timeout: 60_000 });
  if (r.status !== 0) {
    const why = (r.stderr || r.error?.message || `exit ${r.status ?? r.signal}`).trim();
    return `could not restart ${AGENT_UNIT} (${why}): run: systemctl restart lifeline-agent, then: journalctl -u lifeline-agent`;
  }
  return `${AGENT_UNIT} restarted: it reports within seconds (systemctl status lifeline-agent)`;
}
