import type { ProxmoxConfig } from '../config';
import { callTool, commandText, ToolCallError, type ToolOutput } from '../tool-call';

export { commandText, type ToolOutput };

// The Proxmox VE command-line tools, run through the paths agent.yaml gives (`proxmox.tools`).
// pvesh answers JSON with `--output-format json`; PVE's CLIs die with exit code 255 and the
// reason on stderr (e.g. "Configuration file 'nodes/pve1/qemu-server/100.conf' does not exist"),
// which is what an error here says.

export type PveTool = 'pvesh' | 'qm' | 'pct';

export class PveToolError extends ToolCallError {
  constructor(
    message: string,
    readonly tool: PveTool,
    readonly argv: readonly string[],
    exitCode: number | null,
    stderr: string,
  ) {
    super(message, exitCode, stderr);
  }
}

export interface PveTools {
  /** `pvesh get PATH [--key value…] --output-format json`, parsed. */
  get<T = unknown>(path: string, params?: Readonly<Record<string, string | number>>): Promise<T>;
  /** Runs qm or pct with these arguments; resolves on exit 0, rejects with a PveToolError otherwise. */
  run(tool: PveTool, args: readonly string[], opts?: { background?: boolean }): Promise<ToolOutput>;
}

export function pveTools(proxmox: Pick<ProxmoxConfig, 'tools' | 'timeoutMs'>, env: NodeJS.ProcessEnv = process.env): PveTools {
  const run = async (tool: PveTool, args: readonly string[], opts: { background?: boolean } = {}): Promise<ToolOutput> => {
    try {
      const what = commandText(tool, args);
      return await callTool({ path: proxmox.tools[tool], args, env, timeoutMs: proxmox.timeoutMs, what, pathKey: `proxmox.tools.${tool}`, timeoutKey: 'proxmox.timeout', background: opts.background });
    } catch (err) {
      const e = err as ToolCallError;
      throw new PveToolError(e.message, tool, args, e.exitCode, e.stderr);
    }
  };

  return {
    run,
    async get<T>(path: string, params: Readonly<Record<string, string | number>> = {}): Promise<T> {
      const args = ['get', path, ...Object.entries(params).flatMap(([k, v]) => [`--${k}`, String(v)]), '--output-format', 'json'];
      // A scan is background work: each pvesh is a Perl start-up of a few hundred ms of CPU, and
      // the guests come first.
      const { stdout } = await run('pvesh', args, { background: true });
      try {
        return JSON.parse(stdout) as T;
      } catch {
        throw new PveToolError(`${commandText('pvesh', args)}: the answer is not JSON: ${JSON.stringify(stdout.slice(0, 200))}`, 'pvesh', args, 0, '');
      }
    },
  };
}
