import { request } from 'node:http';
import { isIP } from 'node:net';
import { connect, type TLSSocket } from 'node:tls';
import { normalizeFingerprint } from './collector-tls';

// HTTPS to an appliance's API (PBS, TrueNAS) whose certificate is often self-signed: with a
// pinned SHA-256 fingerprint it is compared before a byte of the request (and so the secret) is
// sent; without one the system CAs must vouch for it. Each caller words its own errors.

/** The largest answer read: past it the request is cut off. */
export const MAX_ANSWER_BYTES = 64 * 2 ** 20;

export interface PinnedTls {
  /** `AA:BB:…`, any case; null: the system CAs. */
  fingerprint: string | null;
  timeoutMs: number;
  defaultPort: number;
  /** The config key of the timeout, named when it passes (`pbs.timeout`). */
  timeoutKey: string;
  /** The certificate is not the pinned one: nothing was sent. */
  mismatch: (got: string, pinned: string) => Error;
  /** The connection failed (`tlsTrouble`: a certificate problem without a pin). */
  failed: (err: NodeJS.ErrnoException, tlsTrouble: boolean) => Error;
}

/** A TLS connection, its certificate checked (pinned or by the CAs) before it is handed out. */
export function connectPinned(url: URL, o: PinnedTls): Promise<TLSSocket> {
  const host = url.hostname.replace(/^\[|\]$/g, '');
  const pinned = o.fingerprint ? normalizeFingerprint(o.fingerprint) : null;
  return new Promise((resolve, reject) => {
    const socket = connect({ host, port: Number(url.port || o.defaultPort), servername: isIP(host) ? undefined : host, rejectUnauthorized: !pinned, ALPNProtocols: ['http/1.1'] });
    const timer = setTimeout(() => socket.destroy(new Error(`no TLS connection within ${Math.round(o.timeoutMs / 1000)}s (${o.timeoutKey})`)), o.timeoutMs);
    socket.once('secureConnect', () => {
      clearTimeout(timer);
      const got = socket.getPeerCertificate()?.fingerprint256?.toUpperCase() ?? '(none)';
      if (pinned && got !== pinned) {
        socket.destroy();
        return reject(o.mismatch(got, pinned));
      }
      resolve(socket);
    });
    socket.once('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      reject(o.failed(err, !pinned && /certificate|self[- ]signed|CERT|SSL/i.test(`${err.code ?? ''} ${err.message}`)));
    });
  });
}

/** GET over a connected socket: the status and the answer as text (at most MAX_ANSWER_BYTES). */
export function getOver(
  socket: TLSSocket,
  url: URL,
  o: Pick<PinnedTls, 'timeoutMs' | 'timeoutKey' | 'defaultPort'> & { path: string; headers: Record<string, string>; failed: (err: Error) => Error },
): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      { host: url.hostname, port: url.port || o.defaultPort, method: 'GET', path: o.path, createConnection: () => socket, timeout: o.timeoutMs, headers: { ...o.headers, accept: 'application/json', connection: 'close' } },
      (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (c: Buffer) => {
          size += c.length;
          if (size > MAX_ANSWER_BYTES) req.destroy(new Error(`more than ${MAX_ANSWER_BYTES / 2 ** 20} MiB in the answer`));
          else chunks.push(c);
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`no answer within ${Math.round(o.timeoutMs / 1000)}s (${o.timeoutKey})`)));
    req.on('error', (err) => reject(o.failed(err)));
    req.end();
  });
}
