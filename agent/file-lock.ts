import { closeSync, linkSync, openSync, readFileSync, statSync, unlinkSync } from 'node:fs';
import { unlinkQuiet, writeFully } from './durable-file';

// Lock files shared by the daemon and `lifeline-agent run JOB`. A holder that dies (kill -9,
// power loss) leaves its file behind, so every file says who holds it and contenders remove it
// once that process is gone: no lock can stay stuck.

export interface Lock {
  readonly path: string;
  /** Removes the lock file, but only while it is still ours. */
  release(): void;
}

const UNPARSEABLE_STALE_MS = 5_000;

let ownMarker: string | undefined;

/**
 * Identifies a process beyond its pid: boot id + start time (Linux /proc), so a pid reused by
 * another process, or reused after a reboot, is not mistaken for the holder.
 */
function procInfo(pid: number | 'self'): { marker: string; zombie: boolean } | null {
  try {
    const boot = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields from 3 (state) on; the command name (field 2) may contain spaces and parentheses.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return fields[19] ? { marker: `${boot}:${fields[19]}`, zombie: fields[0] === 'Z' } : null;
  } catch {
    return null;
  }
}

function myMarker(): string {
  return (ownMarker ??= procInfo('self')?.marker ?? `t${Math.round(performance.timeOrigin)}`);
}

function readHolder(path: string): { pid: number; marker: string } | null | 'gone' {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return 'gone';
    throw err;
  }
  const [pidText, marker = ''] = text.split('\n');
  const pid = Number(pidText);
  return Number.isInteger(pid) && pid > 0 ? { pid, marker } : null;
}

function isAlive(pid: number, marker: string): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ESRCH') return false;
    // EPERM: it exists, under another user.
  }
  const info = procInfo(pid);
  if (!info) return true; // no /proc to tell (or hidepid): trust kill(0)
  // A killed process not yet reaped by its parent is a zombie: it holds nothing any more.
  return !info.zombie && !(marker.includes(':') && info.marker !== marker);
}

/** 'gone' (released meanwhile: just retry), 'live', or 'stale' (its holder is dead). */
function holderState(path: string): 'gone' | 'live' | 'stale' {
  const holder = readHolder(path);
  if (holder === 'gone') return 'gone';
  if (holder) return isAlive(holder.pid, holder.marker) ? 'live' : 'stale';
  try {
    return Date.now() - statSync(path).mtimeMs > UNPARSEABLE_STALE_MS ? 'stale' : 'live';
  } catch {
    return 'gone';
  }
}

// The lock appears with its content in one step (link of a written file), so a holder killed
// while taking it never leaves an empty, unattributable file.
function tryCreate(path: string, content: string): boolean {
  const tmp = `${path}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`;
  const fd = openSync(tmp, 'wx', 0o600);
  try {
    writeFully(fd, content);
  } catch (err) {
    closeSync(fd);
    unlinkQuiet(tmp);
    throw err;
  }
  closeSync(fd);
  try {
    linkSync(tmp, path);
    return true;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') return false;
    if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'EOPNOTSUPP') throw err;
    return createWithOpen(path, content); // filesystem without hard links
  } finally {
    unlinkSync(tmp);
  }
}

function createWithOpen(path: string, content: string): boolean {
  let fd: number;
  try {
    fd = openSync(path, 'wx', 0o600);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw err;
  }
  try {
    writeFully(fd, content);
  } catch (err) {
    closeSync(fd);
    unlinkQuiet(path); // a half-written lock would name a wrong pid
    throw err;
  }
  closeSync(fd);
  return true;
}

/**
 * Removes a stale lock. Two contenders could both judge it stale and the slower one would then
 * delete the faster one's fresh lock, so the check-and-remove runs under a short-lived breaker
 * lock and the staleness is re-checked there. (A breaker left by a holder killed inside these
 * few syscalls is itself removed as stale; that removal is not guarded again.)
 */
function breakStale(path: string): void {
  const breaker = `${path}.break`;
  const content = `${process.pid}\n${myMarker()}\n`;
  if (!tryCreate(breaker, content)) {
    if (holderState(breaker) !== 'stale') return; // another contender is breaking it right now
    unlinkQuiet(breaker);
    if (!tryCreate(breaker, content)) return;
  }
  try {
    if (holderState(path) === 'stale') unlinkQuiet(path);
  } finally {
    unlinkQuiet(breaker);
  }
}

/** Whether a live process holds the lock at `path` (without taking it: for onlookers). */
export function isLockHeld(path: string): boolean {
  return holderState(path) === 'live';
}

/** Takes the lock at `path`, or returns null when a live process holds it. Never waits. */
export function acquireLock(path: string): Lock | null {
  const content = `${process.pid}\n${myMarker()}\n`;
  for (let attempt = 0; ; attempt++) {
    if (tryCreate(path, content)) break;
    const state = holderState(path);
    if (state === 'live' || attempt === 2) return null;
    if (state === 'stale') breakStale(path);
  }
  let released = false;
  return {
    path,
    release() {
      if (released) return;
      released = true;
      const holder = readHolder(path);
      if (holder && holder !== 'gone' && holder.pid === process.pid && holder.marker === myMarker()) unlinkQuiet(path);
    },
  };
}

const sleeper = new Int32Array(new SharedArrayBuffer(4));

function sleepSync(ms: number): void {
  Atomics.wait(sleeper, 0, 0, ms);
}

/** Runs `fn` while holding the lock, waiting for it (synchronously) up to `waitMs`. */
export function withLockSync<T>(path: string, fn: () => T, opts: { waitMs?: number } = {}): T {
  const waitMs = opts.waitMs ?? 10_000;
  const deadline = Date.now() + waitMs;
  let lock = acquireLock(path);
  for (let spin = 0; !lock; spin++) {
    if (Date.now() >= deadline) {
      const holder = readHolder(path);
      const who = holder && holder !== 'gone' ? `process ${holder.pid}` : 'another process';
      throw new Error(`could not lock ${path} within ${waitMs} ms: ${who} holds it`);
    }
    // Jittered so two waiters do not wake in lockstep; short, since holders keep it for ~1 ms.
    sleepSync(Math.min(20, 1 + spin) * (0.5 + Math.random()));
    lock = acquireLock(path);
  }
  try {
    return fn();
  } finally {
    lock.release();
  }
}
