import { request } from 'node:http';
import { isIP } from 'node:net';
import { connect, type TLSSocket } from 'node:tls';
import type { PbsConfig } from '../config';

// PBS's REST API (https://localhost:8007/api2/json/…) with an API token, read-only. Answers are
// wrapped in `{ data: … }`. The header is `Authorization: PBSAPIToken=<tokenid>:<secret>`
// (REFERENCE-INTEGRATIONS §5). PBS's certificate is self-signed unless the operator set one up:
// with `pbs.fingerprint` the certificate's SHA-256 is compared before a byte of the request (and
// so the secret) is sent; without it the system CAs must vouch for it.

const MAX_BODY = 64 * 2 ** 20;

export class PbsApiError extends Error {
  constructor(
    message: string,
    readonly status: number | null,
  ) {
    super(message);
  }
}

export interface PbsApi {
  /** GET /api2/json<path>, the answer's `data`. */
  get<T = unknown>(path: string, query?: Readonly<Record<string, string | number>>): Promise<T>;
}

/** `AA:BB:…` upper case, as PBS shows it (`proxmox-backup-manager cert info`). */
export const normalizeFingerprint = (fp: string): string => fp.trim().toUpperCase();

/** A TLS connection to PBS, its certificate checked (pinned or by the CAs) before it is handed out. */
function connectTls(url: URL, pbs: Pick<PbsConfig, 'fingerprint' | 'timeoutMs'>): Promise<TLSSocket> {
  const host = url.hostname.replace(/^\[|\]$/g, '');
  const port = Number(url.port || 8007);
  const pinned = pbs.fingerprint ? normalizeFingerprint(pbs.fingerprint) : null;
  return new Promise((resolve, reject) => {
    const socket = connect({ host, port, servername: isIP(host) ? undefined : host, rejectUnauthorized: !pinned, ALPNProtocols: ['http/1.1'] });
    const timer = setTimeout(() => socket.destroy(new Error(`no TLS connection within ${Math.round(pbs.timeoutMs / 1000)}s (pbs.timeout)`)), pbs.timeoutMs);
    socket.once('secureConnect', () => {
      clearTimeout(timer);
      if (pinned) {
        const got = socket.getPeerCertificate()?.fingerprint256?.toUpperCase() ?? '(none)';
        if (got !== pinned) {
          socket.destroy();
          return reject(
            new PbsApiError(
              `PBS at ${url.origin} presented a certificate with SHA-256 fingerprint ${got}, not the pinned ${pinned} (pbs.fingerprint): nothing was sent. If PBS's certificate was renewed, read the new fingerprint with: proxmox-backup-manager cert info`,
              null,
            ),
          );
        }
      }
      resolve(socket);
    });
    socket.once('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      const tlsTrouble = /certificate|self[- ]signed|CERT|SSL/i.test(`${err.code ?? ''} ${err.message}`);
      const hint = tlsTrouble && !pinned ? '; PBS uses a self-signed certificate unless one was set up: pin it with pbs.fingerprint (proxmox-backup-manager cert info shows it)' : '';
      reject(new PbsApiError(`cannot connect to PBS at ${url.origin}: ${err.message}${hint}`, null));
    });
  });
}

export function pbsApi(pbs: Pick<PbsConfig, 'url' | 'tokenId' | 'tokenSecretFile' | 'fingerprint' | 'timeoutMs'>, secret: string): PbsApi {
  const base = new URL(pbs.url);
  return {
    async get<T>(path: string, query: Readonly<Record<string, string | number>> = {}): Promise<T> {
      const qs = new URLSearchParams(Object.entries(query).map(([k, v]) => [k, String(v)])).toString();
      const full = `/api2/json${path}${qs ? `?${qs}` : ''}`;
      const socket = await connectTls(base, pbs);
      const { status, text } = await new Promise<{ status: number; text: string }>((resolve, reject) => {
        const req = request(
          {
            host: base.hostname,
            port: base.port || 8007,
            method: 'GET',
            path: full,
            createConnection: () => socket,
            headers: { authorization: `PBSAPIToken=${pbs.tokenId}:${secret}`, accept: 'application/json', connection: 'close' },
            timeout: pbs.timeoutMs,
          },
          (res) => {
            const chunks: Buffer[] = [];
            let size = 0;
            res.on('data', (c: Buffer) => {
              size += c.length;
              if (size > MAX_BODY) req.destroy(new Error(`more than ${MAX_BODY / 2 ** 20} MiB in the answer`));
              else chunks.push(c);
            });
            res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
            res.on('error', reject);
          },
        );
        req.on('timeout', () => req.destroy(new Error(`no answer within ${Math.round(pbs.timeoutMs / 1000)}s (pbs.timeout)`)));
        req.on('error', (err) => reject(new PbsApiError(`GET ${path}: ${err.message}`, null)));
        req.end();
      });
      if (status === 401) {
        throw new PbsApiError(
          `PBS refused the API token ${pbs.tokenId} (401 on GET ${path}): check pbs.tokenId and the secret in ${pbs.tokenSecretFile} (its first line); the token needs Datastore.Audit on /datastore and Sys.Audit on /system/tasks (with privilege separation, given to the token itself)`,
          401,
        );
      }
      if (status === 403) {
        throw new PbsApiError(`PBS denied GET ${path} to the API token ${pbs.tokenId} (403: ${reason(text)}): give it Datastore.Audit on /datastore and Sys.Audit on /system/tasks`, 403);
      }
      if (status !== 200) throw new PbsApiError(`GET ${path}: PBS answered ${status}${reason(text) ? `: ${reason(text)}` : ''}`, status);
      try {
        return (JSON.parse(text) as { data: T }).data;
      } catch {
        throw new PbsApiError(`GET ${path}: the answer is not JSON: ${JSON.stringify(text.slice(0, 200))}`, status);
      }
    },
  };
}

/** The error text of a PBS answer (`{"data":null,"message":"…"}` or plain text), short. */
function reason(text: string): string {
  let msg = text;
  try {
    const body = JSON.parse(text) as { message?: unknown; errors?: unknown };
    if (typeof body.message === 'string') msg = body.message;
  } catch {
    /* plain text */
  }
  msg = msg.trim();
  return msg.length > 300 ? `${msg.slice(0, 300)}…` : msg;
}
