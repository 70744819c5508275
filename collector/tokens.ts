import { createHash, randomBytes } from 'node:crypto';
import type { Db } from './db';
import { httpError } from './errors';

export const TOKEN_PREFIX = 'llt_';

/** Only this hash is stored, so a leaked database cannot be used to enroll an agent. */
export function hashToken(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

/** Creates a single-use enrollment token for agent `name`, valid for ttlMs. */
export function createToken(db: Db, name: string, ttlMs: number, now: number): { token: string; expiresAt: number } {
  const token = TOKEN_PREFIX + randomBytes(32).toString('base64url');
  const expiresAt = now + ttlMs;
  db.prepare(`INSERT INTO enroll_tokens (token_hash, name, created_at, expires_at) VALUES (?, ?, ?, ?)`).run(hashToken(token), name, now, expiresAt);
  return { token, expiresAt };
}

interface TokenRow {
  id: number;
  name: string;
  expiresAt: number;
  usedAt: number | null;
}

interface ExistingAgent {
  publicKey: string;
  source: string;
}

/**
 * Redeems a token for (name, publicKey) in one transaction: the token is marked used and the
 * agent's key pinned together, or neither. Throws HttpError (401 token, 400 name, 409 key).
 */
export function redeemToken(db: Db, req: { token: string; name: string; publicKey: string }, now: number): void {
  db.transaction(() => {
    const row = db
      .prepare<[string], TokenRow>(`SELECT id, name, expires_at AS expiresAt, used_at AS usedAt FROM enroll_tokens WHERE token_hash = ?`)
      .get(hashToken(req.token));
    if (!row) throw httpError('E_TOKEN_UNKNOWN');
    if (row.usedAt !== null) throw httpError('E_TOKEN_USED', new Date(row.usedAt).toISOString());
    if (row.expiresAt <= now) throw httpError('E_TOKEN_EXPIRED', new Date(row.expiresAt).toISOString(), row.name);
    if (row.name !== req.name) throw httpError('E_TOKEN_NAME', JSON.stringify(row.name), JSON.stringify(req.name));
    const agent = db.prepare<[string], ExistingAgent>(`SELECT public_key AS publicKey, source FROM agents WHERE name = ?`).get(req.name);
    // A 'removed' agent was taken out of the config by the operator, who now issued a token for it.
    if (agent && agent.source !== 'removed' && agent.publicKey !== req.publicKey) throw httpError('E_KEY_CONFLICT', JSON.stringify(req.name));
    // Compare-and-set, so a token can never be redeemed twice even by two collector processes.
    if (db.prepare(`UPDATE enroll_tokens SET used_at = ? WHERE id = ? AND used_at IS NULL`).run(now, row.id).changes !== 1) {
      throw httpError('E_TOKEN_USED', new Date(now).toISOString());
    }
    if (!agent) {
      db.prepare(`INSERT INTO agents (name, public_key, source, created_at) VALUES (?, ?, 'enrolled', ?)`).run(req.name, req.publicKey, now);
    } else if (agent.source === 'removed') {
      db.prepare(`UPDATE agents SET public_key = ?, source = 'enrolled' WHERE name = ?`).run(req.publicKey, req.name);
    }
  }).immediate();
}
