import { readFileSync } from 'node:fs';
import { Agent as HttpsAgent, type AgentOptions } from 'node:https';
import type { RequestOptions } from 'node:http';
import { isIP } from 'node:net';
import type { Duplex } from 'node:stream';
import { connect, type ConnectionOptions, type TLSSocket } from 'node:tls';

// How the agent trusts an https:// collector: a pinned SHA-256 fingerprint of its certificate
// (agent.collectorFingerprint, or the one given to `enroll --fingerprint`), a CA file
// (agent.collectorCa), or else the system CAs. In every case the certificate is checked before
// the connection is handed to the request, so not a byte of a request (a signed report, a log
// tail, an enrollment token) reaches a server that fails the check.

export interface CollectorTls {
  /** AA:BB:… (32 pairs); compared with the certificate's SHA-256, instead of any CA. */
  fingerprint?: string;
  /** PEM file of the CA (or the self-signed certificate itself) that must vouch for the collector. */
  caFile?: string;
}

/** Upper-case AA:BB:…, as `lifeline-collector tls fingerprint` and openssl print it. */
export const normalizeFingerprint = (fp: string): string => fp.trim().toUpperCase();

export const FINGERPRINT_RE = /^[0-9A-Fa-f]{2}(:[0-9A-Fa-f]{2}){31}$/;

export class CollectorCertificateError extends Error {}

/** Why the certificate a server presented is not the pinned one, or null when it is. */
export function pinMismatch(origin: string, got: string | undefined, pinned: string): string | null {
  const have = got ? normalizeFingerprint(got) : '(no certificate)';
  if (have === normalizeFingerprint(pinned)) return null;
  return (
    `the collector at ${origin} presented a certificate with SHA-256 fingerprint ${have}, not the pinned ${normalizeFingerprint(pinned)} ` +
    `(agent.collectorFingerprint): nothing was sent. If the collector's certificate was replaced, read the new fingerprint on the collector with: lifeline-collector tls fingerprint`
  );
}

/**
 * An https.Agent whose connections are established and checked before the request gets them
 * (http.Agent's documented createConnection(options, callback) form). Keep-alive sockets are
 * reused: each was checked once.
 */
class CheckedAgent extends HttpsAgent {
  constructor(
    private readonly tls: CollectorTls,
    private readonly ca: Buffer | undefined,
    options: AgentOptions,
  ) {
    super(options);
  }

  override createConnection(requestOptions: RequestOptions, cb?: (err: Error | null, stream: Duplex) => void): undefined {
    // http.Agent always passes the callback; its options are tls.connect's.
    const callback = cb as (err: Error | null, stream?: Duplex) => void;
    const options = requestOptions as ConnectionOptions & { timeout?: number };
    const pinned = this.tls.fingerprint;
    const host = String(options.host ?? 'localhost').replace(/^\[|\]$/g, '');
    const origin = `https://${host.includes(':') ? `[${host}]` : host}:${options.port ?? 443}`;
    const socket: TLSSocket = connect({
      ...options,
      host,
      servername: isIP(host) ? undefined : (options.servername ?? host),
      // A pin replaces the CAs and the host name check: it names the one certificate accepted.
      rejectUnauthorized: !pinned,
      ...(this.ca ? { ca: this.ca } : {}),
      ALPNProtocols: ['http/1.1'],
    });
    let done = false;
    const finish = (err: Error | null) => {
      if (done) return;
      done = true;
      socket.setTimeout(0);
      socket.off('error', onError);
      if (err) {
        socket.destroy();
        callback(err);
      } else callback(null, socket);
    };
    const onError = (err: NodeJS.ErrnoException) => {
      const certTrouble = /certificate|self[- ]signed|CERT|SSL|altnames/i.test(`${err.code ?? ''} ${err.message}`);
      const hint = certTrouble
        ? this.ca
          ? ` (checked against agent.collectorCa ${this.tls.caFile})`
          : '; a self-signed collector needs its fingerprint pinned: enroll --fingerprint FP (token create prints it) or agent.collectorFingerprint (on the collector: lifeline-collector tls fingerprint), or agent.collectorCa'
        : '';
      finish(certTrouble ? new CollectorCertificateError(`the collector at ${origin} failed the certificate check: ${err.message}${hint}; nothing was sent`) : err);
    };
    socket.on('error', onError);
    socket.setTimeout(options.timeout ?? 30_000, () => finish(new Error(`no TLS handshake with ${origin} within ${Math.round((options.timeout ?? 30_000) / 1000)} s`)));
    socket.once('secureConnect', () => {
      const why = pinned ? pinMismatch(origin, socket.getPeerCertificate()?.fingerprint256, pinned) : null;
      finish(why ? new CollectorCertificateError(why) : null);
    });
    return undefined;
  }
}

const agents = new Map<string, HttpsAgent>();

/** One keep-alive agent per trust setting (the daemon uses one; tests may use several). */
export function collectorHttpsAgent(tls: CollectorTls): HttpsAgent {
  const key = `${tls.fingerprint ?? ''}|${tls.caFile ?? ''}`;
  let agent = agents.get(key);
  if (!agent) {
    // Read once: a CA file that cannot be read is a failed request naming it, retried later.
    let ca: Buffer | undefined;
    if (tls.caFile && !tls.fingerprint) {
      try {
        ca = readFileSync(tls.caFile);
      } catch (err) {
        throw new CollectorCertificateError(`cannot read agent.collectorCa ${tls.caFile}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
      }
    }
    agent = new CheckedAgent(tls, ca, { keepAlive: true, maxSockets: 2 });
    agents.set(key, agent);
  }
  return agent;
}
