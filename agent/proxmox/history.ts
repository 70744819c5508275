import type { AgentConfig, ProxmoxConfig } from '../config';
import type { Spool } from '../spool';

export interface TaskHistoryOptions {
  config: AgentConfig;
  proxmox: ProxmoxConfig;
  spool: Spool;
  onSpooled?: () => void;
  now?: number;
}

/**
 * Reports vzdump backups found in the task history that no hook reported (before the hook was
 * installed, or with it removed), each once. Returns how many runs it reported.
 * (Placeholder until the history scan lands: reports nothing.)
 */
export async function reportTaskHistory(_opts: TaskHistoryOptions): Promise<number> {
  return 0;
}
