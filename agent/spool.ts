import { closeSync, fsyncSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, statfsSync, statSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import type { Message, Unsequenced } from '../shared/protocol';
import { fsyncPath } from '../shared/fsync';
import { describeFsError, isMissing, isNoSpace, unlinkQuiet, writeFileAtomic, writeFully } from './durable-file';
import { withLockSync } from './file-lock';

// The durable outbox. Each message is one file named by its seq, written in full to a temp file,
// fsynced and renamed, so after any crash or a full disk a file is either complete or absent.
// Several processes (the daemon, `lifeline-agent run JOB`) append and send concurrently: seq
// allocation and drops are serialized by a lock file; deletions tolerate each other (ENOENT).
//
// A full disk must not turn a finished backup into a run that never ends: the spool keeps a
// reserve file, and the first append that finds the disk full deletes it and writes into the
// space it held. The run result, and the heartbeat that tells the collector the agent cannot
// spool, fit there. The reserve comes back once the filesystem has room again.

export interface SpoolOptions {
  /** Bound on the bytes of pending messages; beyond it the oldest are dropped (and counted). */
  maxBytes: number;
  agent: string;
  /** Told about what the spool did on its own: a recreated directory, the reserve used, a message set aside. */
  notice?: (level: 'info' | 'warn' | 'error', msg: string) => void;
  /**
   * A short-lived writer beside the daemon (the vzdump hook): no scan of the pending messages
   * when opened and no bound enforcement on append, which the daemon's own appends do. A
   * backlog of thousands of messages then costs nothing per append.
   */
  appendOnly?: boolean;
}

export interface SpooledMessage {
  seq: number;
  message: Message;
  bytes: number;
}

export interface SpoolStats {
  pending: number;
  /** Oldest messages dropped to stay within maxBytes (ever). */
  dropped: number;
  bytes: number;
  /** Messages set aside in rejected/ (unreadable, or refused by the collector for good). */
  rejected: number;
  /** Messages that could not be written at all (a full disk), ever. */
  lost: number;
  /** Why the spool cannot store messages now; null when it can. */
  error: string | null;
}

/** A message could not be stored; `cause` is the filesystem error. */
export class SpoolWriteError extends Error {
  readonly code: string;
  constructor(message: string, cause: unknown) {
    super(message, { cause });
    this.name = 'SpoolWriteError';
    this.code = (cause as NodeJS.ErrnoException)?.code ?? 'EIO';
  }
}

const NAME_RE = /^\d{20}\.json$/;
const TMP_MAX_AGE_MS = 60_000;
// Other processes append and ack too, so the cached totals drift; refresh them this often.
const RESCAN_MS = 30_000;
const LOCK_WAIT_MS = 10_000;
/** Room for a run result with its full log tail, a few heartbeats and the seq counter's rewrites. */
export const RESERVE_BYTES = 1024 * 1024;

const LOST_WIDTH = 21;
const counterText = (n: number) => `${String(n).padStart(LOST_WIDTH - 1, ' ')}\n`;
const nameOf = (seq: number) => `${String(seq).padStart(20, '0')}.json`;
const seqOf = (name: string) => Number(name.slice(0, 20));

function readNumber(path: string): number | null {
  try {
    const n = Number(readFileSync(path, 'utf8').trim());
    return Number.isSafeInteger(n) && n >= 0 ? n : null;
  } catch (err) {
    if (isMissing(err)) return null;
    throw err;
  }
}

export function freeBytes(dir: string): number | null {
  try {
    const s = statfsSync(dir);
    return s.bavail * s.bsize;
  } catch {
    return null;
  }
}

export class Spool {
  readonly dir: string;
  private readonly maxBytes: number;
  private readonly agent: string;
  private readonly notice: NonNullable<SpoolOptions['notice']>;
  private readonly seqFile: string;
  private readonly seqLock: string;
  private readonly droppedFile: string;
  private readonly lostFile: string;
  private readonly reserveFile: string;
  private readonly rejectedDir: string;
  private readonly appendOnly: boolean;
  /** Pending file names oldest first, from the last scan plus our own appends; may hold deleted ones. */
  private names: string[] = [];
  private head = 0;
  private sizes = new Map<string, number>();
  private bytes = 0;
  private scannedAt = 0;
  /** Highest seq this instance knows of; a gap before the next one means another process appended. */
  private newest = -1;
  private indexStale = false;
  /** Set when an append failed or needed the reserve; cleared once the reserve is back. */
  private trouble: string | null = null;
  /** Lost messages not yet written to the counter file (it may be the disk that is full). */
  private unsavedLost = 0;

  constructor(dir: string, opts: SpoolOptions) {
    this.dir = dir;
    this.maxBytes = opts.maxBytes;
    this.agent = opts.agent;
    this.notice = opts.notice ?? (() => {});
    this.seqFile = join(dir, 'seq');
    this.seqLock = join(dir, 'seq.lock');
    this.droppedFile = join(dir, 'dropped');
    this.lostFile = join(dir, 'lost');
    this.reserveFile = join(dir, 'reserve');
    this.rejectedDir = join(dir, 'rejected');
    this.appendOnly = opts.appendOnly ?? false;
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    if (!this.appendOnly) this.rescan();
    this.ensureReserve();
    this.ensureLostCounter();
  }

  /**
   * Gives the message its seq and send time and stores it durably before returning. Throws
   * SpoolWriteError when it cannot be stored (the message is then not in the spool at all, and
   * counted as lost).
   */
  append(msg: Unsequenced): Message {
    let written: { message: Message; name: string; bytes: number };
    try {
      written = this.retrying(() => this.appendOnce(msg));
    } catch (err) {
      this.countLost();
      const why = describeFsError(err, this.dir);
      this.trouble = `cannot spool: ${why}`;
      throw new SpoolWriteError(`cannot store the ${msg.kind} message in the spool: ${why}`, err);
    }
    this.track(written.name, written.bytes);
    try {
      if (!this.appendOnly && (this.bytes > this.maxBytes || Date.now() - this.scannedAt > RESCAN_MS)) this.enforceBound(written.name);
    } catch (err) {
      // The message is stored; failing to drop older ones only leaves the spool over its bound.
      this.notice('warn', `spool over its bound and the oldest messages could not be dropped: ${describeFsError(err, this.dir)}`);
    }
    if (this.trouble !== null) this.recover();
    return written.message;
  }

  /** Up to `limit` pending messages, oldest first. Unreadable files are moved to rejected/. */
  pending(limit: number): SpooledMessage[] {
    if (this.indexStale || this.names.length - this.head < limit || Date.now() - this.scannedAt > RESCAN_MS) this.rescan();
    const out: SpooledMessage[] = [];
    for (let i = this.head; i < this.names.length && out.length < limit; i++) {
      const name = this.names[i];
      let text: string;
      try {
        text = readFileSync(join(this.dir, name), 'utf8');
      } catch (err) {
        if (!isMissing(err)) throw err;
        this.forget(name);
        continue;
      }
      const seq = seqOf(name);
      let message: Message | undefined;
      try {
        message = JSON.parse(text) as Message;
      } catch {
        /* set aside below */
      }
      if (!message || typeof message !== 'object' || message.seq !== seq) {
        const reason = message ? 'the file does not hold the message its name says' : 'not a JSON message (cut short or damaged)';
        this.reject(seq, reason);
        this.notice('error', `message seq ${seq} set aside in ${this.rejectedDir}: ${reason}`);
        continue;
      }
      out.push({ seq, message, bytes: Buffer.byteLength(text) });
    }
    while (this.head < this.names.length && !this.sizes.has(this.names[this.head])) this.head++;
    return out;
  }

  /** Deletes delivered messages; ones already gone (sent by another process) are fine. */
  ack(seqs: number[]): void {
    for (const seq of seqs) {
      unlinkQuiet(join(this.dir, nameOf(seq)));
      this.forget(nameOf(seq));
    }
  }

  /** Moves a message the collector refuses (or that cannot be read) to rejected/, with the reason beside it. */
  reject(seq: number, reason: string): void {
    const name = nameOf(seq);
    this.forget(name);
    try {
      this.retrying(() => {
        mkdirSync(this.rejectedDir, { recursive: true, mode: 0o700 });
        renameSync(join(this.dir, name), join(this.rejectedDir, name));
      });
    } catch (err) {
      if (isMissing(err)) return; // another process dealt with it
      throw err;
    }
    try {
      writeFileAtomic(join(this.rejectedDir, `${name}.reason`), `${new Date().toISOString()} ${reason}\n`, { fsync: false });
    } catch {
      // The message is set aside either way; its reason is also in the log.
    }
  }

  stats(): SpoolStats {
    if (Date.now() - this.scannedAt > RESCAN_MS) this.rescan();
    if (this.trouble !== null) this.recover();
    return {
      pending: this.sizes.size,
      dropped: readNumber(this.droppedFile) ?? 0,
      bytes: this.bytes,
      rejected: this.rejectedCount(),
      lost: (readNumber(this.lostFile) ?? 0) + this.unsavedLost,
      error: this.trouble ?? this.spaceProblem(),
    };
  }

  /**
   * Runs a write, and once more after repairing what it can: a spool directory removed under a
   * running agent is recreated, and a full disk gives up the reserve.
   */
  private retrying<T>(write: () => T): T {
    for (let attempt = 0; ; attempt++) {
      try {
        return write();
      } catch (err) {
        if (attempt >= 2) throw err;
        if (isMissing(err) && this.recreateDir()) continue;
        if (isNoSpace(err) && this.makeRoom()) continue;
        throw err;
      }
    }
  }

  private appendOnce(msg: Unsequenced): { message: Message; name: string; bytes: number } {
    const written = withLockSync(
      this.seqLock,
      () => {
        const seq = this.nextSeq();
        // Another process appended since we last looked: rescan before sending, or its older
        // messages would go out after this one.
        if (seq - 1 > this.newest) this.indexStale = true;
        // The counter is durable before the message exists: a crash in between only skips a
        // seq, never reuses one (a reused seq would be taken by the collector as a duplicate).
        writeFileAtomic(this.seqFile, `${seq}\n`);
        fsyncPath(this.dir);
        const message = { ...msg, agent: this.agent, seq, sentAt: new Date().toISOString() } as Message;
        const data = JSON.stringify(message);
        writeFileAtomic(join(this.dir, nameOf(seq)), data);
        return { message, name: nameOf(seq), bytes: Buffer.byteLength(data) };
      },
      { waitMs: LOCK_WAIT_MS },
    );
    fsyncPath(this.dir);
    return written;
  }

  private recreateDir(): boolean {
    if (this.dirExists()) return false;
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    this.notice('warn', `the spool directory ${this.dir} was removed under the running agent: recreated it`);
    this.names = [];
    this.head = 0;
    this.sizes = new Map();
    this.bytes = 0;
    this.ensureReserve();
    return true;
  }

  private dirExists(): boolean {
    try {
      return statSync(this.dir).isDirectory();
    } catch {
      return false;
    }
  }

  /**
   * Gives up the reserve, for a write on the same filesystem that must not fail (the job lock
   * before a backup); false when there is none left.
   */
  makeRoom(): boolean {
    try {
      unlinkSync(this.reserveFile);
    } catch {
      return false; // none left (another process took it, or it was never made)
    }
    this.trouble = `the filesystem holding ${this.dir} is full: the spool is writing into its last reserve`;
    this.notice('error', `${this.trouble} (${RESERVE_BYTES / 1024} KiB); free space there or reports will be lost`);
    return true;
  }

  /** Makes the reserve if the filesystem has room for it and still some to spare. */
  private ensureReserve(): boolean {
    try {
      if (statSync(this.reserveFile).size >= RESERVE_BYTES) return true;
    } catch {
      /* missing: make it */
    }
    const free = freeBytes(this.dir);
    if (free !== null && free < 2 * RESERVE_BYTES) return false;
    try {
      writeFileAtomic(this.reserveFile, Buffer.alloc(RESERVE_BYTES));
      return true;
    } catch {
      return false;
    }
  }

  /** After a failure: once the reserve could be made again, the spool is healthy. */
  private recover(): void {
    if (!this.ensureReserve()) return;
    this.saveLost();
    this.trouble = null;
  }

  private spaceProblem(): string | null {
    if (this.ensureReserve()) return null;
    const free = freeBytes(this.dir);
    return free === null ? null : `the filesystem holding ${this.dir} is nearly full (${free} bytes free): reports may be lost`;
  }

  private countLost(): void {
    this.unsavedLost++;
    this.saveLost();
  }

  // The lost counter is made at full width while there is room, and then rewritten in place: a
  // full disk has no block for a new file, but an existing one can be overwritten.
  private ensureLostCounter(): void {
    try {
      if (statSync(this.lostFile).size === LOST_WIDTH) return;
    } catch {
      /* missing: make it */
    }
    try {
      writeFileAtomic(this.lostFile, counterText(readNumber(this.lostFile) ?? 0));
    } catch {
      // No room yet: made on a later start.
    }
  }

  private saveLost(): void {
    if (this.unsavedLost === 0) return;
    try {
      const fd = openSync(this.lostFile, 'r+');
      try {
        writeFully(fd, counterText((readNumber(this.lostFile) ?? 0) + this.unsavedLost));
        fsyncSync(fd);
      } finally {
        closeSync(fd);
      }
      this.unsavedLost = 0;
    } catch {
      // No counter file (it could not be made): kept in memory and counted in stats().
    }
  }

  private rejectedCount(): number {
    try {
      return readdirSync(this.rejectedDir).filter((n) => NAME_RE.test(n)).length;
    } catch {
      return 0;
    }
  }

  private nextSeq(): number {
    const last = readNumber(this.seqFile);
    if (last !== null) return last + 1;
    // No counter (first start, or the state dir was wiped): start from the clock so seqs keep
    // increasing across a wipe, and past any message still here.
    this.rescan();
    const newest = this.names.length > this.head ? seqOf(this.names[this.names.length - 1]) : -1;
    return Math.max(Date.now() * 1000, newest + 1);
  }

  private track(name: string, bytes: number): void {
    if (this.sizes.has(name)) return;
    this.sizes.set(name, bytes);
    this.bytes += bytes;
    this.newest = Math.max(this.newest, seqOf(name));
    // Seqs are allocated and written under the lock, so a new file sorts after all existing ones.
    this.names.push(name);
  }

  private forget(name: string): void {
    const size = this.sizes.get(name);
    if (size === undefined) return;
    this.sizes.delete(name);
    this.bytes -= size;
  }

  private rescan(): void {
    const names: string[] = [];
    const sizes = new Map<string, number>();
    let bytes = 0;
    const now = Date.now();
    let entries: string[];
    try {
      entries = readdirSync(this.dir);
    } catch (err) {
      if (!isMissing(err)) throw err;
      this.recreateDir();
      entries = [];
    }
    for (const name of entries) {
      if (NAME_RE.test(name)) {
        try {
          const size = statSync(join(this.dir, name)).size;
          names.push(name);
          sizes.set(name, size);
          bytes += size;
        } catch (err) {
          if (!isMissing(err)) throw err;
        }
      } else if (name.endsWith('.tmp')) {
        // Left by a crash between write and rename; a young one may be another process's write in progress.
        try {
          const path = join(this.dir, name);
          if (now - statSync(path).mtimeMs > TMP_MAX_AGE_MS) unlinkSync(path);
        } catch (err) {
          if (!isMissing(err)) throw err;
        }
      }
    }
    names.sort();
    this.names = names;
    this.head = 0;
    this.sizes = sizes;
    this.bytes = bytes;
    this.scannedAt = now;
    this.indexStale = false;
    if (names.length > 0) this.newest = Math.max(this.newest, seqOf(names[names.length - 1]));
  }

  /** Drops the oldest messages (never the one just written) until the spool fits its bound. */
  private enforceBound(keep: string): void {
    withLockSync(
      this.seqLock,
      () => {
        this.rescan();
        let dropped = 0;
        while (this.bytes > this.maxBytes && this.head < this.names.length && this.names[this.head] !== keep) {
          const name = this.names[this.head++];
          try {
            unlinkSync(join(this.dir, name));
            dropped++;
          } catch (err) {
            if (!isMissing(err)) throw err;
          }
          this.forget(name);
        }
        if (dropped > 0) {
          writeFileAtomic(this.droppedFile, `${(readNumber(this.droppedFile) ?? 0) + dropped}\n`);
          fsyncPath(this.dir);
        }
      },
      { waitMs: LOCK_WAIT_MS },
    );
  }
}
