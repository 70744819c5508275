import { readFileSync } from 'node:fs';
import type { JobConfig } from './config';
import type { LogTail } from './log-tail';

const SECRETISH = /PASS|SECRET|TOKEN|CREDENTIAL|PRIVATE/i;

/**
 * The environment a job's tool runs with: the agent's own, the job's `env`, and secrets read
 * from `envFiles`. Every secret value is registered with the log tail so it is redacted.
 */
export function buildJobEnv(job: JobConfig, tail: LogTail, base: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...base, LC_ALL: base.LC_ALL ?? 'C.UTF-8' };
  for (const [k, v] of Object.entries(job.env)) {
    env[k] = v;
    if (SECRETISH.test(k)) tail.addSecret(v);
  }
  for (const [k, file] of Object.entries(job.envFiles)) {
    // Secret files conventionally end with a newline that is not part of the secret.
    const value = readFileSync(file, 'utf8').replace(/\r?\n$/, '');
    env[k] = value;
    tail.addSecret(value);
  }
  return env;
}
