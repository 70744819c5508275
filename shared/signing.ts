import nacl from 'tweetnacl';

// Ed25519 (RFC 8032) over the raw request body. The agent signs with tweetnacl (pure JS, so
// the agent bundle has no native code); the collector verifies with node:crypto, ~70× faster.

export interface KeyPair {
  publicKey: Uint8Array; // 32 bytes
  secretKey: Uint8Array; // 64 bytes: seed ‖ public key (tweetnacl layout)
}

export function generateKeyPair(): KeyPair {
  return nacl.sign.keyPair();
}

export function keyPairFromSeed(seed: Uint8Array): KeyPair {
  if (seed.length !== 32) throw new Error(`an Ed25519 seed is 32 bytes, got ${seed.length}`);
  return nacl.sign.keyPair.fromSeed(seed);
}

export function sign(body: Uint8Array, secretKey: Uint8Array): string {
  return Buffer.from(nacl.sign.detached(body, secretKey)).toString('base64');
}

/** Pure-JS verification; the collector uses node:crypto instead (see collector/verify.ts). */
export function verifyWithNacl(body: Uint8Array, signatureB64: string, publicKey: Uint8Array): boolean {
  const sig = Buffer.from(signatureB64, 'base64');
  if (sig.length !== nacl.sign.signatureLength) return false;
  return nacl.sign.detached.verify(body, sig, publicKey);
}

/** Decodes a base64 public key, or returns null when it is not 32 bytes. */
export function decodePublicKey(b64: string): Uint8Array | null {
  if (!/^[A-Za-z0-9+/]{43}=$/.test(b64.trim())) return null;
  const raw = Buffer.from(b64.trim(), 'base64');
  return raw.length === 32 ? new Uint8Array(raw) : null;
}
