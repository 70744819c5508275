import { readFileSync } from 'node:fs';
import type { JobConfig } from './config';
import type { LogTail } from './log-tail';

// Names that say "secret": PASSWORD, PASSWD, PASSPHRASE, MYSQL_PWD, API_KEY, AWS_SECRET_ACCESS_KEY,
// GITHUB_TOKEN, *_CREDENTIALS, BASIC_AUTH, PRIVATE_KEY… Too broad is cheap (a value hidden from a
// log), too narrow leaks. PWD and OLDPWD are working directories, not passwords.
const SECRETISH = /PASS|PWD|SECRET|TOKEN|KEY|CREDENTIAL|AUTH|PRIVATE/i;
const NOT_SECRET = new Set(['PWD', 'OLDPWD']);

/** Whether an `env:` variable's value is redacted from logs, by its name. */
export function secretEnvName(name: string): boolean {
  return SECRETISH.test(name) && !NOT_SECRET.has(name.toUpperCase());
}

/**
 * The environment a job's tool runs with: the agent's own, the job's `env`, and secrets read
 * from `envFiles`. Every secret value (every envFiles value, whatever its name, and the env
 * values with a secret-looking name) is registered with the log tail so it is redacted.
 */
export function buildJobEnv(job: JobConfig, tail: LogTail, base: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...base, LC_ALL: base.LC_ALL ?? 'C.UTF-8' };
  for (const [k, v] of Object.entries(job.env)) {
    env[k] = v;
    if (secretEnvName(k)) tail.addSecret(v);
  }
  for (const [k, file] of Object.entries(job.envFiles)) {
    // Secret files conventionally end with a newline that is not part of the secret.
    const value = readFileSync(file, 'utf8').replace(/\r?\n$/, '');
    env[k] = value;
    tail.addSecret(value);
  }
  return env;
}
