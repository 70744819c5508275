import { Agent as HttpAgent, request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { collectorHttpsAgent, type CollectorTls } from './collector-tls';

// node:http rather than global fetch: fetch loads undici and compiles its WebAssembly HTTP
// parser, which costs the agent ~12 MB of resident memory for a few requests a minute.
const httpAgent = new HttpAgent({ keepAlive: true, maxSockets: 2 });

export interface PostAnswer {
  status: number;
  text: string;
  retryAfter: string | null;
  /** The answer's `Date` header, for the clock offset (agent/clock.ts). */
  date: string | null;
}

/** POSTs bytes and reads the whole (small) answer; rejects on network errors, timeout or abort. */
export function postBytes(
  url: string,
  body: Uint8Array,
  headers: Record<string, string>,
  opts: { timeoutMs: number; signal?: AbortSignal; /** How an https:// collector's certificate is checked (default: the system CAs). */ tls?: CollectorTls },
): Promise<PostAnswer> {
  const target = new URL(url);
  const isHttps = target.protocol === 'https:';
  return new Promise((resolve, reject) => {
    const req = (isHttps ? httpsRequest : httpRequest)(
      target,
      {
        method: 'POST',
        // With HTTPS the agent hands out a connection only once the certificate passed (pin or CA).
        agent: isHttps ? collectorHttpsAgent(opts.tls ?? {}) : httpAgent,
        headers: { ...headers, 'content-length': String(body.byteLength) },
        timeout: opts.timeoutMs,
        signal: opts.signal,
      },
      (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (c: Buffer) => {
          // Answers are small JSON; never hold more than 64 KiB of whatever comes back.
          if (size < 65_536) chunks.push(c);
          size += c.length;
        });
        res.on('end', () => {
          const retryAfter = res.headers['retry-after'];
          const date = res.headers.date;
          resolve({
            status: res.statusCode ?? 0,
            text: Buffer.concat(chunks).toString('utf8'),
            retryAfter: typeof retryAfter === 'string' ? retryAfter : null,
            date: typeof date === 'string' ? date : null,
          });
        });
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`no answer within ${opts.timeoutMs} ms`)));
    req.on('error', reject);
    req.end(body);
  });
}
