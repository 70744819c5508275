import { createHash, randomBytes } from 'node:crypto';
import { request, type IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import type { TrueNasConfig } from '../config';
import { MAX_ANSWER_BYTES, connectPinned, getOver } from '../pinned-https';
import type { TrueNasInventory, TrueNasReplication, TrueNasSnapshotTask } from './types';

// TrueNAS's API, read-only (REFERENCE-INTEGRATIONS §7 "TrueNAS replication state"):
// - websocket: JSON-RPC 2.0 at wss://host/api/current — `auth.login_ex` with mechanism
//   API_KEY_PLAIN (login_with_api_key is removed in v27), then `replication.query` and
//   `pool.snapshottask.query`;
// - rest (TrueNAS before 26.04, which removed it): GET /api/v2.0/replication and
//   /api/v2.0/pool/snapshottask with `Authorization: Bearer <key>`.
// With `truenas.fingerprint` the certificate's SHA-256 is compared before a byte (and so the
// key) is sent; without it the system CAs must vouch for it. The key never reaches a message.

const TRUENAS_TLS = { defaultPort: 443, timeoutKey: 'truenas.timeout' };
const WS_GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

type Conf = Pick<TrueNasConfig, 'url' | 'api' | 'user' | 'fingerprint' | 'timeoutMs'>;

export class TrueNasApiError extends Error {}

function connectTls(url: URL, conf: Conf): Promise<TLSSocket> {
  return connectPinned(url, {
    ...TRUENAS_TLS,
    fingerprint: conf.fingerprint ?? null,
    timeoutMs: conf.timeoutMs,
    mismatch: (got, pinned) => new TrueNasApiError(`TrueNAS at ${url.origin} presented a certificate with SHA-256 fingerprint ${got}, not the pinned ${pinned} (truenas.fingerprint): nothing was sent`),
    failed: (err, tlsTrouble) => new TrueNasApiError(`cannot connect to TrueNAS at ${url.origin}: ${err.message}${tlsTrouble ? '; pin its certificate with truenas.fingerprint' : ''}`),
  });
}

/** The key as errors may quote the server: never. */
const scrub = (text: string, key: string) => (key ? text.split(key).join('***') : text);

async function restGet<T>(conf: Conf, key: string, path: string): Promise<T> {
  const base = new URL(conf.url);
  const socket = await connectTls(base, conf);
  const { status, text } = await getOver(socket, base, {
    ...TRUENAS_TLS,
    timeoutMs: conf.timeoutMs,
    path: `/api/v2.0${path}`,
    headers: { authorization: `Bearer ${key}` },
    failed: (err) => new TrueNasApiError(`GET /api/v2.0${path}: ${err.message}`),
  });
  if (status === 401 || status === 403) throw new TrueNasApiError(`GET /api/v2.0${path}: HTTP ${status}: TrueNAS refused the API key (truenas.apiKeyFile)`);
  if (status === 404) throw new TrueNasApiError(`GET /api/v2.0${path}: HTTP 404: this TrueNAS has no REST API (removed in 26.04): use truenas.api: websocket`);
  if (status !== 200) throw new TrueNasApiError(`GET /api/v2.0${path}: HTTP ${status}: ${scrub(text, key).slice(0, 300)}`);
  try {
    return JSON.parse(text) as T;
  } catch {
    throw new TrueNasApiError(`GET /api/v2.0${path}: the answer is not JSON`);
  }
}

/** One masked client frame (RFC 6455 §5.2): FIN, the opcode, the length, the mask, the payload. */
export function clientFrame(opcode: number, payload: Buffer): Buffer {
  const mask = randomBytes(4);
  const len = payload.length;
  const head = len < 126 ? Buffer.from([0x80 | opcode, 0x80 | len]) : len < 65_536 ? Buffer.alloc(4) : Buffer.alloc(10);
  if (len >= 126 && len < 65_536) {
    head[0] = 0x80 | opcode;
    head[1] = 0x80 | 126;
    head.writeUInt16BE(len, 2);
  } else if (len >= 65_536) {
    head[0] = 0x80 | opcode;
    head[1] = 0x80 | 127;
    head.writeBigUInt64BE(BigInt(len), 2);
  }
  const body = Buffer.from(payload);
  for (let i = 0; i < body.length; i++) body[i] ^= mask[i % 4];
  return Buffer.concat([head, mask, body]);
}

/** Reads whole frames off a byte stream; messages (text, joined across continuations) to onMessage. */
export class FrameReader {
  private buf = Buffer.alloc(0);
  private parts: Buffer[] = [];
  private size = 0;
  constructor(private readonly on: { message(text: string): void; ping(data: Buffer): void; close(): void; error(err: Error): void }) {}

  push(chunk: Buffer): void {
    this.buf = Buffer.concat([this.buf, chunk]);
    for (;;) {
      if (this.buf.length < 2) return;
      const fin = (this.buf[0] & 0x80) !== 0;
      const opcode = this.buf[0] & 0x0f;
      const masked = (this.buf[1] & 0x80) !== 0;
      let len = this.buf[1] & 0x7f;
      let at = 2;
      if (len === 126) {
        if (this.buf.length < 4) return;
        len = this.buf.readUInt16BE(2);
        at = 4;
      } else if (len === 127) {
        if (this.buf.length < 10) return;
        const big = this.buf.readBigUInt64BE(2);
        if (big > BigInt(MAX_ANSWER_BYTES)) return this.on.error(new Error(`a websocket frame of ${big} bytes`));
        len = Number(big);
        at = 10;
      }
      const maskAt = at;
      if (masked) at += 4;
      if (this.buf.length < at + len) return;
      const payload = Buffer.from(this.buf.subarray(at, at + len));
      if (masked) for (let i = 0; i < payload.length; i++) payload[i] ^= this.buf[maskAt + (i % 4)];
      this.buf = this.buf.subarray(at + len);
      if (opcode === 8) return this.on.close();
      if (opcode === 9) this.on.ping(payload);
      else if (opcode === 1 || opcode === 2 || opcode === 0) {
        this.size += payload.length;
        if (this.size > MAX_ANSWER_BYTES) return this.on.error(new Error(`more than ${MAX_ANSWER_BYTES / 2 ** 20} MiB in one message`));
        this.parts.push(payload);
        if (fin) {
          const text = Buffer.concat(this.parts).toString('utf8');
          this.parts = [];
          this.size = 0;
          this.on.message(text);
        }
      }
    }
  }
}

interface RpcClient {
  call<T>(method: string, params?: unknown[]): Promise<T>;
  close(): void;
}

/** A JSON-RPC 2.0 session over a websocket to wss://host/api/current. */
async function rpcSession(conf: Conf): Promise<RpcClient> {
  const base = new URL(conf.url);
  const socket = await connectTls(base, conf);
  const wsKey = randomBytes(16).toString('base64');
  const { ws, head } = await new Promise<{ ws: Socket; head: Buffer }>((resolve, reject) => {
    const req = request({
      host: base.hostname,
      port: base.port || 443,
      method: 'GET',
      path: '/api/current',
      createConnection: () => socket,
      timeout: conf.timeoutMs,
      headers: { connection: 'Upgrade', upgrade: 'websocket', 'sec-websocket-version': '13', 'sec-websocket-key': wsKey },
    });
    req.on('upgrade', (res: IncomingMessage, s: Socket, h: Buffer) => {
      const want = createHash('sha1').update(wsKey + WS_GUID).digest('base64');
      if (res.headers['sec-websocket-accept'] !== want) {
        s.destroy();
        return reject(new TrueNasApiError('GET /api/current: the server answered the websocket upgrade with a wrong Sec-WebSocket-Accept'));
      }
      resolve({ ws: s, head: h });
    });
    req.on('response', (res) => {
      res.resume();
      reject(new TrueNasApiError(`GET /api/current: HTTP ${res.statusCode} instead of a websocket: ${res.statusCode === 404 ? 'this TrueNAS predates the versioned JSON-RPC API: use truenas.api: rest' : 'is truenas.url the web interface?'}`));
    });
    req.on('timeout', () => req.destroy(new Error(`no answer within ${Math.round(conf.timeoutMs / 1000)}s (truenas.timeout)`)));
    req.on('error', (err) => reject(new TrueNasApiError(`GET /api/current: ${err.message}`)));
    req.end();
  });
  let nextId = 1;
  const pending = new Map<number, { resolve(v: unknown): void; reject(e: Error): void }>();
  const failAll = (err: Error) => {
    for (const p of pending.values()) p.reject(err);
    pending.clear();
  };
  const reader = new FrameReader({
    message(text) {
      let msg: { id?: unknown; result?: unknown; error?: { code?: number; message?: string; data?: { reason?: string } } };
      try {
        msg = JSON.parse(text);
      } catch {
        return;
      }
      const p = typeof msg.id === 'number' ? pending.get(msg.id) : undefined;
      if (!p) return; // notifications (collection_update…) are not asked for
      pending.delete(msg.id as number);
      if (msg.error) p.reject(new TrueNasApiError(msg.error.data?.reason ?? msg.error.message ?? `error ${msg.error.code}`));
      else p.resolve(msg.result);
    },
    ping: (data) => ws.write(clientFrame(10, data)),
    close: () => {
      failAll(new TrueNasApiError('TrueNAS closed the websocket'));
      ws.end();
    },
    error: (err) => {
      failAll(new TrueNasApiError(err.message));
      ws.destroy();
    },
  });
  ws.on('data', (c: Buffer) => reader.push(c));
  ws.on('error', (err) => failAll(new TrueNasApiError(`websocket: ${err.message}`)));
  ws.on('close', () => failAll(new TrueNasApiError('the websocket closed')));
  if (head.length) reader.push(head);
  return {
    call<T>(method: string, params: unknown[] = []): Promise<T> {
      const id = nextId++;
      return new Promise<T>((resolve, reject) => {
        const timer = setTimeout(() => {
          pending.delete(id);
          reject(new TrueNasApiError(`${method}: no answer within ${Math.round(conf.timeoutMs / 1000)}s (truenas.timeout)`));
        }, conf.timeoutMs);
        pending.set(id, {
          resolve: (v) => {
            clearTimeout(timer);
            resolve(v as T);
          },
          reject: (e) => {
            clearTimeout(timer);
            reject(e);
          },
        });
        ws.write(clientFrame(1, Buffer.from(JSON.stringify({ jsonrpc: '2.0', id, method, params }))));
      });
    },
    close() {
      ws.end(clientFrame(8, Buffer.from([0x03, 0xe8])));
      ws.destroy();
    },
  };
}

const asList = <T>(v: unknown, what: string): T[] => {
  if (!Array.isArray(v)) throw new TrueNasApiError(`${what}: expected a list of tasks`);
  return v.filter((x) => typeof x === 'object' && x !== null && typeof (x as { id?: unknown }).id === 'number') as T[];
};

/** The replication and periodic snapshot tasks with their state, through the configured API. */
export async function readTrueNas(conf: Conf, key: string): Promise<TrueNasInventory> {
  if (conf.api === 'rest') {
    // One after the other: a refused key or a missing API is one error, with no request left behind.
    const replications = await restGet<unknown>(conf, key, '/replication');
    const snapshotTasks = await restGet<unknown>(conf, key, '/pool/snapshottask');
    return { replications: asList<TrueNasReplication>(replications, 'replication'), snapshotTasks: asList<TrueNasSnapshotTask>(snapshotTasks, 'pool/snapshottask') };
  }
  const rpc = await rpcSession(conf);
  try {
    const login = await rpc.call<{ response_type?: string }>('auth.login_ex', [{ mechanism: 'API_KEY_PLAIN', username: conf.user, api_key: key }]);
    if (login?.response_type !== 'SUCCESS') throw new TrueNasApiError(`auth.login_ex: ${login?.response_type ?? 'no answer'}: TrueNAS refused the API key of user ${conf.user} (truenas.apiKeyFile, truenas.user)`);
    const replications = asList<TrueNasReplication>(await rpc.call('replication.query'), 'replication.query');
    const snapshotTasks = asList<TrueNasSnapshotTask>(await rpc.call('pool.snapshottask.query'), 'pool.snapshottask.query');
    return { replications, snapshotTasks };
  } finally {
    rpc.close();
  }
}
