import { spawn } from 'node:child_process';
import { NotifyError, secretFile, type Channel } from '../types';
import { appriseBody, appriseTitle, appriseType } from './apprise-api';

// The apprise CLI, run as argv (never a shell). Service URLs usually hold tokens: put them in
// `urlsFile` (Apprise's text config: one URL per line), which is handed to apprise with
// --config so they never appear in argv (/proc/PID/cmdline is world-readable) nor in our logs.
// Plain `urls` are for token-free targets only.
// Exit codes: 0 all sent · 1 a service failed (retry) · 2 bad option · 3 nothing matched.

export interface AppriseCliOptions {
  urls?: string[];
  urlsFile?: string;
  /** The apprise executable. */
  command: string;
  tag?: string;
}

/** Bounded stderr for errors, with anything URL-like cut out (URLs may hold tokens). */
function describe(stderr: string, o: AppriseCliOptions): string {
  let text = stderr;
  for (const url of o.urls ?? []) text = text.split(url).join('(url)');
  text = text.replace(/[a-z][a-z0-9+.-]*:\/\/\S+/gi, '(url)').replace(/\s+/g, ' ').trim().slice(0, 300);
  return text ? `: ${text}` : '';
}

export function appriseArgv(m: Parameters<Channel['send']>[0], o: AppriseCliOptions): string[] {
  // `--opt=value` so a title or body starting with "-" is never taken for an option.
  const argv = [`--title=${appriseTitle(m)}`, `--body=${appriseBody(m)}`, `--notification-type=${appriseType(m)}`, '--input-format=markdown'];
  if (o.urlsFile) argv.push(`--config=${o.urlsFile}`);
  if (o.tag) argv.push(`--tag=${o.tag}`);
  argv.push(...(o.urls ?? []));
  return argv;
}

export const appriseCli: Channel<AppriseCliOptions> = {
  type: 'apprise-cli',
  options: (z) =>
    z
      .object({
        urls: z.array(z.string().min(1)).optional(),
        urlsFile: secretFile(z).optional(),
        command: z.string().min(1).default('apprise'),
        tag: z.string().min(1).optional(),
      })
      .refine((o) => (o.urls?.length ?? 0) > 0 || o.urlsFile !== undefined, { message: 'give urls or urlsFile' }),

  send(m, o, io) {
    return new Promise((resolve, reject) => {
      // stdin closed: with an empty body apprise would otherwise wait for one on stdin.
      const child = spawn(o.command, appriseArgv(m, o), { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, LC_ALL: 'C.UTF-8' } });
      let stderr = '';
      child.stderr.setEncoding('utf8');
      child.stderr.on('data', (chunk: string) => {
        if (stderr.length < 64 * 1024) stderr += chunk;
      });
      let timedOut = false;
      const timer = setTimeout(() => {
        timedOut = true;
        child.kill('SIGKILL');
      }, io.timeoutMs);
      child.on('error', (err: NodeJS.ErrnoException) => {
        clearTimeout(timer);
        reject(new NotifyError(`apprise-cli: cannot run ${o.command}: ${err.code ?? err.message}`, false));
      });
      child.on('close', (code, signal) => {
        clearTimeout(timer);
        if (code === 0) return resolve();
        if (timedOut) return reject(new NotifyError(`apprise-cli: no result within ${io.timeoutMs} ms`, true));
        if (code === null) return reject(new NotifyError(`apprise-cli: killed by ${signal}`, true));
        reject(new NotifyError(`apprise-cli: exited with code ${code}${describe(stderr, o)}`, code === 1));
      });
    });
  },
};
