import { spawn } from 'node:child_process';
import { setPriority } from 'node:os';

// One call of a host tool whose answer the agent reads (pvesh, qm, pct, proxmox-backup-manager,
// proxmox-backup-client): argv form, never a shell, LC_ALL=C, killed at its timeout or when it
// floods stdout. A failure is one line a user can act on: the command, how it ended, and the
// tool's own stderr (Proxmox CLIs die with exit 255 and the reason there).

const MAX_STDOUT = 64 * 2 ** 20;
const MAX_STDERR_KEPT = 64 * 1024;
const MAX_STDERR_SHOWN = 600;

export interface ToolCall {
  path: string;
  args: readonly string[];
  env: NodeJS.ProcessEnv;
  timeoutMs: number;
  /** The agent.yaml keys named in errors: where the tool's path and the timeout are set. */
  pathKey: string;
  timeoutKey: string;
  /** The command as errors show it (default the path and arguments). */
  what?: string;
  /** Background work (a scan): run at a lower CPU priority. */
  background?: boolean;
}

export interface ToolOutput {
  stdout: string;
  stderr: string;
}

export class ToolCallError extends Error {
  constructor(
    message: string,
    readonly exitCode: number | null,
    readonly stderr: string,
  ) {
    super(message);
  }
}

/** How a command reads in a message: `qm snapshot 100 name`, arguments with spaces quoted. */
export function commandText(tool: string, args: readonly string[]): string {
  return [tool, ...args.map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : JSON.stringify(a)))].join(' ');
}

/** Resolves with the output on exit 0; rejects with a ToolCallError otherwise. */
export function callTool(call: ToolCall): Promise<ToolOutput> {
  const { path, args, timeoutMs } = call;
  const what = call.what ?? commandText(path, args);
  return new Promise((resolve, reject) => {
    const fail = (message: string, exitCode: number | null, stderr: string) => reject(new ToolCallError(message, exitCode, stderr));
    let child;
    try {
      child = spawn(path, args, { env: { ...call.env, LC_ALL: 'C' }, stdio: ['ignore', 'pipe', 'pipe'] });
    } catch (err) {
      return fail(`${what}: cannot start ${path}: ${(err as Error).message}`, null, '');
    }
    if (call.background && child.pid !== undefined) {
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
    }, timeoutMs);
    child.stdout.on('data', (chunk: Buffer) => {
      outBytes += chunk.length;
      if (outBytes > MAX_STDOUT) {
        overflow = true;
        child.kill('SIGKILL');
      } else out.push(chunk);
    });
    child.stderr.on('data', (chunk: Buffer) => {
      if (errBytes < MAX_STDERR_KEPT) err.push(chunk);
      errBytes += chunk.length;
    });
    child.on('error', (e: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      const why = e.code === 'ENOENT' ? 'not found' : e.code === 'EACCES' ? 'not executable' : e.message;
      fail(`${what}: cannot run ${path} (${why}; set ${call.pathKey} in agent.yaml if it lives elsewhere)`, null, '');
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const stderr = Buffer.concat(err).toString('utf8');
      if (timedOut) return fail(`${what}: no answer within ${Math.round(timeoutMs / 1000)}s (${call.timeoutKey}); killed`, null, stderr);
      if (overflow) return fail(`${what}: more than ${MAX_STDOUT / 2 ** 20} MiB of output; killed`, null, stderr);
      if (code !== 0) {
        const how = code === null ? `killed by ${signal}` : `exit code ${code}`;
        const text = stderr.trim();
        const shown = text.length > MAX_STDERR_SHOWN ? `${text.slice(0, MAX_STDERR_SHOWN)}…` : text;
        return fail(`${what} failed (${how})${shown ? `: ${shown}` : ''}`, code, stderr);
      }
      resolve({ stdout: Buffer.concat(out).toString('utf8'), stderr });
    });
  });
}

/** Runs `fn` over the items, `concurrency` at a time. */
export async function eachLimited<T>(items: readonly T[], fn: (item: T) => Promise<void>, concurrency = 4): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await fn(items[next++]);
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, worker));
}
