import { closeSync, fsyncSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, statSync, unlinkSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import type { Message, Unsequenced } from '../shared/protocol';
import { withLockSync } from './file-lock';

// The durable outbox. Each message is one file named by its seq, written with tmp + fsync +
// rename, so after any crash a file is either complete or absent. Several processes (the daemon,
// `lifeline-agent run JOB`) append and send concurrently: seq allocation and drops are serialized
// by a lock file; deletions tolerate each other (ENOENT is fine).

export interface SpoolOptions {
  /** Bound on the bytes of pending messages; beyond it the oldest are dropped (and counted). */
  maxBytes: number;
  agent: string;
}

export interface SpooledMessage {
  seq: number;
  message: Message;
  bytes: number;
}

export interface SpoolStats {
  pending: number;
  dropped: number;
  bytes: number;
}

const NAME_RE = /^\d{20}\.json$/;
const TMP_MAX_AGE_MS = 60_000;
// Other processes append and ack too, so the cached totals drift; refresh them this often.
const RESCAN_MS = 30_000;
const LOCK_WAIT_MS = 10_000;

const nameOf = (seq: number) => `${String(seq).padStart(20, '0')}.json`;
const seqOf = (name: string) => Number(name.slice(0, 20));
const isMissing = (err: unknown) => (err as NodeJS.ErrnoException).code === 'ENOENT';

function fsyncDir(dir: string): void {
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** Replaces `path` with `data` atomically and durably (except the directory fsync, left to the caller). */
function writeAtomic(path: string, data: string): void {
  const tmp = `${path}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`;
  const fd = openSync(tmp, 'wx', 0o600);
  try {
    writeSync(fd, data);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, path);
}

function readNumber(path: string): number | null {
  try {
    const n = Number(readFileSync(path, 'utf8').trim());
    return Number.isSafeInteger(n) && n >= 0 ? n : null;
  } catch (err) {
    if (isMissing(err)) return null;
    throw err;
  }
}

export class Spool {
  readonly dir: string;
  private readonly maxBytes: number;
  private readonly agent: string;
  private readonly seqFile: string;
  private readonly seqLock: string;
  private readonly droppedFile: string;
  private readonly rejectedDir: string;
  /** Pending file names oldest first, from the last scan plus our own appends; may hold deleted ones. */
  private names: string[] = [];
  private head = 0;
  private sizes = new Map<string, number>();
  private bytes = 0;
  private scannedAt = 0;
  /** Highest seq this instance knows of; a gap before the next one means another process appended. */
  private newest = -1;
  private indexStale = false;

  constructor(dir: string, opts: SpoolOptions) {
    this.dir = dir;
    this.maxBytes = opts.maxBytes;
    this.agent = opts.agent;
    this.seqFile = join(dir, 'seq');
    this.seqLock = join(dir, 'seq.lock');
    this.droppedFile = join(dir, 'dropped');
    this.rejectedDir = join(dir, 'rejected');
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    this.rescan();
  }

  /** Gives the message its seq and send time and stores it durably before returning. */
  append(msg: Unsequenced): Message {
    const written = withLockSync(
      this.seqLock,
      () => {
        const seq = this.nextSeq();
        // Another process appended since we last looked: rescan before sending, or its older
        // messages would go out after this one.
        if (seq - 1 > this.newest) this.indexStale = true;
        // The counter is durable before the message exists: a crash in between only skips a
        // seq, never reuses one (a reused seq would be taken by the collector as a duplicate).
        writeAtomic(this.seqFile, `${seq}\n`);
        fsyncDir(this.dir);
        const message = { ...msg, agent: this.agent, seq, sentAt: new Date().toISOString() } as Message;
        const data = JSON.stringify(message);
        writeAtomic(join(this.dir, nameOf(seq)), data);
        return { message, name: nameOf(seq), bytes: Buffer.byteLength(data) };
      },
      { waitMs: LOCK_WAIT_MS },
    );
    fsyncDir(this.dir);
    this.track(written.name, written.bytes);
    if (this.bytes > this.maxBytes || Date.now() - this.scannedAt > RESCAN_MS) this.enforceBound(written.name);
    return written.message;
  }

  /** Up to `limit` pending messages, oldest first. Corrupt files are moved to rejected/. */
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
        /* quarantined below */
      }
      if (!message || typeof message !== 'object' || message.seq !== seq) {
        this.reject(seq, message ? 'the file does not hold the message its name says' : 'not a JSON message');
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
      try {
        unlinkSync(join(this.dir, nameOf(seq)));
      } catch (err) {
        if (!isMissing(err)) throw err;
      }
      this.forget(nameOf(seq));
    }
  }

  /** Moves a message the collector refuses (or that cannot be read) to rejected/, with the reason beside it. */
  reject(seq: number, reason: string): void {
    const name = nameOf(seq);
    mkdirSync(this.rejectedDir, { recursive: true, mode: 0o700 });
    this.forget(name);
    try {
      renameSync(join(this.dir, name), join(this.rejectedDir, name));
    } catch (err) {
      if (isMissing(err)) return; // another process dealt with it
      throw err;
    }
    writeFileSync(join(this.rejectedDir, `${name}.reason`), `${new Date().toISOString()} ${reason}\n`, { mode: 0o600 });
  }

  stats(): SpoolStats {
    if (Date.now() - this.scannedAt > RESCAN_MS) this.rescan();
    return { pending: this.sizes.size, dropped: readNumber(this.droppedFile) ?? 0, bytes: this.bytes };
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
    for (const name of readdirSync(this.dir)) {
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
          writeAtomic(this.droppedFile, `${(readNumber(this.droppedFile) ?? 0) + dropped}\n`);
          fsyncDir(this.dir);
        }
      },
      { waitMs: LOCK_WAIT_MS },
    );
  }
}
