import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { z as Z } from 'zod';
import {
  absolutePath, finishDump, compressPartial, discardDump, dumpDir, inventoryOf, isDump, lastLine, LastBytes, newestDump, pruneDumps,
  readDumpEnd, registerPasswords, runTool, scratchDatabase, startDump,
} from './dump-files';
import { factsFrom } from './restore-facts';
import type { Driver, DriverContext, OperationOutcome, Zod } from './types';

// One database with `pg_dump -Fc` (a compressed custom-format archive), or the whole cluster
// with `pg_dumpall` (plain SQL, then compressed). The password comes from a pgpass file named
// by PGPASSFILE, never argv; -w makes the tools fail instead of prompting.
const options = (z: Zod) =>
  z
    .object({
      database: z.string().min(1).regex(/^[^-]/, 'a database name cannot start with "-"').optional(),
      all: z.literal(true, 'expected "all: true" (pg_dumpall) or no "all" key').optional(),
      host: z.string().min(1).optional(),
      port: z.int().min(1).max(65535).optional(),
      user: z.string().min(1).optional(),
      passFile: absolutePath(z).optional(),
      dir: dumpDir(z),
      compress: z.enum(['zstd', 'gzip', 'none']).optional(),
      sanityQuery: z.string().min(1).optional(),
      pgBin: absolutePath(z).optional(),
    })
    .strict()
    .superRefine((o, ctx) => {
      if (!o.database === !o.all) ctx.addIssue({ code: 'custom', path: ['database'], message: 'set either "database: NAME" (pg_dump) or "all: true" (pg_dumpall)' });
      if (o.compress && !o.all) ctx.addIssue({ code: 'custom', path: ['compress'], message: 'only "all: true" dumps are compressed here: pg_dump -Fc archives are compressed already' });
    });

type PgOptions = Z.output<ReturnType<typeof options>>;
type Ctx = DriverContext<PgOptions>;

const EXTS = ['dump', 'sql', 'sql.gz', 'sql.zst'];
const CLUSTER_DUMP_END = '-- PostgreSQL database cluster dump complete';

const bin = (o: PgOptions, name: string) => (o.pgBin ? join(o.pgBin, name) : name);

function conn(o: PgOptions): string[] {
  return [...(o.host ? ['-h', o.host] : []), ...(o.port ? ['-p', String(o.port)] : []), ...(o.user ? ['-U', o.user] : []), '-w'];
}

function toolEnv(ctx: Ctx): NodeJS.ProcessEnv {
  const o = ctx.options;
  // An unreachable host would otherwise hang for the kernel's TCP timeout.
  const env: NodeJS.ProcessEnv = { ...ctx.env, PGAPPNAME: 'lifeline', PGCONNECT_TIMEOUT: ctx.env.PGCONNECT_TIMEOUT ?? '30' };
  if (o.passFile) {
    env.PGPASSFILE = o.passFile;
    registerPasswords(ctx, pgpassPasswords(readFileSync(o.passFile, 'utf8')));
  }
  return env;
}

/** The password field of each pgpass line (`host:port:db:user:password`, `\:` and `\\` escaped). */
export function pgpassPasswords(text: string): string[] {
  const out: string[] = [];
  for (const line of text.split('\n')) {
    if (!line.trim() || line.startsWith('#')) continue;
    const fields = [''];
    for (let i = 0; i < line.length; i++) {
      if (line[i] === '\\' && i + 1 < line.length) fields[fields.length - 1] += line[++i];
      else if (line[i] === ':' && fields.length < 5) fields.push('');
      else fields[fields.length - 1] += line[i];
    }
    if (fields.length === 5) out.push(fields[4].replace(/\r$/, ''));
  }
  return out;
}

async function backup(ctx: Ctx): Promise<OperationOutcome> {
  const o = ctx.options;
  const env = toolEnv(ctx);
  const how = o.all ? (o.compress ?? 'zstd') : 'none';
  const ext = o.all ? { zstd: 'sql.zst', gzip: 'sql.gz', none: 'sql' }[how] : 'dump';
  const dump = await startDump(ctx, o.dir, ext);
  try {
    const argv = o.all ? [bin(o, 'pg_dumpall'), ...conn(o), '-f', dump.partial] : [bin(o, 'pg_dump'), ...conn(o), '-Fc', '-f', dump.partial, o.database!];
    let outcome = await runTool(ctx, argv, `${o.all ? 'pg_dumpall' : 'pg_dump'} failed`, { env });
    if (outcome.status !== 'success') return outcome;
    const packed = await compressPartial(ctx, dump.partial, how);
    outcome = packed.outcome;
    if (outcome.status !== 'success') return outcome;
    return finishDump(ctx, packed.path, dump);
  } finally {
    discardDump(dump);
  }
}

async function verify(ctx: Ctx): Promise<OperationOutcome> {
  const o = ctx.options;
  const dump = newestDump(o.dir, ctx.job.name, EXTS);
  if (!isDump(dump)) return dump;
  const ids = { snapshotId: dump.name, bytesTotal: dump.bytes };
  if (dump.name.endsWith('.dump')) {
    // Not --list: that reads only the table of contents, and a truncated archive passes it.
    const outcome = await runTool(ctx, [bin(o, 'pg_restore'), '-f', '/dev/null', dump.path], `pg_restore cannot read ${dump.name}`);
    if (outcome.status === 'success') ctx.tail.line(`[lifeline] ${dump.name}: pg_restore read the whole archive`);
    return { ...outcome, ...ids };
  }
  const read = await readDumpEnd(ctx, dump);
  if ('outcome' in read) return { ...read.outcome, ...ids };
  if (!read.end.includes(CLUSTER_DUMP_END)) {
    ctx.tail.line(`[lifeline] ${dump.name} ends with: ${lastLine(read.end).slice(0, 200)}`);
    return { status: 'failure', exitCode: null, error: `${dump.name} is incomplete: it does not end with "${CLUSTER_DUMP_END}"`, ...ids };
  }
  ctx.tail.line(`[lifeline] ${dump.name}: read to its end, which says "${CLUSTER_DUMP_END}"`);
  return { status: 'success', exitCode: 0, ...ids };
}

async function restoreTest(ctx: Ctx): Promise<OperationOutcome> {
  const o = ctx.options;
  const started = Date.now();
  const dump = newestDump(o.dir, ctx.job.name, EXTS);
  if (!isDump(dump)) return dump;
  const ids = { snapshotId: dump.name, bytesTotal: dump.bytes };
  if (!dump.name.endsWith('.dump')) {
    return { status: 'failure', exitCode: null, error: 'restore drills need a single-database dump ("database:"): a pg_dumpall dump recreates every database under its own name', ...ids };
  }
  const env = toolEnv(ctx);
  const scratch = scratchDatabase();
  const created = await runTool(ctx, [bin(o, 'createdb'), ...conn(o), scratch], `cannot create the scratch database ${scratch}`, { env });
  if (created.status !== 'success') return { ...created, ...ids };
  let outcome: OperationOutcome = { status: 'failure', exitCode: null, error: 'the restore drill was interrupted' };
  try {
    outcome = await restoreInto(ctx, env, dump.path, scratch);
  } finally {
    const dropped = await runTool(ctx, [bin(o, 'dropdb'), ...conn(o), '--if-exists', scratch], `cannot drop the scratch database ${scratch}`, { env });
    if (dropped.status !== 'success') {
      ctx.tail.line(`[lifeline] the scratch database ${scratch} is left behind: drop it by hand`);
      if (outcome.status === 'success') outcome = { ...dropped, status: 'warning' };
    }
  }
  if (outcome.status === 'success') ctx.tail.line(`[lifeline] restore drill of ${dump.name} passed in ${((Date.now() - started) / 1000).toFixed(1)}s`);
  return { ...outcome, ...ids };
}

async function restoreInto(ctx: Ctx, env: NodeJS.ProcessEnv, file: string, scratch: string): Promise<OperationOutcome> {
  const o = ctx.options;
  // The drill checks the data restores; owners and grants name roles the drill user may not be.
  const restored = await runTool(ctx, [bin(o, 'pg_restore'), ...conn(o), '--no-owner', '--no-acl', '-d', scratch, file], 'pg_restore failed', { env });
  if (restored.status !== 'success' || !o.sanityQuery) return restored;
  const out = new LastBytes(1024);
  const argv = [bin(o, 'psql'), ...conn(o), '-X', '-q', '-A', '-t', '-v', 'ON_ERROR_STOP=1', '-d', scratch, '-c', o.sanityQuery];
  const queried = await runTool(ctx, argv, 'the sanity query failed', { env, tailStdout: false, onStdout: (c) => out.push(c) });
  if (queried.status === 'success') ctx.tail.line(`[lifeline] sanity query result: ${out.text().trim().replace(/\n/g, ' | ')}`);
  return queried;
}

export const postgresDriver: Driver<PgOptions> = {
  name: 'postgres',
  options,
  secretFiles: (o) => (o.passFile ? [{ key: 'passFile', path: o.passFile }] : []),
  restoreFacts: (o) =>
    factsFrom('postgres', {
      dir: o.dir,
      database: o.database,
      all: o.all,
      compress: o.all ? (o.compress ?? 'zstd') : undefined,
      host: o.host,
      port: o.port,
      user: o.user,
      passFile: o.passFile,
      pgBin: o.pgBin,
    }),
  backup,
  inventory: async (ctx) => inventoryOf(ctx.options.dir, ctx.job.name, EXTS),
  prune: async (ctx) => pruneDumps(ctx, ctx.options.dir, EXTS),
  verify,
  restoreTest,
};
