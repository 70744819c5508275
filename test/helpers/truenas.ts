import { execFileSync } from 'node:child_process';
import { createHash, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { Socket } from 'node:net';
import { join } from 'node:path';
import { FrameReader } from '../../agent/truenas/api';
import type { TrueNasWorld } from '../fixtures/truenas/world';
import { tempDir } from './processes';

// The stand-in TrueNAS API: no TrueNAS can run here. HTTPS on 127.0.0.1 with a fresh self-signed
// certificate (as TrueNAS makes its own), answering from an in-memory world the test changes:
// - JSON-RPC 2.0 over a websocket at /api/current: auth.login_ex (mechanism API_KEY_PLAIN, the
//   key and its user, answering response_type SUCCESS or AUTH_ERR), then replication.query and
//   pool.snapshottask.query (an error before a login);
// - REST, while world.rest: GET /api/v2.0/replication and /api/v2.0/pool/snapshottask with
//   `Authorization: Bearer <key>` (401 otherwise); 404 once REST is gone (TrueNAS 26.04).
// Fields, states and the `{"$date": ms}` encoding as REFERENCE-INTEGRATIONS §7 documents them.

const WS_GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

export interface TrueNasApiServer {
  url: string;
  fingerprint: string;
  world: TrueNasWorld;
  /** Every request: REST `GET <path>` with its Authorization header, or a JSON-RPC method. */
  calls: { kind: 'rest' | 'rpc'; what: string; authorization?: string }[];
  stop(): Promise<void>;
}

/** An unmasked server frame (RFC 6455 §5.2). */
function serverFrame(opcode: number, payload: Buffer): Buffer {
  const len = payload.length;
  let head: Buffer;
  if (len < 126) head = Buffer.from([0x80 | opcode, len]);
  else if (len < 65_536) {
    head = Buffer.from([0x80 | opcode, 126, 0, 0]);
    head.writeUInt16BE(len, 2);
  } else {
    head = Buffer.alloc(10);
    head[0] = 0x80 | opcode;
    head[1] = 127;
    head.writeBigUInt64BE(BigInt(len), 2);
  }
  return Buffer.concat([head, payload]);
}

export async function startTrueNasApi(world: TrueNasWorld): Promise<TrueNasApiServer> {
  const dir = tempDir('lifeline-truenas-cert-');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '2', '-subj', '/CN=localhost', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem')], { stdio: 'ignore' });
  const cert = readFileSync(join(dir, 'cert.pem'));
  const key = readFileSync(join(dir, 'key.pem'));
  const calls: TrueNasApiServer['calls'] = [];
  const sockets = new Set<Socket>();

  const send = (res: import('node:http').ServerResponse, status: number, body: unknown) => {
    const text = JSON.stringify(body);
    res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
    res.end(text);
  };
  const server: Server = createServer({ cert, key }, (req, res) => {
    const path = new URL(req.url ?? '/', 'https://localhost').pathname;
    calls.push({ kind: 'rest', what: `${req.method} ${path}`, authorization: req.headers.authorization });
    if (!world.rest || !path.startsWith('/api/v2.0/')) return send(res, 404, { message: 'Not Found' });
    if (req.headers.authorization !== `Bearer ${world.apiKey}`) return send(res, 401, { message: 'Unauthorized' });
    if (path === '/api/v2.0/replication') return send(res, 200, world.replications);
    if (path === '/api/v2.0/pool/snapshottask') return send(res, 200, world.snapshotTasks);
    return send(res, 404, { message: 'Not Found' });
  });
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  server.on('upgrade', (req, socket: Socket) => {
    if (req.url !== '/api/current' || req.headers.upgrade?.toLowerCase() !== 'websocket') {
      socket.end('HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n');
      return;
    }
    const accept = createHash('sha1').update(`${req.headers['sec-websocket-key']}${WS_GUID}`).digest('base64');
    socket.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`);
    let authed = false;
    const reply = (msg: unknown) => socket.write(serverFrame(1, Buffer.from(JSON.stringify(msg))));
    const reader = new FrameReader({
      message(text) {
        const m = JSON.parse(text) as { id: number; method: string; params?: unknown[] };
        calls.push({ kind: 'rpc', what: m.method });
        const result = (r: unknown) => reply({ jsonrpc: '2.0', id: m.id, result: r });
        const error = (code: number, message: string) => reply({ jsonrpc: '2.0', id: m.id, error: { code, message } });
        if (m.method === 'auth.login_ex') {
          const p = (m.params?.[0] ?? {}) as { mechanism?: string; username?: string; api_key?: string };
          authed = p.mechanism === 'API_KEY_PLAIN' && p.username === world.user && p.api_key === world.apiKey;
          return result({ response_type: authed ? 'SUCCESS' : 'AUTH_ERR' });
        }
        if (!authed) return error(-32000, 'Not authenticated');
        if (m.method === 'replication.query') return result(world.replications);
        if (m.method === 'pool.snapshottask.query') return result(world.snapshotTasks);
        return error(-32601, 'Method does not exist');
      },
      ping: (data) => socket.write(serverFrame(10, data)),
      close: () => socket.end(serverFrame(8, Buffer.alloc(0))),
      error: () => socket.destroy(),
    });
    socket.on('data', (c: Buffer) => reader.push(c));
    socket.on('error', () => undefined);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  return {
    url: `https://127.0.0.1:${port}`,
    fingerprint: new X509Certificate(cert).fingerprint256,
    world,
    calls,
    stop: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
