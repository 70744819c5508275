import assert from 'node:assert/strict';
import { test } from 'node:test';
import { gunzipSync } from 'node:zlib';
import Fastify from 'fastify';
import { compressReads } from '../collector/compress';

const BIG = 'lifeline '.repeat(400);

async function app() {
  const a = Fastify();
  await compressReads(a);
  a.get('/page', async (_req, reply) => reply.type('text/html; charset=utf-8').send(BIG));
  a.get('/tiny', async (_req, reply) => reply.type('text/plain').send('ok'));
  a.get('/png', async (_req, reply) => reply.type('image/png').send(Buffer.alloc(4096)));
  return a;
}

// What each Accept-Encoding asks for (RFC 9110 §12.5.3): q=0 means "not acceptable".
const cases: Array<{ accept: string | undefined; gzip: boolean }> = [
  { accept: undefined, gzip: false },
  { accept: 'gzip', gzip: true },
  { accept: 'gzip, deflate, br', gzip: true },
  { accept: 'GZIP', gzip: true },
  { accept: 'gzip;q=0', gzip: false },
  { accept: 'gzip; q=0.0, identity', gzip: false },
  { accept: 'identity', gzip: false },
  { accept: 'x-gzip-not, deflate', gzip: false },
  { accept: '*', gzip: true },
];

for (const { accept, gzip } of cases) {
  test(`Accept-Encoding ${JSON.stringify(accept)} → ${gzip ? 'gzip' : 'identity'}`, async () => {
    const a = await app();
    const res = await a.inject({ method: 'GET', url: '/page', headers: accept === undefined ? {} : { 'accept-encoding': accept } });
    assert.equal(res.statusCode, 200);
    assert.equal(res.headers['content-encoding'], gzip ? 'gzip' : undefined);
    // A cache in front must not hand the gzipped copy to a client that refused it.
    if (gzip) assert.match(String(res.headers.vary), /accept-encoding/i);
    assert.equal(gzip ? gunzipSync(res.rawPayload).toString() : res.body, BIG);
  });
}

test('small answers (agents\' report answers among them) and images go out as they are', async () => {
  const a = await app();
  for (const [method, url] of [['GET', '/tiny'], ['GET', '/png']] as const) {
    const res = await a.inject({ method, url, headers: { 'accept-encoding': 'gzip' } });
    assert.equal(res.headers['content-encoding'], undefined, `${method} ${url}`);
  }
});
