import { spawn } from 'node:child_process';
import { setPriority } from 'node:os';
import type { ProxmoxConfig } from '../config';

// The Proxmox VE command-line tools, run through the paths agent.yaml gives (`proxmox.tools`),
// argv form, never a shell. pvesh answers JSON with `--output-format json`; PVE's CLIs die
// with exit code 255 and the reason on stderr (e.g. "Configuration file
// 'nodes/pve1/qemu-server/100.conf' does not exist"), which is what an error here says.

export type PveTool = 'pvesh' | 'qm' | 'pct';

const MAX_STDOUT = 64 * 2 ** 20;
const MAX_STDERR_SHOWN = 600;

export class PveToolError extends Error {
  constructor(
    message: string,
    readonly tool: PveTool,
    readonly argv: readonly string[],
    readonly exitCode: number | null,
    readonly stderr: string,
  ) {
    super(message);
  }
}

export interface ToolOutput {
  stdout: string;
  stderr: string;
}

export interface PveTools {
  /** `pvesh get PATH [--key value…] --output-format json`, parsed. */
  get<T = unknown>(path: string, params?: Readonly<Record<string, string | number>>): Promise<T>;
  /** Runs qm or pct with these arguments; resolves on exit 0, rejects with a PveToolError otherwise. */
  run(tool: PveTool, args: readonly string[], opts?: { background?: boolean }): Promise<ToolOutput>;
}

/** How a command reads in a message: `qm snapshot 100 name`, arguments with spaces quoted. */
export function commandText(tool: string, args: readonly string[]): string {
  return [tool, ...args.map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : JSON.stringify(a)))].join(' ');
}

function stderrText(stderr: string): string {
  const text = stderr.trim();
  return text.length > MAX_STDERR_SHOWN ? `${text.slice(0, MAX_STDERR_SHOWN)}…` : text;
}

export function pveTools(proxmox: Pick<ProxmoxConfig, 'tools' | 'timeoutMs'>, env: NodeJS.ProcessEnv = process.env): PveTools {
  const run = (tool: PveTool, args: readonly string[], opts: { background?: boolean } = {}): Promise<ToolOutput> =>
    new Promise((resolve, reject) => {
      const path = proxmox.tools[tool];
      const what = commandText(tool, args);
      const fail = (message: string, exitCode: number | null, stderr: string) => reject(new PveToolError(message, tool, args, exitCode, stderr));
      let child;
      try {
        child = spawn(path, args, { env: { ...env, LC_ALL: 'C' }, stdio: ['ignore', 'pipe', 'pipe'] });
      } catch (err) {
        fail(`${what}: cannot start ${path}: ${(err as Error).message}`, null, '');
        return;
      }
      // A scan is background work: each pvesh is a Perl start-up of a few hundred ms of CPU, and
      // the guests come first.
      if (opts.background && child.pid !== undefined) {
        try {
          setPriority(child.pid, 10);
        } catch {
          // already gone, or not allowed: it runs at the agent's priority
        }
      }
      const out: Buffer[] = [];
      const err: Buffer[] = [];
      let outBytes = 0;
      let errBytes = 0;
      let overflow = false;
      let timedOut = false;
      const timer = setTimeout(() => {
        timedOut = true;
        child.kill('SIGKILL');
      }, proxmox.timeoutMs);
      child.stdout.on('data', (chunk: Buffer) => {
        outBytes += chunk.length;
        if (outBytes > MAX_STDOUT) {
          overflow = true;
          child.kill('SIGKILL');
        } else out.push(chunk);
      });
      child.stderr.on('data', (chunk: Buffer) => {
        if (errBytes < 64 * 1024) err.push(chunk);
        errBytes += chunk.length;
      });
      child.on('error', (e: NodeJS.ErrnoException) => {
        clearTimeout(timer);
        const why = e.code === 'ENOENT' ? 'not found' : e.code === 'EACCES' ? 'not executable' : e.message;
        fail(`${what}: cannot run ${path} (${why}; set proxmox.tools.${tool} in agent.yaml if it lives elsewhere)`, null, '');
      });
      child.on('close', (code, signal) => {
        clearTimeout(timer);
        const stderr = Buffer.concat(err).toString('utf8');
        if (timedOut) return fail(`${what}: no answer within ${Math.round(proxmox.timeoutMs / 1000)}s (proxmox.timeout); killed`, null, stderr);
        if (overflow) return fail(`${what}: more than ${MAX_STDOUT / 2 ** 20} MiB of output; killed`, null, stderr);
        if (code !== 0) {
          const how = code === null ? `killed by ${signal}` : `exit code ${code}`;
          return fail(`${what} failed (${how})${stderr.trim() ? `: ${stderrText(stderr)}` : ''}`, code, stderr);
        }
        resolve({ stdout: Buffer.concat(out).toString('utf8'), stderr });
      });
    });

  return {
    run,
    async get<T>(path: string, params: Readonly<Record<string, string | number>> = {}): Promise<T> {
      const args = ['get', path, ...Object.entries(params).flatMap(([k, v]) => [`--${k}`, String(v)]), '--output-format', 'json'];
      const { stdout } = await run('pvesh', args, { background: true });
      try {
        return JSON.parse(stdout) as T;
      } catch {
        throw new PveToolError(`${commandText('pvesh', args)}: the answer is not JSON: ${JSON.stringify(stdout.slice(0, 200))}`, 'pvesh', args, 0, '');
      }
    },
  };
}
