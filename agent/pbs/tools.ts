import type { PbsConfig } from '../config';
import { callTool, commandText, ToolCallError } from '../tool-call';

// proxmox-backup-manager and proxmox-backup-client through the paths agent.yaml gives
// (`pbs.tools`), secrets only in the environment. Every proxmox-router CLI fails with
// `Error: <text>` on stderr and exit status 255 (REFERENCE-INTEGRATIONS §5): an error here
// names the command and that text.

export type PbsTool = 'manager' | 'client';
const TOOL_NAMES: Record<PbsTool, string> = { manager: 'proxmox-backup-manager', client: 'proxmox-backup-client' };

/** Runs the tool, parses its JSON output (`--output-format json` is the caller's). */
export async function runPbsTool<T>(pbs: Pick<PbsConfig, 'tools' | 'timeoutMs'>, tool: PbsTool, args: readonly string[], env: NodeJS.ProcessEnv): Promise<T> {
  const what = commandText(TOOL_NAMES[tool], args);
  const { stdout } = await callTool({ path: pbs.tools[tool], args, env, timeoutMs: pbs.timeoutMs, what, pathKey: `pbs.tools.${tool}`, timeoutKey: 'pbs.timeout', background: true });
  try {
    return JSON.parse(stdout) as T;
  } catch {
    throw new ToolCallError(`${what}: the answer is not JSON: ${JSON.stringify(stdout.slice(0, 200))}`, 0, '');
  }
}
