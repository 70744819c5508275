import type { FastifyPluginAsync } from 'fastify';
import { z } from 'zod';
import { nameSchema } from '../../shared/protocol';
import { decodePublicKey } from '../../shared/signing';
import { canonicalKey } from '../agents';
import type { AppContext } from '../context';
import { httpError, invalidField } from '../errors';
import { redeemToken } from '../tokens';
import { verifySignature } from '../verify';
import { acceptRawBody, parseJson, signedRequest } from './signed-body';

export const enrollBodySchema = z.object({
  token: z.string().min(1).max(256),
  name: nameSchema,
  publicKey: z.string().refine((s) => decodePublicKey(s) !== null, { message: 'expected the base64 of a 32-byte Ed25519 public key' }),
});

export type EnrollBody = z.infer<typeof enrollBodySchema>;

/**
 * POST /api/v1/enroll: pins an agent's public key with a one-time token. The body is signed
 * with the key being enrolled, proving the agent holds the matching secret key.
 */
export function enrollRoute(ctx: AppContext): FastifyPluginAsync {
  return async (scope) => {
    acceptRawBody(scope);
    scope.post('/api/v1/enroll', async (req): Promise<{ agent: string }> => {
      const { agent, signature, body } = signedRequest(req);
      // The key to verify with is inside the body, so here parsing has to come first.
      const parsed = enrollBodySchema.safeParse(parseJson(body));
      if (!parsed.success) {
        const issue = parsed.error.issues[0];
        throw invalidField(issue.path, issue.message);
      }
      const { token, name } = parsed.data;
      const publicKey = canonicalKey(parsed.data.publicKey);
      if (agent !== name) {
        const err = httpError('E_AGENT_MISMATCH', JSON.stringify(name), JSON.stringify(agent));
        err.path = 'name';
        throw err;
      }
      if (!verifySignature(body, signature, publicKey)) throw httpError('E_BAD_SIGNATURE', JSON.stringify(name));
      redeemToken(ctx.db, { token, name, publicKey }, ctx.now());
      return { agent: name };
    });
  };
}
