import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { secretFileProblem } from '../shared/secret-file';
import { generateKeyPair, keyPairFromSeed, type KeyPair } from '../shared/signing';
import { unlinkQuiet, writeFileAtomic, writeFully } from './durable-file';

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
    writeFully(fd, keyFileText(pair));
    fsyncSync(fd);
  } catch (err) {
    // A cut-short key would be an identity that no longer loads: none is better.
    closeSync(fd);
    unlinkQuiet(keyFile);
    throw err;
  }
  closeSync(fd);
  return pair;
}

/** The key file's content: the 32-byte seed, base64, one line. */
function keyFileText(pair: KeyPair): string {
  return `${Buffer.from(pair.secretKey.subarray(0, 32)).toString('base64')}\n`;
}

export function loadKey(keyFile: string): KeyPair {
  // A private key anyone else can read is no longer private: the same check as every secret file.
  const problem = secretFileProblem(keyFile);
  if (problem?.fault === 'missing') throw new KeyError(`no agent key at ${keyFile}; run: lifeline-agent keygen`);
  if (problem) throw new KeyError(problem.message);
  let text: string;
  try {
    text = readFileSync(keyFile, 'utf8');
  } catch (err) {
    throw new KeyError(`cannot read the agent key ${keyFile}: ${(err as Error).message}`);
  }
  const seed = Buffer.from(text.trim(), 'base64');
  if (seed.length !== 32) throw new KeyError(`${keyFile} does not hold an Ed25519 key (expected 32 bytes of base64)`);
  return keyPairFromSeed(new Uint8Array(seed));
}

export function publicKeyBase64(pair: KeyPair): string {
  return Buffer.from(pair.publicKey).toString('base64');
}

/** Writes a key this process holds back to its file (0600), e.g. after the state directory was removed. */
export function restoreKeyFile(keyFile: string, pair: KeyPair): void {
  mkdirSync(dirname(keyFile), { recursive: true, mode: 0o700 });
  writeFileAtomic(keyFile, keyFileText(pair), { mode: 0o600 });
}
