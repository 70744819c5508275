import { spawnSync } from 'node:child_process';
import { ConfigError } from '../shared/config-error';
import { deepFreeze } from '../shared/freeze';
import type { AgentConfig } from './config';

export const DEFAULT_AGENT_CONFIG = '/etc/lifeline/agent.yaml';

/** Loads the config in this process (short-lived commands). */
export async function loadConfig(file: string): Promise<AgentConfig> {
  const { loadAgentConfig } = await import('./config');
  return loadAgentConfig(file);
}

/**
 * Loads the config in a short-lived child process (`check-config --json`) and returns the
 * resolved result. The daemon uses this so that the YAML parser and the schema library, about
 * a quarter of its memory, are never loaded into the process that stays resident.
 */
export function loadConfigIsolated(file: string): AgentConfig {
  const r = spawnSync(process.execPath, [...process.execArgv, process.argv[1], 'check-config', '--json', '--config', file], {
    encoding: 'utf8',
    timeout: 60_000,
  });
  if (r.status === 0) return deepFreeze(JSON.parse(r.stdout) as AgentConfig);
  if (r.status === 2) throw new ConfigError([], r.stderr.replace(/^invalid config:\n/, '').trim());
  throw new Error(`could not load ${file}: ${r.stderr.trim() || r.error?.message || `exit ${r.status ?? r.signal}`}`);
}
