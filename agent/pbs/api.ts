import type { TLSSocket } from 'node:tls';
import { connectPinned, getOver } from '../pinned-https';
import type { PbsConfig } from '../config';

// PBS's REST API (https://localhost:8007/api2/json/…) with an API token, read-only. Answers are
// wrapped in `{ data: … }`. The header is `Authorization: PBSAPIToken=<tokenid>:<secret>`
// (REFERENCE-INTEGRATIONS §5). PBS's certificate is self-signed unless the operator set one up:
// with `pbs.fingerprint` the certificate's SHA-256 is compared before a byte of the request (and
// so the secret) is sent; without it the system CAs must vouch for it.

const PBS_TLS = { defaultPort: 8007, timeoutKey: 'pbs.timeout' };

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

/** A TLS connection to PBS, its certificate checked (pinned or by the CAs) before it is handed out. */
function connectTls(url: URL, pbs: Pick<PbsConfig, 'fingerprint' | 'timeoutMs'>): Promise<TLSSocket> {
  return connectPinned(url, {
    ...PBS_TLS,
    fingerprint: pbs.fingerprint ?? null,
    timeoutMs: pbs.timeoutMs,
    mismatch: (got, pinned) =>
      new PbsApiError(
        `PBS at ${url.origin} presented a certificate with SHA-256 fingerprint ${got}, not the pinned ${pinned} (pbs.fingerprint): nothing was sent. If PBS's certificate was renewed, read the new fingerprint with: proxmox-backup-manager cert info`,
        null,
      ),
    failed: (err, tlsTrouble) => {
      const hint = tlsTrouble ? '; PBS uses a self-signed certificate unless one was set up: pin it with pbs.fingerprint (proxmox-backup-manager cert info shows it)' : '';
      return new PbsApiError(`cannot connect to PBS at ${url.origin}: ${err.message}${hint}`, null);
    },
  });
}

export function pbsApi(pbs: Pick<PbsConfig, 'url' | 'tokenId' | 'tokenSecretFile' | 'fingerprint' | 'timeoutMs'>, secret: string): PbsApi {
  const base = new URL(pbs.url);
  return {
    async get<T>(path: string, query: Readonly<Record<string, string | number>> = {}): Promise<T> {
      const qs = new URLSearchParams(Object.entries(query).map(([k, v]) => [k, String(v)])).toString();
      const full = `/api2/json${path}${qs ? `?${qs}` : ''}`;
      const socket = await connectTls(base, pbs);
      const { status, text } = await getOver(socket, base, {
        ...PBS_TLS,
        timeoutMs: pbs.timeoutMs,
        path: full,
        headers: { authorization: `PBSAPIToken=${pbs.tokenId}:${secret}` },
        failed: (err) => new PbsApiError(`GET ${path}: ${err.message}`, null),
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
