import { closeSync, mkdirSync, openSync, readFileSync, statSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import { generateKeyPair, keyPairFromSeed, type KeyPair } from '../shared/signing';

export class KeyError extends Error {
  readonly code = 'E_KEY';
}

/** Writes a new Ed25519 key (the 32-byte seed, base64) with mode 0600; refuses to overwrite. */
export function writeNewKey(keyFile: string): KeyPair {
  mkdirSync(dirname(keyFile), { recursive: true, mode: 0o700 });
  const pair = generateKeyPair();
  let fd: number;
  try {
    fd = openSync(keyFile, 'wx', 0o600);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') {
      throw new KeyError(`${keyFile} already exists; refusing to replace the agent's identity (delete it first to rotate the key)`);
    }
    throw err;
  }
  try {
    writeSync(fd, `${Buffer.from(pair.secretKey.subarray(0, 32)).toString('base64')}\n`);
  } finally {
    closeSync(fd);
  }
  return pair;
}

export function loadKey(keyFile: string): KeyPair {
  let text: string;
  try {
    const st = statSync(keyFile);
    // A private key anyone else can read is no longer private.
    if ((st.mode & 0o077) !== 0) {
      throw new KeyError(`${keyFile} is readable by other users (mode ${(st.mode & 0o777).toString(8)}); run: chmod 600 ${keyFile}`);
    }
    text = readFileSync(keyFile, 'utf8');
  } catch (err) {
    if (err instanceof KeyError) throw err;
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new KeyError(`no agent key at ${keyFile}; run: lifeline-agent keygen`);
    throw new KeyError(`cannot read the agent key ${keyFile}: ${(err as Error).message}`);
  }
  const seed = Buffer.from(text.trim(), 'base64');
  if (seed.length !== 32) throw new KeyError(`${keyFile} does not hold an Ed25519 key (expected 32 bytes of base64)`);
  return keyPairFromSeed(new Uint8Array(seed));
}

export function publicKeyBase64(pair: KeyPair): string {
  return Buffer.from(pair.publicKey).toString('base64');
}
