import { spawn } from 'node:child_process';
import type { PbsConfig } from '../config';
import { commandText } from '../proxmox/tools';

// proxmox-backup-manager and proxmox-backup-client through the paths agent.yaml gives
// (`pbs.tools`), argv form, never a shell, secrets only in the environment. Every proxmox-router
// CLI fails with `Error: <text>` on stderr and exit status 255 (REFERENCE-INTEGRATIONS §5): an
// error here names the command and that text.

export type PbsTool = 'manager' | 'client';
const TOOL_NAMES: Record<PbsTool, string> = { manager: 'proxmox-backup-manager', client: 'proxmox-backup-client' };

const MAX_STDOUT = 64 * 2 ** 20;

export class PbsToolError extends Error {
  constructor(
    message: string,
    readonly exitCode: number | null,
  ) {
    super(message);
  }
}

/** Runs the tool, parses its JSON output (`--output-format json` is the caller's). */
export function runPbsTool<T>(pbs: Pick<PbsConfig, 'tools' | 'timeoutMs'>, tool: PbsTool, args: readonly string[], env: NodeJS.ProcessEnv): Promise<T> {
  const what = commandText(TOOL_NAMES[tool], args);
  const path = pbs.tools[tool];
  return new Promise((resolve, reject) => {
    const fail = (message: string, code: number | null) => reject(new PbsToolError(message, code));
    let child;
    try {
      child = spawn(path, args, { env: { ...env, LC_ALL: 'C' }, stdio: ['ignore', 'pipe', 'pipe'] });
    } catch (err) {
      return fail(`${what}: cannot start ${path}: ${(err as Error).message}`, null);
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
    }, pbs.timeoutMs);
    child.stdout.on('data', (c: Buffer) => {
      outBytes += c.length;
      if (outBytes > MAX_STDOUT) {
        overflow = true;
        child.kill('SIGKILL');
      } else out.push(c);
    });
    child.stderr.on('data', (c: Buffer) => {
      if (errBytes < 64 * 1024) err.push(c);
      errBytes += c.length;
    });
    child.on('error', (e: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      const why = e.code === 'ENOENT' ? 'not found' : e.code === 'EACCES' ? 'not executable' : e.message;
      fail(`${what}: cannot run ${path} (${why}; set pbs.tools.${tool} in agent.yaml if it lives elsewhere)`, null);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const stderr = Buffer.concat(err).toString('utf8').trim();
      if (timedOut) return fail(`${what}: no answer within ${Math.round(pbs.timeoutMs / 1000)}s (pbs.timeout); killed`, null);
      if (overflow) return fail(`${what}: more than ${MAX_STDOUT / 2 ** 20} MiB of output; killed`, null);
      if (code !== 0) {
        const how = code === null ? `killed by ${signal}` : `exit code ${code}`;
        const text = stderr.length > 600 ? `${stderr.slice(0, 600)}…` : stderr;
        return fail(`${what} failed (${how})${text ? `: ${text}` : ''}`, code);
      }
      const stdout = Buffer.concat(out).toString('utf8');
      try {
        resolve(JSON.parse(stdout) as T);
      } catch {
        fail(`${what}: the answer is not JSON: ${JSON.stringify(stdout.slice(0, 200))}`, 0);
      }
    });
  });
}
