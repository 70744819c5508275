import fastifyCompress from '@fastify/compress';
import type { FastifyInstance } from 'fastify';

/**
 * gzip for what people and scrapers read (pages, JSON, metrics): the overview of a thousand
 * assets is ~200 KB as HTML and a tenth of that on the wire to a phone. Agents' reports get small
 * JSON answers (below the threshold) and stay as they are. @fastify/compress reads
 * Accept-Encoding as RFC 9110 says (q=0 refuses, `*` accepts); the hand-written test it replaces
 * took `gzip;q=0` for a yes. Only gzip: every client speaks it, and brotli costs more CPU on a
 * small box for little gain on pages this size. Request bodies are not decompressed: agents sign
 * the bytes they send, and nothing sends compressed bodies.
 */
export function compressReads(app: FastifyInstance): Promise<void> {
  return app.register(fastifyCompress, {
    encodings: ['gzip'],
    threshold: 1024,
    customTypes: /^(text\/|application\/json)/,
    globalDecompression: false,
  }) as unknown as Promise<void>;
}
