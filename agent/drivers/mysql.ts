import { readFileSync } from 'node:fs';
import type { z as Z } from 'zod';
import {
  absolutePath, finishDump, compressionOf, compressPartial, discardDump, dumpDir, fileEnd, findInPath, inventoryOf, isDump, lastLine,
  LastBytes, newestDump, pipelineOutcome, pruneDumps, readDumpEnd, registerPasswords, runPipeline, runTool, scratchDatabase, startDump,
} from './dump-files';
import { factsFrom } from './restore-facts';
import type { Driver, DriverContext, OperationOutcome, Zod } from './types';

// One database with mariadb-dump or mysqldump (plain SQL, optionally compressed). Credentials
// come from a MySQL option file passed as --defaults-extra-file, never argv. Both tools exit 2
// on errors ("Got error: 1045 …"), yet a dump cut short can still exit 0: only the closing
// "-- Dump completed" line proves it is whole.
const options = (z: Zod) =>
  z
    .object({
      database: z.string({ error: 'expected the name of the database to dump' }).min(1).regex(/^[^-]/, 'a database name cannot start with "-"'),
      host: z.string().min(1).optional(),
      port: z.int().min(1).max(65535).optional(),
      socket: absolutePath(z).optional(),
      user: z.string().min(1).optional(),
      optionsFile: absolutePath(z).optional(),
      dir: dumpDir(z),
      compress: z.enum(['zstd', 'gzip', 'none']).default('none'),
      sanityQuery: z.string().min(1).optional(),
      dumpBin: z.enum(['mariadb-dump', 'mysqldump']).optional(),
    })
    .strict();

type MysqlOptions = Z.output<ReturnType<typeof options>>;
type Ctx = DriverContext<MysqlOptions>;

const EXTS = ['sql', 'sql.gz', 'sql.zst'];
const COMPLETED = /^-- Dump completed/;

function conn(ctx: Ctx): string[] {
  const o = ctx.options;
  const args: string[] = [];
  if (o.optionsFile) {
    registerPasswords(ctx, optionFilePasswords(readFileSync(o.optionsFile, 'utf8')));
    // The client tools only honour --defaults-extra-file as their very first argument.
    args.push(`--defaults-extra-file=${o.optionsFile}`);
  }
  if (o.host) args.push(`--host=${o.host}`);
  if (o.port) args.push(`--port=${o.port}`);
  if (o.socket) args.push(`--socket=${o.socket}`);
  if (o.user) args.push(`--user=${o.user}`);
  return args;
}

/** `password = …` values of a MySQL option file (any group, quotes removed). */
export function optionFilePasswords(text: string): string[] {
  const out: string[] = [];
  for (const line of text.split('\n')) {
    const m = /^\s*password\s*=\s*(.*?)\s*$/.exec(line);
    if (m) out.push(m[1].replace(/^(['"])(.*)\1$/, '$2'));
  }
  return out;
}

/** The dump tool and its client: the configured one, else whichever is installed. */
function tools(ctx: Ctx): { dump: string; client: string } | OperationOutcome {
  const dump = ctx.options.dumpBin ?? findInPath(['mariadb-dump', 'mysqldump'], ctx.env);
  if (!dump) return { status: 'failure', exitCode: null, error: 'neither mariadb-dump nor mysqldump is in PATH' };
  return { dump, client: dump === 'mariadb-dump' ? 'mariadb' : 'mysql' };
}

const dumpIsComplete = (end: string) => COMPLETED.test(lastLine(end));
const INCOMPLETE = 'does not end with "-- Dump completed": it was cut short';

async function backup(ctx: Ctx): Promise<OperationOutcome> {
  const o = ctx.options;
  const t = tools(ctx);
  if (!('client' in t)) return t;
  const dump = await startDump(ctx, o.dir, { none: 'sql', gzip: 'sql.gz', zstd: 'sql.zst' }[o.compress]);
  try {
    const argv = [t.dump, ...conn(ctx), '--single-transaction', '--routines', '--triggers', '--events', `--result-file=${dump.partial}`, o.database];
    const dumped = await runTool(ctx, argv, `${t.dump} failed`);
    if (dumped.status !== 'success') return dumped;
    if (!dumpIsComplete(fileEnd(dump.partial))) return { status: 'failure', exitCode: 0, error: `the dump ${INCOMPLETE}` };
    const packed = await compressPartial(ctx, dump.partial, o.compress);
    if (packed.outcome.status !== 'success') return packed.outcome;
    return finishDump(ctx, packed.path, dump);
  } finally {
    discardDump(dump);
  }
}

async function verify(ctx: Ctx): Promise<OperationOutcome> {
  const dump = newestDump(ctx.options.dir, ctx.job.name, EXTS);
  if (!isDump(dump)) return dump;
  const ids = { snapshotId: dump.name, bytesTotal: dump.bytes };
  const read = await readDumpEnd(ctx, dump);
  if ('outcome' in read) return { ...read.outcome, ...ids };
  if (!dumpIsComplete(read.end)) {
    ctx.tail.line(`[lifeline] ${dump.name} ends with: ${lastLine(read.end).slice(0, 200)}`);
    return { status: 'failure', exitCode: null, error: `${dump.name} ${INCOMPLETE}`, ...ids };
  }
  ctx.tail.line(`[lifeline] ${dump.name}: read to its end: ${lastLine(read.end)}`);
  return { status: 'success', exitCode: 0, ...ids };
}

async function restoreTest(ctx: Ctx): Promise<OperationOutcome> {
  const started = Date.now();
  const o = ctx.options;
  const t = tools(ctx);
  if (!('client' in t)) return t;
  const dump = newestDump(o.dir, ctx.job.name, EXTS);
  if (!isDump(dump)) return dump;
  const ids = { snapshotId: dump.name, bytesTotal: dump.bytes };
  // A dump cut between two statements would load without an error; compressed ones fail in
  // the decompressor instead.
  if (compressionOf(dump.name) === 'none' && !dumpIsComplete(fileEnd(dump.path))) {
    return { status: 'failure', exitCode: null, error: `${dump.name} ${INCOMPLETE}`, ...ids };
  }
  const scratch = scratchDatabase();
  const sql = (statement: string, what: string) => runTool(ctx, [t.client, ...conn(ctx), '--batch', '-e', statement], what);
  const created = await sql(`CREATE DATABASE \`${scratch}\``, `cannot create the scratch database ${scratch}`);
  if (created.status !== 'success') return { ...created, ...ids };
  let outcome: OperationOutcome = { status: 'failure', exitCode: null, error: 'the restore drill was interrupted' };
  try {
    // The dump streams into the client's stdin; compressed dumps through the decompressor.
    const how = compressionOf(dump.name);
    const stages = [...(how === 'none' ? [] : [[how, '-dc']]), [t.client, ...conn(ctx), '--batch', scratch]];
    outcome = pipelineOutcome(await runPipeline(ctx, stages, dump.path, started + ctx.job.timeoutMs, ctx.env), 'loading the dump failed');
    if (outcome.status === 'success' && o.sanityQuery) {
      const out = new LastBytes(1024);
      const argv = [t.client, ...conn(ctx), '--batch', '--skip-column-names', scratch, '-e', o.sanityQuery];
      outcome = await runTool(ctx, argv, 'the sanity query failed', { tailStdout: false, onStdout: (c) => out.push(c) });
      if (outcome.status === 'success') ctx.tail.line(`[lifeline] sanity query result: ${out.text().trim().replace(/\n/g, ' | ')}`);
    }
  } finally {
    const dropped = await sql(`DROP DATABASE IF EXISTS \`${scratch}\``, `cannot drop the scratch database ${scratch}`);
    if (dropped.status !== 'success') {
      ctx.tail.line(`[lifeline] the scratch database ${scratch} is left behind: drop it by hand`);
      if (outcome.status === 'success') outcome = { ...dropped, status: 'warning' };
    }
  }
  if (outcome.status === 'success') ctx.tail.line(`[lifeline] restore drill of ${dump.name} passed in ${((Date.now() - started) / 1000).toFixed(1)}s`);
  return { ...outcome, ...ids };
}

export const mysqlDriver: Driver<MysqlOptions> = {
  name: 'mysql',
  options,
  secretFiles: (o) => (o.optionsFile ? [{ key: 'optionsFile', path: o.optionsFile }] : []),
  restoreFacts: (o) =>
    factsFrom('mysql', {
      dir: o.dir,
      database: o.database,
      compress: o.compress,
      host: o.host,
      port: o.port,
      socket: o.socket,
      user: o.user,
      optionsFile: o.optionsFile,
      // Without dumpBin the tool is found in PATH at run time; the runbook then assumes MariaDB.
      client: o.dumpBin === 'mysqldump' ? 'mysql' : o.dumpBin === 'mariadb-dump' ? 'mariadb' : undefined,
    }),
  backup,
  inventory: async (ctx) => inventoryOf(ctx.options.dir, ctx.job.name, EXTS),
  prune: async (ctx) => pruneDumps(ctx, ctx.options.dir, EXTS),
  verify,
  restoreTest,
};
