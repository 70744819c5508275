// GNU tar details for the paths driver: argument building and reading `tar --list --verbose`.

export const COMPRESSORS = {
  zstd: { flag: '--zstd', ext: 'tar.zst' },
  gzip: { flag: '--gzip', ext: 'tar.gz' },
} as const;
export type Compression = keyof typeof COMPRESSORS;

export const ARCHIVE_EXTENSIONS = Object.values(COMPRESSORS).map((c) => c.ext);

/** The decompression flag for an archive, from its name (the config may have changed since). */
export function flagFor(name: string): string {
  return name.endsWith('.tar.gz') ? COMPRESSORS.gzip.flag : COMPRESSORS.zstd.flag;
}

/** Members are stored relative to / (`etc/hosts`): restore with `tar -x -C /` or anywhere else. */
export const member = (absolute: string) => absolute.replace(/^\/+/, '').replace(/\/+$/, '') || '.';

/**
 * tar matches excludes against member names, which have no leading slash: an absolute pattern
 * is anchored at the root (`/srv/app/cache` → `srv/app/cache` only), any other pattern matches
 * a trailing part of a name anywhere, tar's default (`*.log`, `node_modules`).
 */
export function excludeArgs(patterns: readonly string[]): string[] {
  const args: string[] = [];
  for (const p of patterns) {
    if (p.startsWith('/')) args.push('--anchored', `--exclude=${member(p)}`, '--no-anchored');
    else args.push(`--exclude=${p}`);
  }
  return args;
}

/** A regular file in `tar --list --verbose --numeric-owner` output: its name's bytes and size. */
export interface ListedFile {
  name: Buffer;
  size: number;
}

// `-rw-r--r-- 0/0        1234 2024-01-31 02:00 etc/hosts`; only regular files ('-') matter:
// directories, links (`h`…`link to`, `l`…`->`) and devices have no content to compare.
const LISTING = /^-\S*\s+\S+\s+(\d+)\s+\d{4}-\d\d-\d\d \d\d:\d\d(?::\d\d)?\s(.+)$/;

export function parseListedFile(line: string): ListedFile | null {
  const m = LISTING.exec(line);
  return m ? { size: Number(m[1]), name: unescapeName(m[2]) } : null;
}

const SIMPLE: Record<string, number> = { a: 7, b: 8, t: 9, n: 10, v: 11, f: 12, r: 13, '\\': 92, '?': 63, ' ': 32, '"': 34 };

/** Undoes tar's default "escape" quoting (C escapes, octal bytes for non-printable ones). */
export function unescapeName(quoted: string): Buffer {
  const bytes: number[] = [];
  for (let i = 0; i < quoted.length; i++) {
    const c = quoted[i];
    if (c === '\\' && i + 1 < quoted.length) {
      const octal = /^[0-7]{3}/.exec(quoted.slice(i + 1, i + 4));
      if (octal) {
        bytes.push(parseInt(octal[0], 8));
        i += 3;
        continue;
      }
      const simple = SIMPLE[quoted[i + 1]];
      if (simple !== undefined) {
        bytes.push(simple);
        i += 1;
        continue;
      }
    }
    const code = quoted.codePointAt(i)!;
    if (code > 0xffff) i++;
    bytes.push(...Buffer.from(String.fromCodePoint(code), 'utf8'));
  }
  return Buffer.from(bytes);
}
