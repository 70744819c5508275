import type { Db } from './db';
import { decodePublicKey } from '../shared/signing';

export interface AgentKey {
  id: number;
  name: string;
  publicKey: string;
}

/** Canonical base64 of a key already validated by the config schema or the enroll route. */
export function canonicalKey(b64: string): string {
  const raw = decodePublicKey(b64);
  if (!raw) throw new Error('not a 32-byte Ed25519 public key');
  return Buffer.from(raw).toString('base64');
}

/**
 * Makes the agents table agree with collector.yaml: listed agents get source 'config' and the
 * configured key (the operator's file wins over an earlier enrollment); agents that were listed
 * and no longer are become 'removed', so their key stops working but their history stays.
 */
export function syncConfigAgents(db: Db, agents: readonly { name: string; publicKey: string }[], now: number): void {
  const upsert = db.prepare(
    `INSERT INTO agents (name, public_key, source, created_at) VALUES (?, ?, 'config', ?)
     ON CONFLICT (name) DO UPDATE SET public_key = excluded.public_key, source = 'config'`,
  );
  const unlist = db.prepare(`UPDATE agents SET source = 'removed' WHERE source = 'config' AND name NOT IN (SELECT value FROM json_each(?))`);
  db.transaction(() => {
    for (const a of agents) upsert.run(a.name, canonicalKey(a.publicKey), now);
    unlist.run(JSON.stringify(agents.map((a) => a.name)));
  })();
}

/** Looks up an agent whose key is currently accepted (from config or enrolled). */
export function agentFinder(db: Db): (name: string) => AgentKey | undefined {
  const find = db.prepare<[string], AgentKey>(
    `SELECT id, name, public_key AS publicKey FROM agents WHERE name = ? AND source IN ('config', 'enrolled')`,
  );
  return (name) => find.get(name);
}

export interface AgentRow {
  name: string;
  source: string;
  lastSeen: number | null;
  version: string | null;
  hostname: string | null;
  jobs: number;
}

export function listAgents(db: Db): AgentRow[] {
  return db
    .prepare<[], AgentRow>(
      `SELECT a.name, a.source, a.last_seen AS lastSeen, a.version, a.hostname,
              (SELECT count(*) FROM jobs j WHERE j.agent_id = a.id AND j.active = 1) AS jobs
       FROM agents a ORDER BY a.name`,
    )
    .all();
}
