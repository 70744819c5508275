import type { FastifyInstance } from 'fastify';
import { promisify } from 'node:util';
import { gzip } from 'node:zlib';

const gzipAsync = promisify(gzip);
const COMPRESSIBLE = /^(text\/|application\/json)/;
const MIN_BYTES = 1024;

/**
 * gzip for what people and scrapers read (pages, JSON, metrics): the overview of a thousand
 * assets is ~200 KB as HTML and a tenth of that on the wire to a phone. Agents' reports are
 * small JSON answers and stay as they are (below MIN_BYTES).
 */
export function compressReads(app: FastifyInstance): void {
  app.addHook('onSend', async (req, reply, payload) => {
    if (req.method !== 'GET' || reply.hasHeader('content-encoding')) return payload;
    if (typeof payload !== 'string' && !Buffer.isBuffer(payload)) return payload;
    const type = String(reply.getHeader('content-type') ?? '');
    if (!COMPRESSIBLE.test(type) || Buffer.byteLength(payload) < MIN_BYTES) return payload;
    reply.header('vary', 'accept-encoding');
    if (!/\bgzip\b/.test(String(req.headers['accept-encoding'] ?? ''))) return payload;
    reply.header('content-encoding', 'gzip');
    reply.removeHeader('content-length');
    return gzipAsync(payload);
  });
}
