import { readFileSync } from 'node:fs';
import type { ProcessResult } from '../process-runner';
import { lastLines, lineSplitter, smallOutput } from './paths-lines';
import { backupGroup, nsArgs, type PbsContext } from './pbs-options';
import { groupSnapshots, type PbsSnapshot } from './pbs-output';
import { outcomeFromProcess, type ExecOptions, type OperationOutcome } from './types';

// How the pbs driver starts proxmox-backup-client. Credentials reach it only through the
// environment (REFERENCE-INTEGRATIONS §5 "Auth and environment variables"): PBS_PASSWORD_FILE,
// PBS_ENCRYPTION_PASSWORD_FILE and PBS_FINGERPRINT; argv holds the repository (no secret in it),
// the key file's path and nothing else of the kind. Errors: `Error: <text>` on stderr, exit 255.

/** Inherited variables that would win over (or mix with) the configured ones: PBS takes the first defined of PASSWORD, _FD, _FILE, _CMD. */
const OVERRIDDEN = ['PBS_REPOSITORY', 'PBS_PASSWORD', 'PBS_PASSWORD_FD', 'PBS_PASSWORD_FILE', 'PBS_PASSWORD_CMD', 'PBS_ENCRYPTION_PASSWORD', 'PBS_ENCRYPTION_PASSWORD_FD', 'PBS_ENCRYPTION_PASSWORD_FILE', 'PBS_ENCRYPTION_PASSWORD_CMD'];

/** PBS uses a password file's first line only: that line is the secret to keep out of logs. */
function redactFirstLine(ctx: PbsContext, file: string): void {
  try {
    const first = readFileSync(file, 'utf8').split(/\r?\n/)[0];
    if (first) ctx.secret(first);
  } catch {
    // Unreadable: the client says so, and the config check named it already.
  }
}

export function pbsEnv(ctx: PbsContext): NodeJS.ProcessEnv {
  const { passwordFile, encryptionPasswordFile, fingerprint } = ctx.options;
  const env: NodeJS.ProcessEnv = { ...ctx.env };
  for (const name of OVERRIDDEN) delete env[name];
  env.PBS_PASSWORD_FILE = passwordFile;
  redactFirstLine(ctx, passwordFile);
  if (encryptionPasswordFile) {
    env.PBS_ENCRYPTION_PASSWORD_FILE = encryptionPasswordFile;
    redactFirstLine(ctx, encryptionPasswordFile);
  }
  if (fingerprint) {
    env.PBS_FINGERPRINT = fingerprint;
    // Not a secret, but kept out of the run's log like one: it pins the server's certificate.
    ctx.secret(fingerprint);
  }
  return env;
}

export interface ClientRun {
  result: ProcessResult;
  /** The client's own reason, from its last `Error: …` line (else its last stderr line). */
  reason?: string;
}

/** `proxmox-backup-client ARGS… --repository R [--ns NS]`; stderr goes to the log tail and is read for the error. */
export async function client(ctx: PbsContext, args: readonly string[], extra: ExecOptions = {}): Promise<ClientRun> {
  let error: string | undefined;
  const last = lastLines(1);
  const lines = lineSplitter((line) => {
    const m = /^Error: (.+)$/.exec(line);
    if (m) error = m[1].trim();
  });
  const result = await ctx.exec([ctx.options.client, ...args, '--repository', ctx.options.repository, ...nsArgs(ctx.options)], {
    ...extra,
    env: pbsEnv(ctx),
    onStderr: (chunk) => {
      lines.push(chunk);
      last.push(chunk);
      extra.onStderr?.(chunk);
    },
  });
  lines.end();
  const reason = error ?? last.lines()[0];
  return { result, ...(reason ? { reason } : {}) };
}

/** A client command's outcome; a failure names the command and the client's reason. */
export function clientOutcome(command: string, { result, reason }: ClientRun): OperationOutcome {
  const outcome = outcomeFromProcess(result);
  if (outcome.status === 'success') return outcome;
  const why = outcome.status === 'failure' && !outcome.permanent && reason ? reason : outcome.error;
  return { ...outcome, error: `proxmox-backup-client ${command}: ${why}` };
}

/** A store's snapshot list is one JSON document: allowed this much before it is cut. */
const MAX_LIST = 64 * 2 ** 20;

/** This job's group's snapshots (`snapshot list host/ID --output-format json`), newest first. */
export async function jobSnapshots(ctx: PbsContext): Promise<{ run: ClientRun; snapshots: PbsSnapshot[] | null }> {
  const group = backupGroup(ctx.options);
  const out = smallOutput(MAX_LIST);
  const run = await client(ctx, ['snapshot', 'list', group, '--output-format', 'json'], { tailStdout: false, onStdout: out.push });
  return { run, snapshots: run.result.exitCode === 0 ? groupSnapshots(out.text(), group) : null };
}

/** `jobSnapshots` for operations that need the list: a failure outcome when it cannot be had. */
export async function requireSnapshots(ctx: PbsContext): Promise<PbsSnapshot[] | OperationOutcome> {
  const { run, snapshots } = await jobSnapshots(ctx);
  if (run.result.exitCode !== 0) return clientOutcome('snapshot list', run);
  if (!snapshots) return { status: 'failure', exitCode: 0, error: 'proxmox-backup-client snapshot list printed no JSON list' };
  return snapshots;
}
