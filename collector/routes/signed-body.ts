import type { FastifyInstance, FastifyRequest } from 'fastify';
import { AGENT_HEADER, SIGNATURE_HEADER } from '../../shared/protocol';
import { httpError } from '../errors';

/**
 * Makes every body in this scope arrive as the exact bytes received, whatever the content type,
 * because the signature covers those bytes and nothing may be parsed before it is checked.
 */
export function acceptRawBody(scope: FastifyInstance): void {
  scope.removeAllContentTypeParsers();
  scope.addContentTypeParser('*', { parseAs: 'buffer' }, (_req, body, done) => done(null, body));
}

export interface SignedRequest {
  agent: string;
  signature: string;
  body: Buffer;
}

/** The claimed agent, its signature and the raw body; 401 when a header is missing. */
export function signedRequest(req: FastifyRequest): SignedRequest {
  const agent = req.headers[AGENT_HEADER];
  const signature = req.headers[SIGNATURE_HEADER];
  if (typeof agent !== 'string' || agent === '') throw httpError('E_UNAUTHENTICATED', AGENT_HEADER);
  if (typeof signature !== 'string' || signature === '') throw httpError('E_UNAUTHENTICATED', SIGNATURE_HEADER);
  return { agent, signature, body: Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0) };
}

/** JSON.parse that answers 400 E_BAD_JSON instead of throwing a SyntaxError. */
export function parseJson(body: Buffer): unknown {
  try {
    return JSON.parse(body.toString('utf8'));
  } catch (err) {
    throw httpError('E_BAD_JSON', (err as Error).message);
  }
}
