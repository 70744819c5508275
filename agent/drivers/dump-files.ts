import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, closeSync, openSync, readSync, readdirSync, renameSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fsyncPath } from '../../shared/fsync';
import { hasKeepRule, planRetention } from '../../shared/retention';
import { armStop, killGroup } from '../process-group';
import type { DriverContext, ExecOptions, OperationOutcome, SnapshotInfo, Zod } from './types';

// What the database drivers share: dump files named `<job>-<UTC YYYYMMDDTHHMMSSZ>.<ext>` in one
// directory, written under a `.partial` name and renamed only once complete, listed and pruned
// by the time in their names.

export const absolutePath = (z: Zod, missing = 'expected an absolute path') =>
  z.string({ error: missing }).refine((p) => p.startsWith('/'), { message: 'expected an absolute path' });

export const dumpDir = (z: Zod) => absolutePath(z, 'expected dir: the absolute path of the directory that keeps the dumps');

export type Compression = 'zstd' | 'gzip' | 'none';

export interface DumpFile {
  name: string;
  path: string;
  time: Date;
  bytes: number;
}

const escapeRe = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
const STAMP_RE = '(\\d{4})(\\d{2})(\\d{2})T(\\d{2})(\\d{2})(\\d{2})Z';

function stamp(d: Date): string {
  return d.toISOString().slice(0, 19).replace(/[-:]/g, '') + 'Z';
}

/** The finished dumps of `job` in `dir` with one of `exts`, newest first; none when dir is missing. */
export function listDumps(dir: string, job: string, exts: readonly string[]): DumpFile[] {
  const re = new RegExp(`^${escapeRe(job)}-${STAMP_RE}\\.(?:${exts.map(escapeRe).join('|')})$`);
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  const dumps: DumpFile[] = [];
  for (const name of names) {
    const m = re.exec(name);
    if (!m) continue;
    const [y, mo, d, h, mi, s] = m.slice(1, 7).map(Number);
    const path = join(dir, name);
    try {
      const st = statSync(path);
      if (st.isFile()) dumps.push({ name, path, time: new Date(Date.UTC(y, mo - 1, d, h, mi, s)), bytes: st.size });
    } catch {
      // removed while listing
    }
  }
  return dumps.sort((a, b) => b.time.getTime() - a.time.getTime() || (a.name < b.name ? 1 : -1));
}

export function inventoryOf(dir: string, job: string, exts: readonly string[]): SnapshotInfo[] {
  return listDumps(dir, job, exts).map((d) => ({ id: d.name, time: d.time.toISOString(), bytes: d.bytes }));
}

/** The newest dump, or a failure saying there is none. */
export function newestDump(dir: string, job: string, exts: readonly string[]): DumpFile | OperationOutcome {
  const [newest] = listDumps(dir, job, exts);
  return newest ?? { status: 'failure', exitCode: null, error: `no dump of job ${job} in ${dir}` };
}

export const isDump = (v: DumpFile | OperationOutcome): v is DumpFile => 'path' in v;

export const compressionOf = (name: string): Compression => (name.endsWith('.zst') ? 'zstd' : name.endsWith('.gz') ? 'gzip' : 'none');

export interface NewDump {
  /** Where the tool writes (ends with `.partial`, so nothing lists it as a dump). */
  partial: string;
  name: string;
  final: string;
}

/**
 * Names the next dump after the current UTC second, waiting for the next second if a dump of
 * that second exists (two quick runs must not overwrite each other), after removing partial
 * files a crashed run left behind (the job lock guarantees no other run of this job writes).
 */
export async function startDump(ctx: DriverContext<unknown>, dir: string, ext: string): Promise<NewDump> {
  const job = ctx.job.name;
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch (err) {
    // Not created here: a missing directory is a typo or an unmounted disk, not a place to fill.
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new Error(`the dump directory ${dir} does not exist: create it, or mount its disk`);
    throw err;
  }
  const stale = new RegExp(`^${escapeRe(job)}-\\d{8}T\\d{6}Z\\..+\\.partial(?:\\.gz|\\.zst)?$`);
  for (const n of names.filter((x) => stale.test(x))) {
    ctx.tail.line(`[lifeline] removing ${n}, left behind by an interrupted run`);
    rmSync(join(dir, n), { force: true });
  }
  for (;;) {
    const now = new Date();
    const prefix = `${job}-${stamp(now)}.`;
    if (!readdirSync(dir).some((n) => n.startsWith(prefix))) {
      const name = `${prefix}${ext}`;
      return { name, final: join(dir, name), partial: join(dir, `${prefix}${ext.replace(/\.(gz|zst)$/, '')}.partial`) };
    }
    await new Promise((r) => setTimeout(r, 1000 - now.getMilliseconds() + 5));
  }
}


/** Makes a complete dump durable under its final name: fsync, rename, fsync the directory. */
export function commitDump(written: string, dump: NewDump): number {
  // Dumps hold every row of the database.
  chmodSync(written, 0o600);
  fsyncPath(written);
  renameSync(written, dump.final);
  fsyncPath(join(dump.final, '..'));
  return statSync(dump.final).size;
}

/** Commits a finished dump, logs it and reports it as the backup's success. */
export function finishDump(ctx: DriverContext<unknown>, written: string, dump: NewDump, note = ''): OperationOutcome {
  const bytes = commitDump(written, dump);
  ctx.tail.line(`[lifeline] wrote ${dump.final} (${bytes} bytes${note ? `, ${note}` : ''})`);
  return { status: 'success', exitCode: 0, bytesTotal: bytes, snapshotId: dump.name };
}

/** Removes whatever a failed dump left, so nothing incomplete remains. */
export function discardDump(dump: NewDump): void {
  for (const p of [dump.partial, `${dump.partial}.gz`, `${dump.partial}.zst`]) rmSync(p, { force: true });
}

/** Compresses the tool's output in place (`X.partial` → `X.partial.zst`); returns the new path. */
export async function compressPartial(ctx: DriverContext<unknown>, path: string, how: Compression): Promise<{ path: string; outcome: OperationOutcome }> {
  if (how === 'none') return { path, outcome: { status: 'success', exitCode: 0 } };
  const argv = how === 'zstd' ? ['zstd', '-q', '-f', '--rm', '-T0', path] : ['gzip', '-f', path];
  const outcome = await runTool(ctx, argv, `${argv[0]} could not compress the dump`);
  return { path: `${path}${how === 'zstd' ? '.zst' : '.gz'}`, outcome };
}

/** A process result as an outcome, with a short error naming the step. */
export function outcomeOf(
  result: { exitCode: number | null; signal: NodeJS.Signals | null; timedOut: boolean; spawnError?: string },
  what: string,
): OperationOutcome {
  if (result.spawnError) return { status: 'failure', exitCode: null, error: `${what}: cannot start: ${result.spawnError}`, permanent: true };
  if (result.timedOut) return { status: 'timeout', exitCode: result.exitCode, signal: result.signal, error: 'killed at its timeout' };
  if (result.exitCode === 0) return { status: 'success', exitCode: 0 };
  const how = result.signal ? `killed by ${result.signal}` : `exit code ${result.exitCode}`;
  return { status: 'failure', exitCode: result.exitCode, signal: result.signal, error: `${what} (${how})` };
}

/** The line of a tool's stderr that says what went wrong: the last one naming an error. */
export function toolMessage(stderr: string): string {
  // MongoDB's tools start each line with a timestamp and a tab.
  const lines = stderr.split('\n').map((l) => l.replace(/^\d{4}-\d\d-\d\dT\S+\t/, '').trim()).filter(Boolean);
  const line = [...lines].reverse().find((l) => /error|fatal|failed|denied|refused/i.test(l)) ?? lines.at(-1) ?? '';
  // Long messages (MongoDB's driver errors) say what matters at their end.
  return line.length > 400 ? `${line.slice(0, 150)} … ${line.slice(-250)}` : line;
}

/** ctx.exec as an outcome whose error quotes the tool's own message (its stderr is in the tail too). */
export async function runTool(ctx: DriverContext<unknown>, argv: readonly string[], what: string, extra: ExecOptions = {}): Promise<OperationOutcome> {
  const stderr = new LastBytes(2048);
  const result = await ctx.exec(argv, {
    ...extra,
    onStderr: (c) => {
      stderr.push(c);
      extra.onStderr?.(c);
    },
  });
  const outcome = outcomeOf(result, what);
  const message = toolMessage(stderr.text());
  if (outcome.status === 'failure' && !result.spawnError && message) outcome.error += `: ${message}`;
  return outcome;
}

/** Calls `onLine` for each line of a stream of chunks (lines longer than 4 KiB are cut). */
export function lines(onLine: (line: string) => void): (chunk: Buffer) => void {
  let rest = '';
  return (chunk) => {
    const parts = (rest + chunk.toString('utf8')).split('\n');
    rest = parts.pop()!.slice(-4096);
    parts.forEach(onLine);
  };
}

/** The last bytes of a stream, for checking how a dump ends without holding all of it. */
export class LastBytes {
  private buf = Buffer.alloc(0);
  constructor(private readonly max = 4096) {}
  push(chunk: Buffer): void {
    this.buf = Buffer.concat([this.buf, chunk]);
    if (this.buf.length > this.max) this.buf = this.buf.subarray(this.buf.length - this.max);
  }
  text(): string {
    return this.buf.toString('utf8');
  }
}

/** The last 4 KiB of a file, as text. */
export function fileEnd(path: string): string {
  const fd = openSync(path, 'r');
  try {
    const size = statSync(path).size;
    const n = Math.min(4096, size);
    const buf = Buffer.alloc(n);
    readSync(fd, buf, 0, n, size - n);
    return buf.toString('utf8');
  } finally {
    closeSync(fd);
  }
}

/**
 * Reads a dump to its end (decompressing it if its name says so) and returns its last 4 KiB,
 * or a failure when the decompressor finds the file cut short or corrupt.
 */
export async function readDumpEnd(ctx: DriverContext<unknown>, dump: DumpFile): Promise<{ end: string } | { outcome: OperationOutcome }> {
  const how = compressionOf(dump.name);
  if (how === 'none') return { end: fileEnd(dump.path) };
  const last = new LastBytes();
  const argv = how === 'zstd' ? ['zstd', '-q', '-dc', '--', dump.path] : ['gzip', '-dc', '--', dump.path];
  const outcome = await runTool(ctx, argv, `${dump.name} does not decompress`, { tailStdout: false, onStdout: (c) => last.push(c) });
  return outcome.status === 'success' ? { end: last.text() } : { outcome };
}

/** The last non-empty line of a text. */
export const lastLine = (text: string) => text.trimEnd().split('\n').pop() ?? '';

/** Applies the job's retention to its dumps by the times in their names. */
export function pruneDumps(ctx: DriverContext<unknown>, dir: string, exts: readonly string[]): OperationOutcome {
  if (!hasKeepRule(ctx.retention)) {
    return {
      status: 'failure',
      exitCode: null,
      error: 'the retention policy keeps nothing (no last/hourly/daily/weekly/monthly/yearly above 0): refusing to delete every dump',
    };
  }
  const dumps = listDumps(dir, ctx.job.name, exts);
  const plan = planRetention(dumps.map((d) => ({ id: d.name, time: d.time })), ctx.retention);
  for (const k of plan.keep) ctx.tail.line(`keep ${k.id} (${k.reasons.join(', ')})`);
  for (const r of plan.remove) {
    rmSync(join(dir, r.id), { force: true });
    ctx.tail.line(`removed ${r.id}`);
  }
  if (plan.remove.length > 0) fsyncPath(dir);
  return { status: 'success', exitCode: 0 };
}

/** A scratch database name no one uses: `lifeline_drill_<8 hex>`. */
export const scratchDatabase = () => `lifeline_drill_${randomBytes(4).toString('hex')}`;

/** The first of `names` found as an executable in the PATH of `env`. */
export function findInPath(names: readonly string[], env: NodeJS.ProcessEnv): string | undefined {
  const dirs = (env.PATH ?? '').split(':').filter(Boolean);
  for (const name of names) {
    for (const d of dirs) {
      try {
        const st = statSync(join(d, name));
        if (st.isFile() && st.mode & 0o111) return name;
      } catch {
        // not here
      }
    }
  }
  return undefined;
}

/** Passwords in a secret file, so they are redacted even when logged apart from the whole file. */
export function registerPasswords(ctx: DriverContext<unknown>, passwords: readonly string[]): void {
  for (const p of passwords) if (p) ctx.secret(p);
}

export interface PipelineResult {
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  timedOut: boolean;
  spawnError?: string;
  /** argv[0] of the stage that failed first, if any. */
  failed?: string;
  /** The end of all stages' stderr. */
  stderr: string;
}

/**
 * Runs `stages` as a pipeline whose first stage reads `stdinFile`, which ctx.exec cannot do
 * (its stdin is /dev/null or a Buffer). Same rules as agent/process-runner, through the same
 * agent/process-group.ts: argv form, each stage in its own process group, stderr into the log
 * tail, at `deadline` (or when the agent stops) SIGTERM to every group and SIGKILL after the grace.
 */
export function runPipeline(ctx: DriverContext<unknown>, stages: string[][], stdinFile: string, deadline: number, env: NodeJS.ProcessEnv): Promise<PipelineResult> {
  return new Promise((resolve) => {
    const fd = openSync(stdinFile, 'r');
    const children: ChildProcess[] = [];
    let failure: Omit<PipelineResult, 'stderr'> | undefined;
    const stderr = new LastBytes(2048);
    let open = stages.length;
    const killAll = (signal: NodeJS.Signals) => children.forEach((c) => killGroup(c.pid, signal));
    const stopper = armStop({
      timeoutMs: deadline - Date.now(),
      killGraceMs: ctx.killGraceMs,
      tail: ctx.tail,
      signal: ctx.signal,
      what: 'the pipeline',
      kill: killAll,
    });
    // The first stage to fail is the culprit; the others are then stopped (a stage whose reader
    // died would otherwise wait forever on a full pipe).
    const fail = (argv0: string, r: Omit<PipelineResult, 'timedOut' | 'failed' | 'stderr'>) => {
      failure ??= { ...r, timedOut: false, failed: argv0 };
      killAll('SIGTERM');
    };
    const done = () => {
      if (--open > 0) return;
      stopper.clear();
      resolve({ ...(failure ?? { exitCode: 0, signal: null }), timedOut: stopper.timedOut, stderr: stderr.text() });
    };
    try {
      for (const [i, argv] of stages.entries()) {
        let finished = false;
        const finish = () => {
          if (!finished) {
            finished = true;
            done();
          }
        };
        let child: ChildProcess;
        try {
          child = spawn(argv[0], argv.slice(1), { env, detached: true, stdio: [i === 0 ? fd : 'pipe', 'pipe', 'pipe'] });
        } catch (err) {
          fail(argv[0], { exitCode: null, signal: null, spawnError: (err as Error).message });
          open -= stages.length - i - 1; // the later stages never start
          finish();
          break;
        }
        children.push(child);
        if (i > 0) {
          child.stdin!.on('error', () => undefined); // EPIPE when it died early: reported by its exit
          children[i - 1].stdout!.pipe(child.stdin!);
        }
        if (i === stages.length - 1) child.stdout!.on('data', (c: Buffer) => ctx.tail.write(c));
        child.stderr!.on('data', (c: Buffer) => {
          ctx.tail.write(c);
          stderr.push(c);
        });
        child.on('error', (err) => {
          ctx.tail.line(`[lifeline] cannot start ${argv[0]}: ${err.message}`);
          fail(argv[0], { exitCode: null, signal: null, spawnError: err.message });
          finish();
        });
        child.on('exit', (code, signal) => {
          killGroup(child.pid, 'SIGTERM'); // leftover background children would keep pipes open
          if (code !== 0) fail(argv[0], { exitCode: code, signal });
        });
        child.on('close', finish);
      }
    } finally {
      closeSync(fd); // each child holds its own copy
    }
  });
}

/** A pipeline's result as an outcome whose error names the failing stage and quotes it. */
export function pipelineOutcome(r: PipelineResult, what: string): OperationOutcome {
  const outcome = outcomeOf(r, r.failed ? `${what}: ${r.failed}` : what);
  const message = toolMessage(r.stderr);
  if (outcome.status === 'failure' && !r.spawnError && message) outcome.error += `: ${message}`;
  return outcome;
}
