import { createPublicKey, verify, type KeyObject } from 'node:crypto';

// node:crypto verifies Ed25519 ~70× faster than tweetnacl; it wants a KeyObject, which we build
// from the raw 32-byte key by prefixing the fixed SPKI DER header for Ed25519 (RFC 8410).
const SPKI_ED25519_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');
const SIGNATURE_RE = /^[A-Za-z0-9+/]{86}==$/;

// Keyed by the base64 key itself, so a re-enrolled or reconfigured agent never hits a stale entry.
const keyCache = new Map<string, KeyObject>();
const MAX_CACHED_KEYS = 10_000;

export function publicKeyObject(publicKeyB64: string): KeyObject {
  let key = keyCache.get(publicKeyB64);
  if (!key) {
    const raw = Buffer.from(publicKeyB64, 'base64');
    if (raw.length !== 32) throw new Error(`an Ed25519 public key is 32 bytes, got ${raw.length}`);
    key = createPublicKey({ key: Buffer.concat([SPKI_ED25519_PREFIX, raw]), format: 'der', type: 'spki' });
    if (keyCache.size >= MAX_CACHED_KEYS) keyCache.clear();
    keyCache.set(publicKeyB64, key);
  }
  return key;
}

/** True when signatureB64 is a valid Ed25519 signature of exactly these bytes. */
export function verifySignature(body: Uint8Array, signatureB64: string, publicKeyB64: string): boolean {
  if (!SIGNATURE_RE.test(signatureB64)) return false;
  try {
    return verify(null, body, publicKeyObject(publicKeyB64), Buffer.from(signatureB64, 'base64'));
  } catch {
    return false;
  }
}
