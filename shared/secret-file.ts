import { accessSync, constants, statSync, type Stats } from 'node:fs';
import { userInfo } from 'node:os';

// The one check for files that hold a secret (tokens, passwords, keys, option files with a
// password in them), on both sides: the config loaders run it over every such file, the agent
// runs it again before it reads its key. A secret must be private to the user Lifeline runs as:
// - any group or other permission bit (0o077) is refused, group-readable 0640 included: a
//   group shares the secret with every member, and "private" is only checkable as 0600;
// - an owner other than root or that user is refused: the owner can read the file whatever
//   its mode, and rewrite it (a borgmatic config's hooks run as the agent's user).

export type SecretFileFault = 'missing' | 'not-a-file' | 'open-mode' | 'foreign-owner' | 'unreadable';

export interface SecretFileProblem {
  fault: SecretFileFault;
  /** Names the file and, where there is one, the command that fixes it. */
  message: string;
}

/** The uid Lifeline runs as and its name, for the owner rule (tests may pass their own). */
export interface RunningUser {
  uid: number;
  name: string;
}

export function runningUser(): RunningUser {
  const uid = process.geteuid?.() ?? 0;
  let name = String(uid);
  try {
    name = userInfo().username;
  } catch {
    // No passwd entry (a container's arbitrary uid): the number is all there is.
  }
  return { uid, name };
}

const octal = (mode: number) => `0${(mode & 0o777).toString(8).padStart(3, '0')}`;

/** Why `file` cannot hold a secret, or null when it is a regular file only its owner can use. */
export function secretFileProblem(file: string, user: RunningUser = runningUser()): SecretFileProblem | null {
  let st: Stats;
  try {
    st = statSync(file);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return { fault: 'missing', message: `secret file ${file} is missing or not readable` };
    return { fault: 'unreadable', message: `secret file ${file} is not readable by user ${user.name} (${code ?? 'error'})` };
  }
  if (!st.isFile()) return { fault: 'not-a-file', message: `secret file ${file} is not a regular file` };
  if ((st.mode & 0o077) !== 0) {
    const who = (st.mode & 0o044) !== 0 ? 'readable by other users' : 'open to other users';
    return { fault: 'open-mode', message: `secret file ${file} is ${who} (mode ${octal(st.mode)}); run: chmod 600 ${file}` };
  }
  if (st.uid !== 0 && st.uid !== user.uid) {
    return {
      fault: 'foreign-owner',
      message: `secret file ${file} belongs to uid ${st.uid}, who can read and replace it; run: chown ${user.name} ${file}`,
    };
  }
  try {
    accessSync(file, constants.R_OK);
  } catch {
    // Owned by root, mode 0600, and Lifeline runs as its own user (the collector does).
    return { fault: 'unreadable', message: `secret file ${file} is not readable by user ${user.name}; run: chown ${user.name} ${file}` };
  }
  return null;
}

/** A secret file named in a config, with the key path of the option naming it. */
export interface NamedSecretFile {
  path: PropertyKey[];
  file: unknown;
}

/**
 * Config-load problems for the secret files a config names, as the loaders' extra checks
 * return them (the loader adds file, line and column). Values that are not absolute paths are
 * left to the schema, which reports them already.
 */
export function secretFileIssues(files: Iterable<NamedSecretFile>, user: RunningUser = runningUser()): { path: PropertyKey[]; message: string }[] {
  const problems: { path: PropertyKey[]; message: string }[] = [];
  for (const { path, file } of files) {
    if (typeof file !== 'string' || !file.startsWith('/')) continue;
    const problem = secretFileProblem(file, user);
    if (problem) problems.push({ path, message: problem.message });
  }
  return problems;
}
