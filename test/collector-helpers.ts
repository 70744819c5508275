import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../collector/app';
import { collectorConfig } from '../collector/config';
import { openDb, type Db } from '../collector/db';
import { MIGRATIONS } from '../collector/migrations';
import { AGENT_HEADER, SIGNATURE_HEADER, type CatalogJob, type Message, type Unsequenced } from '../shared/protocol';
import { generateKeyPair, sign, type KeyPair } from '../shared/signing';
import { tempDir as tempDirWith } from './helpers/temp';

// Builders for collector tests: real SQLite files in temp dirs, messages valid against
// shared/protocol.ts, bodies signed with tweetnacl exactly like the agent does.

/** A fresh temp dir, removed when the test process exits. */
export const tempDir = (): string => tempDirWith('lifeline-collector-test-');

export function tempDb(): { db: Db; file: string } {
  const file = join(tempDir(), 'state', 'lifeline.db');
  return { db: openDb(file), file };
}

/** An in-memory database brought to schema `version` only, with agent 1 'pve1': to test a later migration on it. */
export function databaseAt(version: number): Database.Database {
  const db = new Database(':memory:');
  for (const m of MIGRATIONS.slice(0, version)) typeof m === 'string' ? db.exec(m) : m(db);
  db.pragma(`user_version = ${version}`);
  db.prepare(`INSERT INTO agents (id, name, public_key, source, created_at) VALUES (1, 'pve1', 'k', 'config', 0)`).run();
  return db;
}

export class TestAgent {
  readonly keys: KeyPair = generateKeyPair();
  seq = 0;
  constructor(readonly name = 'pve1') {}

  get publicKey(): string {
    return Buffer.from(this.keys.publicKey).toString('base64');
  }

  /** Gives a message its agent, next seq and send time, like the agent's spool does. */
  msg(m: Unsequenced, at = new Date()): Message {
    return { ...m, agent: this.name, seq: ++this.seq, sentAt: at.toISOString() } as Message;
  }

  /** An inject() request for POST /api/v1/reports with the body signed by this agent. */
  report(body: unknown, opts: { name?: string; keys?: KeyPair } = {}) {
    return signed('/api/v1/reports', body, opts.name ?? this.name, opts.keys ?? this.keys);
  }

  enroll(token: string, opts: { name?: string; keys?: KeyPair; publicKey?: string } = {}) {
    const name = opts.name ?? this.name;
    const body = { token, name, publicKey: opts.publicKey ?? this.publicKey };
    return signed('/api/v1/enroll', body, name, opts.keys ?? this.keys);
  }
}

export function signed(url: string, body: unknown, agent: string, keys: KeyPair) {
  const payload = Buffer.isBuffer(body) ? body : Buffer.from(typeof body === 'string' ? body : JSON.stringify(body));
  return {
    method: 'POST' as const,
    url,
    payload,
    headers: { 'content-type': 'application/json', [AGENT_HEADER]: agent, [SIGNATURE_HEADER]: sign(payload, keys.secretKey) },
  };
}

export function catalogJob(name: string, over: Partial<CatalogJob> = {}): CatalogJob {
  return {
    name,
    asset: `${name}-asset`,
    tier: 1,
    driver: 'command',
    target: { name: 'usb-ssd', location: 'onsite', media: 'usb' },
    schedule: '0 2 * * *',
    timeoutMs: 3_600_000,
    retention: { daily: 30 },
    ...over,
  };
}

export const hello = (jobs: CatalogJob[]): Unsequenced => ({
  kind: 'hello',
  version: '0.1.0',
  protocol: 1,
  hostname: 'pve1.lan',
  timezone: 'Europe/Berlin',
  heartbeatMs: 60_000,
  jobs,
});

export const heartbeat = (pending = 0, dropped = 0): Unsequenced => ({ kind: 'heartbeat', uptimeMs: 1000, spool: { pending, dropped } });

export const runStart = (job: string, runId = randomUUID(), startedAt = new Date()): Unsequenced => ({
  kind: 'run-start',
  runId,
  job,
  operation: 'backup',
  trigger: 'schedule',
  startedAt: startedAt.toISOString(),
});

export const run = (job: string, runId: string, over: Record<string, unknown> = {}): Unsequenced =>
  ({
    kind: 'run',
    runId,
    job,
    operation: 'backup',
    trigger: 'schedule',
    startedAt: '2025-01-01T02:00:00.000Z',
    finishedAt: '2025-01-01T02:05:00.000Z',
    status: 'success',
    exitCode: 0,
    durationMs: 300_000,
    bytesAdded: 1024,
    bytesTotal: 4096,
    logTail: 'done\n',
    ...over,
  }) as Unsequenced;

export interface TestCollector {
  app: FastifyInstance;
  db: Db;
  file: string;
  clock: { now: number };
}

/** A collector app over a fresh database; agents listed in its config; a clock tests can move. */
export function testCollector(agents: TestAgent[], config: Record<string, unknown> = {}): TestCollector {
  const { db, file } = tempDb();
  const clock = { now: Date.parse('2025-01-01T03:00:00Z') };
  const cfg = collectorConfig({ database: file, agents: agents.map((a) => ({ name: a.name, publicKey: a.publicKey })), ...config });
  const app = buildApp({ config: cfg, db, now: () => clock.now });
  return { app, db, file, clock };
}

export const count = (db: Db, table: string) => (db.prepare(`SELECT count(*) AS n FROM ${table}`).get() as { n: number }).n;
