import type { FastifyInstance, FastifyRequest } from 'fastify';
import { AGENT_HEADER, SIGNATURE_HEADER } from '../../shared/protocol';
import type { AgentKey } from '../agents';
import { httpError } from '../errors';
import type { RateLimiter } from '../rate-limit';
import { verifySignature } from '../verify';

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

/**
 * A signed request authenticated over the exact received bytes, before anything looks inside
 * them, then rate-limited per authenticated agent (so a forger cannot spend an agent's budget):
 * the agent and the raw body. 401 for an unknown agent or a bad signature, 429 over the limit.
 */
export function authenticated(req: FastifyRequest, findAgent: (name: string) => AgentKey | undefined, limiter: RateLimiter, now: number): { agent: AgentKey; body: Buffer } {
  const { agent: name, signature, body } = signedRequest(req);
  const agent = findAgent(name);
  if (!agent) throw httpError('E_UNKNOWN_AGENT', JSON.stringify(name));
  if (!verifySignature(body, signature, agent.publicKey)) throw httpError('E_BAD_SIGNATURE', JSON.stringify(name));
  const wait = limiter.take(agent.name, now);
  if (wait > 0) {
    const err = httpError('E_RATE_LIMITED', JSON.stringify(name), wait);
    err.headers['retry-after'] = String(wait);
    throw err;
  }
  return { agent, body };
}

/** JSON.parse that answers 400 E_BAD_JSON instead of throwing a SyntaxError. */
export function parseJson(body: Buffer): unknown {
  try {
    return JSON.parse(body.toString('utf8'));
  } catch (err) {
    throw httpError('E_BAD_JSON', (err as Error).message);
  }
}
