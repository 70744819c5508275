import { hostname } from 'node:os';
import type { z as Z } from 'zod';
import type { DriverContext, Zod } from './types';

// The pbs driver's options (job key `pbs:`) and the pure readings of what they hold: the
// repository (REFERENCE-INTEGRATIONS §5: `[[user@realm[!token]@]host[:port]:]datastore`, user
// root@pam, port 8007 by default) and the archives (`name.pxar:/dir`, `name.img:/dev/…`).

/** PBS's SAFE_ID: backup ids, archive names, datastore and namespace components. */
const SAFE_ID = '[A-Za-z0-9_][A-Za-z0-9._-]*';
const SAFE_ID_RE = new RegExp(`^${SAFE_ID}$`);
/** A namespace: up to 7 levels of SAFE_IDs separated by "/" (PBS's maximum depth). */
const NAMESPACE_RE = new RegExp(`^${SAFE_ID}(/${SAFE_ID}){0,6}$`);
/** The server certificate's SHA-256 fingerprint, as `proxmox-backup-manager cert info` prints it. */
const FINGERPRINT_RE = /^([0-9a-f]{2}:){31}[0-9a-f]{2}$/i;
const ARCHIVE_RE = new RegExp(`^(${SAFE_ID})\\.(pxar|img):(.*)$`, 's');

export const DEFAULT_CLIENT = '/usr/bin/proxmox-backup-client';

export interface PbsRepository {
  /** `user@realm` or `user@realm!token`. */
  authid: string;
  host: string;
  port: number;
  datastore: string;
}

/** The parts of a repository string, or null when it is not one PBS would accept. */
export function parseRepository(text: string): PbsRepository | null {
  const m = new RegExp(`^(?:(?:(.+)@)?(\\[[0-9a-fA-F:.]+\\]|[^:@[\\]\\s/]+)(?::(\\d{1,5}))?:)?(${SAFE_ID})$`).exec(text);
  if (!m) return null;
  const authid = m[1] ?? 'root@pam';
  if (!new RegExp(`^[^\\s:/@!]+@${SAFE_ID}(!${SAFE_ID})?$`).test(authid)) return null;
  const port = Number(m[3] ?? 8007);
  if (port < 1 || port > 65535) return null;
  return { authid, host: m[2] ?? 'localhost', port, datastore: m[4] };
}

export interface PbsArchive {
  /** `etc.pxar` or `disk.img`: the name in the snapshot (the server adds `.didx`/`.fidx`). */
  archive: string;
  /** `etc`: the label before the type. */
  name: string;
  type: 'pxar' | 'img';
  /** The directory (pxar) or block device / image file (img) it is made from. */
  source: string;
  /** `etc.pxar:/etc`, as the client's backup argv takes it. */
  spec: string;
}

/** One archive option, or what is wrong with it. */
export function parseArchive(text: string): PbsArchive | string {
  const m = ARCHIVE_RE.exec(text);
  if (!m) return `expected "name.pxar:/absolute/path" (or "name.img:/dev/…" for a block device or image file), got ${JSON.stringify(text)}`;
  const [, name, type, source] = m;
  if (!source.startsWith('/')) return `${JSON.stringify(text)}: the path must be absolute`;
  return { archive: `${name}.${type}`, name, type: type as 'pxar' | 'img', source, spec: text };
}

export const pbsOptions = (z: Zod) => {
  const absolute = z.string().refine((p) => p.startsWith('/'), { message: 'expected an absolute path' });
  const archive = z.string().transform((text, ctx) => {
    const parsed = parseArchive(text);
    if (typeof parsed === 'string') {
      ctx.addIssue({ code: 'custom', message: parsed });
      return z.NEVER;
    }
    return parsed;
  });
  return z
    .object({
      repository: z.string().refine((r) => parseRepository(r) !== null, {
        message: 'expected [[user@realm[!token]@]host[:port]:]datastore, e.g. "root@pam!backup@pbs.lan:store1"',
      }),
      /** The password or API token secret; PBS reads its first line only. */
      passwordFile: absolute,
      archives: z.array(archive).min(1, 'expected at least one archive like "etc.pxar:/etc"'),
      namespace: z.string().regex(NAMESPACE_RE, 'expected a namespace like "homelab" or "homelab/pve1" (letters, digits, "_", "-", "."; at most 7 levels)').optional(),
      backupId: z.string().regex(SAFE_ID_RE, 'expected a backup id of letters, digits, "_", "-" and "." (not starting with "-" or ".")').optional(),
      /** The key file's path goes in argv (--keyfile): a path, never key material. */
      encryptionKeyFile: absolute.optional(),
      encryptionPasswordFile: absolute.optional(),
      fingerprint: z.string().regex(FINGERPRINT_RE, 'expected the SHA-256 fingerprint as 32 hex pairs separated by ":" (proxmox-backup-manager cert info)').optional(),
      /** Where proxmox-backup-client is (tests point it at a stand-in). */
      client: absolute.default(DEFAULT_CLIENT),
    })
    .strict()
    .superRefine((o, ctx) => {
      const seen = new Set<string>();
      o.archives.forEach((a, i) => {
        if (seen.has(a.archive)) ctx.addIssue({ code: 'custom', path: ['archives', i], message: `duplicate archive name "${a.archive}": each archive of a snapshot needs its own name` });
        seen.add(a.archive);
      });
      if (o.encryptionPasswordFile && !o.encryptionKeyFile) {
        ctx.addIssue({ code: 'custom', path: ['encryptionPasswordFile'], message: 'an encryption password without encryptionKeyFile protects nothing: name the key file too' });
      }
    });
};

export type PbsOptions = Z.output<ReturnType<typeof pbsOptions>>;
export type PbsContext = DriverContext<PbsOptions>;

/** The backup group this job writes: `host/<backupId or the host's name>`. */
export const backupGroup = (o: Pick<PbsOptions, 'backupId'>): string => `host/${o.backupId ?? hostname()}`;

/** `--ns NS` when the job names a namespace (the root namespace needs none). */
export const nsArgs = (o: Pick<PbsOptions, 'namespace'>): string[] => (o.namespace ? ['--ns', o.namespace] : []);
