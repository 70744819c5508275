// Parsing restic's output, defensively: every JSON field optional, unknown fields ignored, and
// the line formats of 0.14 (Debian) as well as newer releases (exit_error, summary in snapshots).

/**
 * Splits a stream into lines as chunks arrive, holding at most one line (capped at `maxBytes`;
 * a longer line is dropped): restic's output can be far larger than memory should be.
 */
export class Lines {
  private parts: Buffer[] = [];
  private size = 0;
  private overlong = false;

  constructor(
    private readonly onLine: (line: string) => void,
    private readonly maxBytes = 1 << 20,
  ) {}

  readonly push = (chunk: Buffer): void => {
    let start = 0;
    for (let nl = chunk.indexOf(10); nl !== -1; nl = chunk.indexOf(10, start)) {
      this.take(chunk.subarray(start, nl));
      this.flush();
      start = nl + 1;
    }
    this.take(chunk.subarray(start));
  };

  /** Hands over a last line that had no newline. */
  end(): void {
    if (this.size > 0 || this.overlong) this.flush();
  }

  private take(buf: Buffer): void {
    if (this.overlong || buf.length === 0) return;
    if (this.size + buf.length > this.maxBytes) {
      this.overlong = true;
      this.parts = [];
      this.size = 0;
      return;
    }
    this.parts.push(buf);
    this.size += buf.length;
  }

  private flush(): void {
    const line = this.overlong ? '' : Buffer.concat(this.parts, this.size).toString('utf8').replace(/\r$/, '');
    this.parts = [];
    this.size = 0;
    this.overlong = false;
    if (line) this.onLine(line);
  }
}

export type Json = Record<string, unknown>;

/** The object on a line, or undefined for anything else (text, arrays, broken JSON). */
export function jsonObject(text: string): Json | undefined {
  if (!text.startsWith('{')) return undefined;
  try {
    const v: unknown = JSON.parse(text);
    return isObject(v) ? v : undefined;
  } catch {
    return undefined;
  }
}

export const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

/** A non-negative count, or undefined. */
export function count(v: unknown): number | undefined {
  return typeof v === 'number' && Number.isFinite(v) && v >= 0 ? Math.round(v) : undefined;
}

const str = (v: unknown): string | undefined => (typeof v === 'string' && v.length > 0 ? v : undefined);

export interface BackupSummary {
  bytesAdded?: number;
  bytesTotal?: number;
  files?: number;
  snapshotId?: string;
}

/** The numbers of `backup --json`'s final summary line (zero fields are omitted since 0.17). */
export function backupSummary(msg: Json): BackupSummary | undefined {
  if (msg.message_type !== 'summary') return undefined;
  return {
    bytesAdded: count(msg.data_added) ?? 0,
    bytesTotal: count(msg.total_bytes_processed) ?? 0,
    files: count(msg.total_files_processed) ?? 0,
    // Newer releases print the full ID; the short one is what restic shows (and inventory lists).
    snapshotId: str(msg.snapshot_id)?.slice(0, 8),
  };
}

/**
 * Watches restic's stderr for what went wrong: the fatal error (`Fatal: …` up to 0.17, a JSON
 * `exit_error` since 0.18) and per-file errors (`{"message_type":"error",…,"item":…}`).
 */
export class ResticErrors {
  fatal?: string;
  itemErrors = 0;
  firstItem?: string;
  readonly lines = new Lines((line) => this.line(line));

  private line(line: string): void {
    if (line.startsWith('Fatal:')) {
      this.fatal = line.slice(0, 500);
      return;
    }
    const msg = jsonObject(line);
    if (msg?.message_type === 'exit_error') this.fatal = `Fatal: ${str(msg.message) ?? 'restic gave up'}`.slice(0, 500);
    if (msg?.message_type === 'error') {
      this.itemErrors++;
      this.firstItem ??= str(msg.item)?.slice(0, 300);
    }
  }
}

export interface ResticSnapshot {
  id: string;
  shortId: string;
  time: string;
  paths: string[];
  hostname?: string;
  tags: string[];
  bytes?: number;
}

/** One entry of `snapshots --json` (or of a `forget --json` group), or undefined if unusable. */
export function snapshotFrom(v: unknown): ResticSnapshot | undefined {
  if (!isObject(v)) return undefined;
  const id = str(v.id);
  const time = str(v.time);
  if (!id || !time || Number.isNaN(Date.parse(time))) return undefined;
  const strings = (a: unknown) => (Array.isArray(a) ? a.filter((x): x is string => typeof x === 'string') : []);
  return {
    id,
    shortId: str(v.short_id) ?? id.slice(0, 8),
    // restic prints nanoseconds and the host's offset; the protocol wants one plain ISO form.
    time: new Date(time).toISOString(),
    paths: strings(v.paths),
    hostname: str(v.hostname),
    tags: strings(v.tags),
    // Since 0.17 a snapshot carries its backup's summary.
    bytes: isObject(v.summary) ? count(v.summary.total_bytes_processed) : undefined,
  };
}

/** The JSON document in a command's stdout, skipping text restic may print around it. */
export function jsonDocument(text: string): unknown {
  const trimmed = text.trim();
  try {
    return JSON.parse(trimmed);
  } catch {
    const line = trimmed.split('\n').find((l) => l.startsWith('[') || l.startsWith('{'));
    try {
      return line === undefined ? undefined : JSON.parse(line);
    } catch {
      return undefined;
    }
  }
}

/** Same paths, in any order: restic's `--path` filter also matches snapshots with more paths. */
export function samePaths(a: readonly string[], b: readonly string[]): boolean {
  const x = [...new Set(a)].sort();
  const y = [...new Set(b)].sort();
  return x.length === y.length && x.every((p, i) => p === y[i]);
}

export interface ForgetPlan {
  keep: number;
  remove: string[];
}

/** What `forget --dry-run --json` decided for the groups holding exactly these paths. */
export function forgetPlan(doc: unknown, paths: readonly string[]): ForgetPlan | undefined {
  if (!Array.isArray(doc)) return undefined;
  const plan: ForgetPlan = { keep: 0, remove: [] };
  for (const group of doc) {
    if (!isObject(group)) continue;
    const groupPaths = Array.isArray(group.paths) ? group.paths.filter((p): p is string => typeof p === 'string') : null;
    const snaps = (key: string) => (Array.isArray(group[key]) ? (group[key] as unknown[]) : []).map(snapshotFrom).filter((s) => s !== undefined);
    const keep = snaps('keep');
    const remove = snaps('remove');
    // Grouped by paths (the default) the group says its paths; otherwise look at each snapshot.
    const ours = (s: ResticSnapshot) => samePaths(groupPaths ?? s.paths, paths);
    plan.keep += keep.filter(ours).length;
    plan.remove.push(...remove.filter(ours).map((s) => s.id));
  }
  return plan;
}

/** A regular file listed by `ls --json` (node lines; 0.14 omits a zero size). */
export function fileNode(msg: Json): { path: string; size: number } | undefined {
  if (msg.type !== 'file' || typeof msg.path !== 'string' || !msg.path.startsWith('/')) return undefined;
  if (msg.struct_type !== undefined && msg.struct_type !== 'node') return undefined;
  return { path: msg.path, size: count(msg.size) ?? 0 };
}
