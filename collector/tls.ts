import { spawnSync } from 'node:child_process';
import { X509Certificate, createPrivateKey, type KeyObject } from 'node:crypto';
import { chmodSync, chownSync, mkdirSync, readFileSync, renameSync, rmSync, statSync } from 'node:fs';
import { hostname } from 'node:os';
import { dirname, join } from 'node:path';
import { isIP } from 'node:net';

// The collector's own HTTPS (`tls: { certFile, keyFile }`). A certificate from the operator's CA
// or ACME is used as is; `lifeline-collector tls generate` makes a self-signed one, as Proxmox
// Backup Server does at install, whose SHA-256 fingerprint agents pin (agent.collectorFingerprint).
// Node can make keys but not write X.509 certificates, so generation runs the `openssl` CLI
// (Debian's openssl package; the collector package depends on it), never a shell.

export interface TlsFiles {
  certFile: string;
  keyFile: string;
}

export interface LoadedTls {
  cert: Buffer;
  key: Buffer;
  /** SHA-256 of the (first) certificate, AA:BB:… upper case: what agents pin. */
  fingerprint: string;
}

/** SHA-256 of a PEM certificate's DER, AA:BB:… as `openssl x509 -fingerprint -sha256` and PBS show it. */
export function certFingerprint(pem: string | Buffer): string {
  return new X509Certificate(pem).fingerprint256.toUpperCase();
}

/** Reads and checks both files; throws with the file named when either is unusable. */
export function loadTls(files: TlsFiles): LoadedTls {
  const problem = tlsProblem(files);
  if (problem) throw new Error(problem.message);
  const cert = readFileSync(files.certFile);
  return { cert, key: readFileSync(files.keyFile), fingerprint: certFingerprint(cert) };
}

/** Why the pair cannot serve HTTPS (which key, what to do), or null when it can. */
export function tlsProblem(files: TlsFiles): { key: 'certFile' | 'keyFile'; message: string } | null {
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(readFileSync(files.certFile));
  } catch (err) {
    return { key: 'certFile', message: `cannot read a PEM certificate from ${files.certFile}: ${reason(err)}; make one with: lifeline-collector tls generate` };
  }
  let key: KeyObject;
  try {
    key = createPrivateKey(readFileSync(files.keyFile));
  } catch (err) {
    return { key: 'keyFile', message: `cannot read a PEM private key (unencrypted) from ${files.keyFile}: ${reason(err)}` };
  }
  if (!cert.checkPrivateKey(key)) return { key: 'keyFile', message: `${files.keyFile} is not the private key of the certificate in ${files.certFile}` };
  const until = Date.parse(cert.validTo);
  if (Number.isFinite(until) && until < Date.now()) return { key: 'certFile', message: `the certificate in ${files.certFile} expired on ${new Date(until).toISOString()}` };
  return null;
}

const reason = (err: unknown) => ((err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : ((err as Error).message ?? String(err)));

/** The names the certificate is valid for: this host's name, localhost and loopback, plus those given. */
export function subjectAltNames(extra: readonly string[], host = hostname()): string {
  const names = [...new Set([host, host.split('.')[0], 'localhost', '127.0.0.1', '::1', ...extra].filter(Boolean))];
  return names.map((n) => (isIP(n) ? `IP:${n}` : `DNS:${n}`)).join(',');
}

/**
 * Writes a new self-signed certificate (P-256, ten years) and its key into dir as cert.pem and
 * key.pem, both 0600 and owned like dir (the collector's user when root runs this in its state
 * directory). Replaces existing files only when `force`. Returns the files and the fingerprint.
 */
export function generateSelfSigned(dir: string, opts: { names?: readonly string[]; force?: boolean; openssl?: string } = {}): TlsFiles & { fingerprint: string } {
  const files = { certFile: join(dir, 'cert.pem'), keyFile: join(dir, 'key.pem') };
  if (!opts.force && (exists(files.certFile) || exists(files.keyFile))) {
    throw new Error(`${files.certFile} or ${files.keyFile} exists already; pass --force to replace them (agents that pinned the old fingerprint must then be given the new one)`);
  }
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const tmp = { certFile: `${files.certFile}.new`, keyFile: `${files.keyFile}.new` };
  const host = hostname();
  const argv = [
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-sha256', '-days', '3650',
    '-subj', `/CN=${host.replace(/[/=+]/g, '-')}/O=Lifeline collector`,
    '-addext', `subjectAltName=${subjectAltNames(opts.names ?? [], host)}`,
    '-addext', 'basicConstraints=critical,CA:FALSE',
    '-addext', 'extendedKeyUsage=serverAuth',
    '-keyout', tmp.keyFile, '-out', tmp.certFile,
  ];
  // umask 077 for the child as well: the key is never readable by others, not even for a moment.
  const old = process.umask(0o077);
  let r;
  try {
    r = spawnSync(opts.openssl ?? 'openssl', argv, { encoding: 'utf8', timeout: 60_000 });
  } finally {
    process.umask(old);
  }
  if (r.error || r.status !== 0) {
    rmSync(tmp.certFile, { force: true });
    rmSync(tmp.keyFile, { force: true });
    const why = (r.error as NodeJS.ErrnoException | undefined)?.code === 'ENOENT' ? 'openssl is not installed (apt install openssl)' : (r.error?.message ?? r.stderr.trim().split('\n').slice(-3).join(' '));
    throw new Error(`cannot generate a certificate: ${why}`);
  }
  const owner = statSync(dir);
  for (const f of [tmp.certFile, tmp.keyFile]) {
    chmodSync(f, 0o600);
    if (process.geteuid?.() === 0) chownSync(f, owner.uid, owner.gid);
  }
  renameSync(tmp.keyFile, files.keyFile);
  renameSync(tmp.certFile, files.certFile);
  return { ...files, fingerprint: certFingerprint(readFileSync(files.certFile)) };
}

/** Where `tls generate` writes by default: a `tls` directory beside the database. */
export const defaultTlsDir = (database: string) => join(dirname(database), 'tls');

function exists(file: string): boolean {
  try {
    statSync(file);
    return true;
  } catch {
    return false;
  }
}
