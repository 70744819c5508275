import assert from 'node:assert/strict';
import { generateKeyPairSync, sign as cryptoSign } from 'node:crypto';
import { test } from 'node:test';
import { verifySignature } from '../collector/verify';
import { generateKeyPair, sign, verifyWithNacl } from '../shared/signing';

const b64 = (u: Uint8Array) => Buffer.from(u).toString('base64');
const body = Buffer.from('{"messages":[{"kind":"heartbeat"}]}');

test('a tweetnacl signature verifies with node:crypto', () => {
  const keys = generateKeyPair();
  assert.equal(verifySignature(body, sign(body, keys.secretKey), b64(keys.publicKey)), true);
});

test('a node:crypto signature verifies with tweetnacl', () => {
  const { publicKey, privateKey } = generateKeyPairSync('ed25519');
  const raw = Buffer.from(publicKey.export({ format: 'jwk' }).x!, 'base64url');
  const signature = cryptoSign(null, body, privateKey).toString('base64');
  assert.equal(verifyWithNacl(body, signature, raw), true);
  assert.equal(verifySignature(body, signature, raw.toString('base64')), true);
});

test('node:crypto verification rejects what it must', () => {
  const keys = generateKeyPair();
  const good = sign(body, keys.secretKey);
  const flipped = Buffer.from(body);
  flipped[3] ^= 1;
  const cases = [
    { what: 'altered body', body: flipped, sig: good, key: b64(keys.publicKey) },
    { what: 'another key', body, sig: good, key: b64(generateKeyPair().publicKey) },
    { what: 'truncated signature', body, sig: good.slice(0, 40), key: b64(keys.publicKey) },
    { what: 'not base64', body, sig: '!'.repeat(86) + '==', key: b64(keys.publicKey) },
    { what: 'empty signature', body, sig: '', key: b64(keys.publicKey) },
  ];
  for (const c of cases) assert.equal(verifySignature(c.body, c.sig, c.key), false, c.what);
});
