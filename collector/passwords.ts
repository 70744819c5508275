import { createHash, randomBytes, scrypt, timingSafeEqual, type ScryptOptions } from 'node:crypto';

// Basic-auth password files (access.usersFile). A line is "user:$scrypt$N$salt$hash": scrypt from
// node:crypto (r=8, p=1, 32-byte key), salt and hash in base64url — salted and slow, so a leaked
// file does not give the passwords away. The older forms, "user:sha256:<hex>" and
// "user:<password>", are still read (so an upgrade does not lock anyone out) and reported as weak.

const SCRYPT_N = 16384;
const KEY_BYTES = 32;
const SCRYPT_LINE = /^\$scrypt\$(\d+)\$([A-Za-z0-9_-]{16,})\$([A-Za-z0-9_-]{43})$/;

export type StoredPassword = { kind: 'scrypt'; n: number; salt: Buffer; hash: Buffer } | { kind: 'sha256'; digest: Buffer };

export interface UsersFile {
  users: Map<string, StoredPassword>;
  /** Users whose line is in an old unsalted form (sha256 or plain text), in file order. */
  weak: string[];
}

const sha256 = (s: string) => createHash('sha256').update(s).digest();

function scryptKey(password: string, salt: Buffer, n: number): Promise<Buffer> {
  const options: ScryptOptions = { N: n, r: 8, p: 1, maxmem: 256 * n * 8 + 1024 * 1024 };
  return new Promise((resolve, reject) => scrypt(password, salt, KEY_BYTES, options, (err, key) => (err ? reject(err) : resolve(key))));
}

/** The usersFile line's secret part for a password: "$scrypt$N$salt$hash". */
export async function hashPassword(password: string, n = SCRYPT_N): Promise<string> {
  const salt = randomBytes(16);
  return `$scrypt$${n}$${salt.toString('base64url')}$${(await scryptKey(password, salt, n)).toString('base64url')}`;
}

/** usersFile: one "user:<secret>" per line; # comments and blank lines ignored. */
export function parseUsersFile(text: string): UsersFile {
  const users = new Map<string, StoredPassword>();
  const weak: string[] = [];
  text.split('\n').forEach((raw, i) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    const colon = line.indexOf(':');
    if (colon <= 0 || colon === line.length - 1) throw new Error(`access.usersFile line ${i + 1}: expected "user:$scrypt$…" (lifeline-collector passwd USER writes one)`);
    const user = line.slice(0, colon);
    const secret = line.slice(colon + 1);
    if (secret.startsWith('$scrypt$')) {
      const m = SCRYPT_LINE.exec(secret);
      const n = m ? Number(m[1]) : 0;
      if (!m || n < 2 || (n & (n - 1)) !== 0 || n > 2 ** 20) throw new Error(`access.usersFile line ${i + 1}: a malformed $scrypt$ hash (expected $scrypt$N$salt$hash, N a power of 2)`);
      users.set(user, { kind: 'scrypt', n, salt: Buffer.from(m[2], 'base64url'), hash: Buffer.from(m[3], 'base64url') });
      return;
    }
    const hex = /^sha256:([0-9a-fA-F]{64})$/.exec(secret);
    users.set(user, { kind: 'sha256', digest: hex ? Buffer.from(hex[1], 'hex') : sha256(secret) });
    weak.push(user);
  });
  if (users.size === 0) throw new Error('access.usersFile lists no users');
  return { users, weak };
}

/** The log line for a file with weak lines: which file, whose lines, and how to rehash them. */
export function weakUsersWarning(file: string, weak: string[]): string | null {
  if (weak.length === 0) return null;
  return `access.usersFile ${file}: ${weak.join(', ')} ${weak.length === 1 ? 'has' : 'have'} an unsalted password (sha256 or plain text); rehash with "lifeline-collector passwd USER" (password on stdin) and replace the line`;
}

const DECOY: StoredPassword = { kind: 'scrypt', n: SCRYPT_N, salt: Buffer.alloc(16), hash: Buffer.alloc(KEY_BYTES) };

/**
 * Checks a user's password. An unknown user costs the same scrypt as a known one, so timing does
 * not tell which names exist. Browsers send the password with every request (page, script,
 * stylesheet): a good pair is remembered (by its sha256, in memory) so only the first costs scrypt.
 */
export function passwordChecker(users: Map<string, StoredPassword>, remember = 64): (user: string, password: string) => Promise<boolean> {
  const known = new Set<string>();
  return async (user, password) => {
    const key = sha256(`${user}\0${password}`).toString('base64');
    if (known.has(key)) return true;
    const stored = users.get(user);
    const ok = (await matches(stored ?? DECOY, password)) && stored !== undefined;
    if (ok) {
      if (known.size >= remember) known.delete(known.values().next().value!);
      known.add(key);
    }
    return ok;
  };
}

async function matches(stored: StoredPassword, password: string): Promise<boolean> {
  if (stored.kind === 'sha256') return timingSafeEqual(sha256(password), stored.digest);
  const key = await scryptKey(password, stored.salt, stored.n);
  return key.length === stored.hash.length && timingSafeEqual(key, stored.hash);
}
