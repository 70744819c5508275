import type { BackupSummaries, RunState } from '../rules/types';
import { KEPT_BACKUPS, type BackupEntry } from './job-state';

// The kept backups of a job's state as bytes: ingest rewrites the state row with every batch,
// so its size is ingest's cost. Each number is a varint (7 bits a byte); starts and ids are
// deltas from the previous (newer) entry and the finish is a delta from the start, so a typical
// entry takes ~20 bytes where JSON took ~50. Integers only: the protocol accepts every safe
// integer as a count, so every safe integer is stored (a null-able one as n + 1, which for
// MAX_SAFE_INTEGER is 2^53: still exact); anything else is refused rather than stored wrong.

const FORMAT = 1;
const STATUSES: readonly RunState[] = ['running', 'success', 'warning', 'failure', 'timeout', 'skipped'];
const STATUS_CODE = new Map(STATUSES.map((s, i) => [s, i]));
/** Fields per entry, each at most 8 varint bytes (values up to 2^53). */
const MAX_ENTRY_BYTES = 7 * 8;
/** The largest integer a double holds exactly with its neighbours below: the varint arithmetic stays exact. */
const MAX_STORED = 2 ** 53;

// Zigzag without bit operations (those cut to 32 bits): 0, -1, 1, -2 … → 0, 1, 2, 3 …
const zig = (v: number) => (v >= 0 ? 2 * v : -2 * v - 1);
const unzig = (z: number) => (z % 2 === 0 ? z / 2 : -(z + 1) / 2);
/** null → 0, n → n + 1 (n ≥ 0; a negative one stays negative and is refused). */
const opt = (v: number | null) => (v === null ? 0 : v < 0 ? v : v + 1);
const unopt = (v: number) => (v === 0 ? null : v - 1);

export function encodeBackups(entries: readonly BackupEntry[]): Buffer {
  if (entries.length > KEPT_BACKUPS) throw new RangeError(`at most ${KEPT_BACKUPS} backups are kept, got ${entries.length}`);
  const out = Buffer.allocUnsafe(2 + entries.length * MAX_ENTRY_BYTES);
  let at = 0;
  const put = (v: number) => {
    if (!Number.isInteger(v) || v < 0 || v > MAX_STORED) throw new RangeError(`not storable in a job state: ${v}`);
    while (v >= 128) {
      out[at++] = (v % 128) + 128;
      v = Math.floor(v / 128);
    }
    out[at++] = v;
  };
  put(FORMAT);
  put(entries.length);
  let id = 0;
  let startedAt = 0;
  for (const e of entries) {
    put(STATUS_CODE.get(e.status) ?? fail(`unknown run status ${e.status}`));
    put(zig(id - e.id));
    put(zig(startedAt - e.startedAt));
    put(e.finishedAt === null ? 0 : zig(e.finishedAt - e.startedAt) + 1);
    put(opt(e.durationMs));
    put(opt(e.bytesAdded));
    put(opt(e.bytesTotal));
    id = e.id;
    startedAt = e.startedAt;
  }
  return out.subarray(0, at);
}

/** A reader of the varints in `bytes`, one per call. */
function reader(bytes: Uint8Array): () => number {
  let at = 0;
  return () => {
    let v = 0;
    let scale = 1;
    for (;;) {
      if (at >= bytes.length) throw new RangeError('job state backups are cut short');
      const b = bytes[at++];
      v += (b % 128) * scale;
      if (b < 128) return v;
      scale *= 128;
    }
  };
}

/** Reads the format and the number of backups. */
function header(get: () => number): number {
  const format = get();
  if (format !== FORMAT) throw new RangeError(`unknown job state format ${format}`);
  const n = get();
  // Before anything is allocated for them.
  if (n > KEPT_BACKUPS) throw new RangeError(`job state claims ${n} backups, at most ${KEPT_BACKUPS} are kept`);
  return n;
}

/**
 * Several jobs' stored kept backups (null: none) as columns, all in one pair of typed arrays:
 * making a typed array costs more than decoding one job's backups into it.
 */
export function decodeBackupColumns(stored: readonly (Uint8Array | null)[]): BackupColumns[] {
  let total = 0;
  for (const bytes of stored) if (bytes) total += header(reader(bytes));
  const codes = new Uint8Array(total);
  const numbers = new Float64Array(total * WIDTH);
  let start = 0;
  return stored.map((bytes) => {
    if (!bytes) return new BackupColumns(codes, numbers, start, 0);
    const get = reader(bytes);
    const n = header(get);
    let id = 0;
    let startedAt = 0;
    for (let i = start, o = start * WIDTH; i < start + n; i++, o += WIDTH) {
      const code = get();
      codes[i] = code < STATUSES.length ? code : fail('unknown run status code');
      numbers[o] = id -= unzig(get());
      numbers[o + 1] = startedAt -= unzig(get());
      const finish = get();
      numbers[o + 2] = finish === 0 ? Number.NaN : startedAt + unzig(finish - 1);
      for (let k = 3; k < WIDTH; k++) numbers[o + k] = unopt(get()) ?? Number.NaN;
    }
    const columns = new BackupColumns(codes, numbers, start, n);
    start += n;
    return columns;
  });
}

export const decodeBackups = (bytes: Uint8Array): BackupEntry[] => [...decodeBackupColumns([bytes])[0]];

/** Numbers per backup in BackupColumns: id, start, finish, duration, bytes added, bytes total (NaN: null). */
const WIDTH = 6;
const orNull = (v: number) => (Number.isNaN(v) ? null : v);

/**
 * Kept backups, newest first, as typed arrays instead of an object each: a first pass holds
 * 10,000 jobs × 21 backups, and as objects with their boxed numbers every scavenge copied them
 * (about 0.1 s of the pass). Read like an array; each entry is made when asked for. The
 * arrays may hold other jobs' backups too (decoded together): this job's are `length` from `start`.
 */
export class BackupColumns implements BackupSummaries {
  constructor(
    private readonly codes: Uint8Array,
    private readonly numbers: Float64Array,
    private readonly start: number,
    readonly length: number,
  ) {}

  status(i: number): RunState {
    return STATUSES[this.codes[this.start + i]];
  }

  id(i: number): number {
    return this.numbers[(this.start + i) * WIDTH];
  }

  at(i: number): BackupEntry | undefined {
    if (i < 0) i += this.length;
    if (!(i >= 0 && i < this.length)) return undefined;
    const n = this.numbers;
    const o = (this.start + i) * WIDTH;
    return { id: n[o], startedAt: n[o + 1], status: this.status(i), finishedAt: orNull(n[o + 2]), durationMs: orNull(n[o + 3]), bytesAdded: orNull(n[o + 4]), bytesTotal: orNull(n[o + 5]) };
  }

  *[Symbol.iterator](): IterableIterator<BackupEntry> {
    for (let i = 0; i < this.length; i++) yield this.at(i)!;
  }

  /** The index of the first backup whose status passes `test`, -1 when none does. */
  indexOf(test: (s: RunState) => boolean): number {
    for (let i = 0; i < this.length; i++) if (test(this.status(i))) return i;
    return -1;
  }

  /** The first `max` backups whose status passes `test` (this same object when that is all of them). */
  select(test: (s: RunState) => boolean, max: number): BackupSummaries {
    const keep: number[] = [];
    for (let i = 0; i < this.length && keep.length < max; i++) if (test(this.status(i))) keep.push(i);
    if (keep.length === this.length) return this;
    // A run of backups together (usually all but a running one first) is a part of the same arrays;
    // a gap (an older run still running) is rare enough for an object each.
    if (keep.every((k, i) => k === keep[0] + i)) return new BackupColumns(this.codes, this.numbers, this.start + (keep[0] ?? 0), keep.length);
    return keep.map((k) => this.at(k)!);
  }
}

function fail(message: string): never {
  throw new RangeError(message);
}
