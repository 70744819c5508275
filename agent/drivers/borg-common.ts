import { createHash } from 'node:crypto';
import { createReadStream, lstatSync, readlinkSync, type Stats } from 'node:fs';
import { StringDecoder } from 'node:string_decoder';
import type { ProcessResult } from '../process-runner';
import type { LogTail } from '../log-tail';
import { outcomeFromProcess, type OperationOutcome, type SnapshotInfo } from './types';

// What the borg and borgmatic drivers share: output parsing, archive times, the restore check.

/** Warning exits: 1, or 100–127 when the user set BORG_EXIT_CODES=modern (borg 1.4+, default in borg 2). */
export const BORG_WARNING_CODES: readonly number[] = [1, ...Array.from({ length: 28 }, (_, i) => 100 + i)];

/** borg's JSON needs a UTF-8 locale whatever the host's is. */
export const UTF8_LOCALE = { LANG: 'C.UTF-8', LC_ALL: 'C.UTF-8' } as const;

export interface Splitter {
  push(chunk: Buffer): void;
  end(): void;
}

/** Cuts a stream into pieces at `sep` as it arrives, so no output is held whole; pieces are bounded. */
export function splitter(sep: string, onPiece: (piece: string) => void, maxPiece = 1 << 20): Splitter {
  const decoder = new StringDecoder('utf8');
  let pending = '';
  const take = (text: string) => {
    const parts = text.split(sep);
    for (let i = 0; i < parts.length - 1; i++) {
      onPiece(pending + parts[i]);
      pending = '';
    }
    pending = (pending + parts[parts.length - 1]).slice(0, maxPiece);
  };
  return {
    push: (chunk) => take(decoder.write(chunk)),
    end: () => {
      take(decoder.end());
      if (pending) onPiece(pending);
      pending = '';
    },
  };
}

/** Keeps stdout up to `max` bytes (a JSON document the tool prints at the end); past that, nothing. */
export function boundedText(max: number): Splitter & { text(): string | undefined } {
  const chunks: Buffer[] = [];
  let size = 0;
  return {
    push(chunk) {
      size += chunk.length;
      if (size <= max) chunks.push(chunk);
    },
    end() {},
    text: () => (size <= max ? Buffer.concat(chunks).toString('utf8') : undefined),
  };
}

export function parseJson(text: string | undefined): unknown {
  if (text === undefined) return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

type Loose = Record<string, unknown>;
const obj = (v: unknown): Loose => (typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Loose) : {});
const count = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) && v >= 0 ? Math.round(v) : undefined);
const str = (v: unknown) => (typeof v === 'string' && v !== '' ? v : undefined);

/** The numbers of one `borg create --json` result (borgmatic prints one per repository). */
export function createNumbers(json: unknown): Pick<OperationOutcome, 'bytesAdded' | 'bytesTotal' | 'files' | 'snapshotId'> {
  const archive = obj(obj(json).archive);
  const stats = obj(archive.stats);
  const out = {
    bytesAdded: count(stats.deduplicated_size),
    bytesTotal: count(stats.original_size),
    files: count(stats.nfiles),
    snapshotId: str(archive.name),
  };
  return Object.fromEntries(Object.entries(out).filter(([, v]) => v !== undefined));
}

export function describeCreate(n: ReturnType<typeof createNumbers>): string {
  return `[lifeline] archive ${n.snapshotId ?? '?'}: ${n.files ?? '?'} files, ${n.bytesTotal ?? '?'} bytes, ${n.bytesAdded ?? '?'} bytes new after deduplication`;
}

/** The archives of one `borg list --json` result ({archives: [{name, time|start}]}). */
export function archivesFrom(json: unknown): SnapshotInfo[] {
  const list = obj(json).archives;
  if (!Array.isArray(list)) return [];
  return list.flatMap((a) => {
    const name = str(obj(a).name) ?? str(obj(a).archive);
    const time = archiveTime(obj(a).time ?? obj(a).start);
    return name && time ? [{ id: name, time }] : [];
  });
}

/**
 * borg 1.x prints archive times as local time without a zone. The drivers run listings with
 * TZ=UTC, which makes them UTC and unambiguous even in the hour a DST change repeats; borg 2
 * adds an offset, which is honoured. The result carries the agent's own offset.
 */
export function archiveTime(value: unknown): string | undefined {
  if (typeof value !== 'string') return undefined;
  const m = /^(\d{4})-(\d\d)-(\d\d)[T ](\d\d):(\d\d):(\d\d)(?:\.(\d+))?(Z|[+-]\d\d:?\d\d)?$/.exec(value.trim());
  if (!m) return undefined;
  const [, y, mo, d, h, mi, s, frac = '0', zone] = m;
  const ms = Number(frac.padEnd(3, '0').slice(0, 3));
  const utc = Date.UTC(+y, +mo - 1, +d, +h, +mi, +s, ms);
  const offsetMin = !zone || zone === 'Z' ? 0 : (zone[0] === '-' ? -1 : 1) * (Number(zone.slice(1, 3)) * 60 + Number(zone.slice(-2)));
  return isoWithOffset(new Date(utc - offsetMin * 60_000));
}

export function isoWithOffset(date: Date): string {
  const off = -date.getTimezoneOffset();
  const abs = Math.abs(off);
  const pad = (n: number) => String(Math.floor(n)).padStart(2, '0');
  const local = new Date(date.getTime() + off * 60_000).toISOString().slice(0, 19);
  return `${local}${off < 0 ? '-' : '+'}${pad(abs / 60)}:${pad(abs % 60)}`;
}

export function newest(archives: readonly SnapshotInfo[]): SnapshotInfo | undefined {
  return archives.reduce<SnapshotInfo | undefined>((a, b) => (!a || Date.parse(b.time) >= Date.parse(a.time) ? b : a), undefined);
}

interface LogRecord {
  msgid?: string;
  message: string;
}

// What to do next for borg's stable message ids.
const HINTS: Record<string, string> = {
  PassphraseWrong: 'check the passphrase (file) configured for this repository',
  'Repository.DoesNotExist': 'check the repository location, or initialise it with borg init',
  'Repository.InvalidRepository': 'the location is not a borg repository',
  LockTimeout: 'another borg process holds the repository lock; if none runs, use borg break-lock',
  LockFailed: 'the repository lock cannot be taken; check permissions and free space',
  ConnectionClosed: 'the connection to the repository host closed; check ssh (rsh option, host key, remote borg)',
  ConnectionClosedWithHint: 'the connection to the repository host closed; check ssh (rsh option, host key, remote borg)',
};

/**
 * Reads borg's `--log-json` stderr (stderr still reaches the log tail as it is): keeps the first
 * error and warning messages with their msgid, plus plain lines (ssh's own errors are not JSON).
 */
export class BorgLog {
  readonly errors: LogRecord[] = [];
  readonly warnings: LogRecord[] = [];
  readonly plain: string[] = [];
  private readonly lines = splitter('\n', (line) => this.onLine(line), 64 * 1024);
  readonly push = (chunk: Buffer) => this.lines.push(chunk);
  end(): void {
    this.lines.end();
  }

  private onLine(line: string): void {
    const text = line.trim();
    if (!text) return;
    const rec = obj(parseJson(text));
    if (rec.type !== 'log_message') {
      if (!text.startsWith('{') && this.plain.length < 20) this.plain.push(text.slice(0, 500));
      return;
    }
    const message = String(rec.message ?? '').split('\n')[0].trim().slice(0, 500);
    const entry = { msgid: str(rec.msgid), message };
    const into = rec.levelname === 'ERROR' || rec.levelname === 'CRITICAL' ? this.errors : rec.levelname === 'WARNING' ? this.warnings : undefined;
    if (into && into.length < 20) into.push(entry);
  }

  /** A short outcome for `what` (e.g. "borg create"), with borg's first error or warning and a hint. */
  outcome(what: string, result: ProcessResult, tail: LogTail, warningCodes: readonly number[] = BORG_WARNING_CODES): OperationOutcome {
    const outcome = outcomeFromProcess(result, warningCodes);
    if (outcome.status === 'warning') {
      const first = this.warnings[0];
      const more = this.warnings.length > 1 ? ` (and ${this.warnings.length - 1} more)` : '';
      outcome.error = `${what} finished with warnings${first ? `: ${first.message}${more}` : ''}`;
    } else if (outcome.status === 'failure' && result.exitCode !== null) {
      const first = this.errors[0];
      const text = first ? `${first.msgid ? `${first.msgid}: ` : ''}${first.message}` : (this.plain.at(-1) ?? `exited with code ${result.exitCode}`);
      const hint = first?.msgid ? HINTS[first.msgid] : undefined;
      outcome.error = `${what} failed (exit ${result.exitCode}): ${text}${hint ? ` — ${hint}` : ''}`;
    }
    if (outcome.error && outcome.status !== 'success') tail.line(`[lifeline] ${outcome.error}`);
    return outcome;
  }
}

/** One entry of an archive listing, as borg's --json-lines or a --format record gives it. */
export interface ListedEntry {
  path: string;
  type: string;
  mode?: string;
  size?: number;
  healthy?: boolean;
  linktarget?: string;
}

const IS_TYPE: Record<string, (s: Stats) => boolean> = {
  d: (s) => s.isDirectory(),
  '-': (s) => s.isFile(),
  h: (s) => s.isFile(),
  l: (s) => s.isSymbolicLink(),
  p: (s) => s.isFIFO(),
  b: (s) => s.isBlockDevice(),
  c: (s) => s.isCharacterDevice(),
};

// Python writes name bytes that are not UTF-8 as lone surrogates U+DC80–U+DCFF (surrogateescape).
function nameBytes(name: string): Buffer {
  const parts: Buffer[] = [];
  let run = '';
  for (const ch of name) {
    const c = ch.charCodeAt(0);
    if (ch.length === 1 && c >= 0xdc80 && c <= 0xdcff) {
      parts.push(Buffer.from(run), Buffer.from([c - 0xdc00]));
      run = '';
    } else run += ch;
  }
  parts.push(Buffer.from(run));
  return Buffer.concat(parts);
}

// Python's re takes a backslash before any ASCII punctuation as that literal character.
const reEscape = (s: string) => s.replace(/[\x01-\x2f\x3a-\x40\x5b-\x5e\x60\x7b-\x7f]/g, '\\$&');

/**
 * Compares a restored tree with the archive's own listing, streamed entry by entry: every entry
 * exists with its type, every regular file has its size, no file is broken (chunks lost); a
 * random sample of files is also hashed and compared with borg's sha256 of the archived file.
 */
export class RestoreCheck {
  entries = 0;
  files = 0;
  bytes = 0;
  private problemCount = 0;
  private readonly problems: string[] = [];
  private readonly sample: ListedEntry[] = [];
  private eligible = 0;

  constructor(private readonly root: string, private readonly sampleSize = 8) {}

  private problem(text: string): void {
    this.problemCount++;
    if (this.problems.length < 20) this.problems.push(text);
  }

  private fsPath(path: string): Buffer {
    return Buffer.concat([Buffer.from(`${this.root}/`), nameBytes(path.replace(/^\/+/, ''))]);
  }

  add(e: ListedEntry): void {
    this.entries++;
    const where = this.fsPath(e.path);
    let st: Stats;
    try {
      st = lstatSync(where);
    } catch {
      // A `{path}` listing shows undecodable name bytes as "?": such a name cannot be looked up.
      if (!e.path.includes('?')) this.problem(`missing after restore: ${e.path}`);
      return;
    }
    const hardlink = e.type === 'h' || e.mode?.startsWith('h') === true;
    const isType = IS_TYPE[e.type];
    if (isType && !isType(st)) return this.problem(`wrong type after restore (expected ${e.type}): ${e.path}`);
    if (e.healthy === false) this.problem(`archived file has lost chunks (borg check --repair zero-filled them): ${e.path}`);
    if (e.type === 'l' && e.linktarget && !readlinkSync(where, { encoding: 'buffer' }).equals(nameBytes(e.linktarget))) {
      this.problem(`symlink target differs: ${e.path}`);
    }
    if (!st.isFile()) return;
    this.files++;
    if (hardlink || e.size === undefined) return;
    if (st.size !== e.size) return this.problem(`size differs: ${e.path} (archive ${e.size}, restored ${st.size})`);
    this.bytes += e.size;
    // Reservoir sampling: every file has the same chance, whatever the archive's size.
    if (e.size === 0 || /[\uD800-\uDFFF]/.test(e.path)) return;
    this.eligible++;
    if (this.sample.length < this.sampleSize) this.sample.push(e);
    else {
      const j = Math.floor(Math.random() * this.eligible);
      if (j < this.sampleSize) this.sample[j] = e;
    }
  }

  /** A borg `re:` pattern matching exactly the sampled paths, or undefined when there are none. */
  samplePattern(): string | undefined {
    if (!this.sample.length) return undefined;
    return `re:^(?:${this.sample.map((e) => reEscape(e.path.replace(/^\/+/, ''))).join('|')})$`;
  }

  /** Compares the sample with borg's checksums (path → sha256 hex). */
  async compareHashes(sums: ReadonlyMap<string, string>): Promise<void> {
    for (const e of this.sample) {
      const expected = sums.get(e.path.replace(/^\/+/, ''));
      if (!expected) {
        this.problem(`borg listed no sha256 for the sampled file ${e.path}`);
        continue;
      }
      const hash = createHash('sha256');
      for await (const chunk of createReadStream(this.fsPath(e.path))) hash.update(chunk as Buffer);
      if (hash.digest('hex') !== expected.toLowerCase()) this.problem(`content differs (sha256): ${e.path}`);
    }
  }

  outcome(archive: string, tail: LogTail): OperationOutcome {
    const numbers = { files: this.files, bytesTotal: this.bytes, snapshotId: archive };
    if (this.entries === 0) this.problem(`the listing of ${archive} has no entries`);
    if (this.problemCount) {
      for (const p of this.problems) tail.line(`[lifeline] ${p}`);
      const error = `restore of ${archive} does not match its listing: ${this.problemCount} problem(s), first: ${this.problems[0]}`;
      tail.line(`[lifeline] ${error}`);
      return { status: 'failure', exitCode: 0, error, ...numbers };
    }
    tail.line(
      `[lifeline] restored ${archive}: ${this.entries} entries, ${this.files} files and ${this.bytes} bytes match the listing; ` +
        `${this.sample.length} sampled files match borg's sha256`,
    );
    return { status: 'success', exitCode: 0, ...numbers };
  }
}

/** Parses one line of `borg list --json-lines` into an entry. */
export function entryFromJson(line: string): (ListedEntry & { sha256?: string }) | undefined {
  const e = obj(parseJson(line));
  const path = str(e.path);
  const type = str(e.type);
  if (!path || !type) return undefined;
  return {
    path,
    type,
    mode: str(e.mode),
    size: count(e.size),
    healthy: typeof e.healthy === 'boolean' ? e.healthy : undefined,
    linktarget: str(e.linktarget),
    sha256: str(e.sha256),
  };
}

/** Single-quotes a word for the shell-like splitting borg applies to BORG_PASSCOMMAND (shlex). */
export function shellQuote(word: string): string {
  return `'${word.replace(/'/g, `'\\''`)}'`;
}
