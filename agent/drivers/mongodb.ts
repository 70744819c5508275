import { readFileSync } from 'node:fs';
import type { z as Z } from 'zod';
import {
  absolutePath, finishDump, discardDump, dumpDir, inventoryOf, isDump, lines, newestDump, pruneDumps, registerPasswords, runTool,
  scratchDatabase, startDump,
} from './dump-files';
import { factsFrom, withoutPassword } from './restore-facts';
import type { Driver, DriverContext, OperationOutcome, Zod } from './types';

// `mongodump --archive=FILE --gzip`: one gzip stream holding every collection. The password
// lives in a YAML file passed as --config (mongodump/mongorestore ≥ 100.3), never in argv or
// the URI. Written from MongoDB's documentation: the tools are not installable here, and the
// tests run stand-ins (test/fixtures/mongodump/).
const uriWithPassword = /^mongodb(?:\+srv)?:\/\/[^@/]*:[^@/]*@/;
const options = (z: Zod) =>
  z
    .object({
      uri: z
        .string()
        .regex(/^mongodb(\+srv)?:\/\//, 'expected a mongodb:// or mongodb+srv:// URI')
        .refine((u) => !uriWithPassword.test(u), 'the URI must not hold a password: put "password:" in the file named by configFile')
        .optional(),
      configFile: absolutePath(z).optional(),
      database: z.string().min(1).regex(/^[^-]/, 'a database name cannot start with "-"').optional(),
      oplog: z.boolean().default(false),
      dir: dumpDir(z),
    })
    .strict()
    .refine((o) => !(o.oplog && o.database), { path: ['oplog'], message: 'mongodump --oplog dumps the whole deployment: it cannot be combined with "database"' });

type MongoOptions = Z.output<ReturnType<typeof options>>;
type Ctx = DriverContext<MongoOptions>;

const EXTS = ['archive.gz'];

/** Top-level `password:` and `uri:` of a mongodump --config file (plain or quoted scalars). */
export function mongoConfig(text: string): { password?: string; uri?: string } {
  const out: { password?: string; uri?: string } = {};
  for (const line of text.split('\n')) {
    const m = /^(password|uri)\s*:\s*(.*?)\s*$/.exec(line);
    if (m) out[m[1] as 'password' | 'uri'] = m[2].replace(/^(['"])(.*)\1$/, '$2');
  }
  return out;
}

function auth(ctx: Ctx): string[] {
  const o = ctx.options;
  if (o.configFile) registerPasswords(ctx, [mongoConfig(readFileSync(o.configFile, 'utf8')).password ?? '']);
  return [...(o.uri ? [`--uri=${o.uri}`] : []), ...(o.configFile ? [`--config=${o.configFile}`] : [])];
}

async function backup(ctx: Ctx): Promise<OperationOutcome> {
  const o = ctx.options;
  const dump = await startDump(ctx, o.dir, 'archive.gz');
  try {
    let documents = 0;
    let collections = 0;
    // "done dumping shop.orders (2000 documents)", one line per collection on stderr.
    const onStderr = lines((l) => {
      const m = /done dumping \S+ \((\d+) documents?\)/.exec(l);
      if (!m) return;
      documents += Number(m[1]);
      collections++;
    });
    const argv = ['mongodump', ...auth(ctx), ...(o.database ? [`--db=${o.database}`] : []), ...(o.oplog ? ['--oplog'] : []), `--archive=${dump.partial}`, '--gzip'];
    const dumped = await runTool(ctx, argv, 'mongodump failed', { onStderr });
    if (dumped.status !== 'success') return dumped;
    return finishDump(ctx, dump.partial, dump, `${documents} documents in ${collections} collections`);
  } finally {
    discardDump(dump);
  }
}

async function verify(ctx: Ctx): Promise<OperationOutcome> {
  const dump = newestDump(ctx.options.dir, ctx.job.name, EXTS);
  if (!isDump(dump)) return dump;
  const ids = { snapshotId: dump.name, bytesTotal: dump.bytes };
  // The whole archive is one gzip stream: its checksum catches truncation without a server.
  const gzip = await runTool(ctx, ['gzip', '-t', '--', dump.path], `${dump.name} is not a whole gzip stream`);
  if (gzip.status !== 'success') return { ...gzip, ...ids };
  const dry = await runTool(ctx, ['mongorestore', ...auth(ctx), '--dryRun', `--archive=${dump.path}`, '--gzip'], `mongorestore --dryRun rejects ${dump.name}`);
  if (dry.status === 'success') ctx.tail.line(`[lifeline] ${dump.name}: gzip intact, mongorestore --dryRun read it`);
  return { ...dry, ...ids };
}

async function restoreTest(ctx: Ctx): Promise<OperationOutcome> {
  const started = Date.now();
  const o = ctx.options;
  const dump = newestDump(o.dir, ctx.job.name, EXTS);
  if (!isDump(dump)) return dump;
  const ids = { snapshotId: dump.name, bytesTotal: dump.bytes };
  const scratch = scratchDatabase();
  // Every namespace is renamed into scratch databases (or excluded), so the drill can never
  // write into a real database, whatever the archive holds.
  const ns = o.database
    ? [`--nsInclude=${o.database}.*`, `--nsFrom=${o.database}.*`, `--nsTo=${scratch}.*`]
    : ['--nsExclude=admin.*', '--nsExclude=config.*', '--nsExclude=local.*', '--nsFrom=$db$.*', `--nsTo=${scratch}_$db$.*`];
  let failedDocs = 0;
  const onStderr = lines((l) => {
    const m = /(\d+) document\(s\) failed to restore/.exec(l);
    if (m) failedDocs = Number(m[1]);
  });
  let outcome = await runTool(ctx, ['mongorestore', ...auth(ctx), `--archive=${dump.path}`, '--gzip', ...ns], 'mongorestore failed', { onStderr });
  if (outcome.status === 'success' && failedDocs > 0) outcome = { status: 'failure', exitCode: 0, error: `mongorestore: ${failedDocs} document(s) failed to restore` };
  const dropped = await dropScratch(ctx, scratch);
  if (dropped.status !== 'success') {
    ctx.tail.line(`[lifeline] scratch databases named ${scratch}* may be left behind: drop them by hand`);
    if (outcome.status === 'success') outcome = { ...dropped, status: 'warning' };
  }
  if (outcome.status === 'success') ctx.tail.line(`[lifeline] restore drill of ${dump.name} passed in ${((Date.now() - started) / 1000).toFixed(1)}s`);
  return { ...outcome, ...ids };
}

/**
 * Best effort: mongosh has no --config, so the URI with the password goes through the
 * environment (not argv) to a script that drops the scratch databases.
 */
function dropScratch(ctx: Ctx, scratch: string): Promise<OperationOutcome> {
  const o = ctx.options;
  const cfg = o.configFile ? mongoConfig(readFileSync(o.configFile, 'utf8')) : {};
  let uri = o.uri ?? cfg.uri ?? 'mongodb://localhost:27017';
  if (cfg.password) uri = uri.replace(/^(mongodb(?:\+srv)?:\/\/)([^@/:]+)@/, (_, scheme: string, user: string) => `${scheme}${user}:${encodeURIComponent(cfg.password!)}@`);
  ctx.secret(uri);
  const script = `const m = new Mongo(process.env.LIFELINE_MONGO_URI); for (const n of m.getDBNames()) if (n === '${scratch}' || n.startsWith('${scratch}_')) { m.getDB(n).dropDatabase(); print('dropped ' + n); }`;
  return runTool(ctx, ['mongosh', '--nodb', '--quiet', '--eval', script], 'mongosh could not drop the scratch databases', { env: { ...ctx.env, LIFELINE_MONGO_URI: uri } });
}

export const mongodbDriver: Driver<MongoOptions> = {
  name: 'mongodb',
  options,
  secretFiles: (o) => (o.configFile ? [{ key: 'configFile', path: o.configFile }] : []),
  // The schema refuses a URI with a password; stripping it anyway keeps that a property of this function.
  restoreFacts: (o) =>
    factsFrom('mongodb', { dir: o.dir, uri: o.uri && withoutPassword(o.uri), configFile: o.configFile, database: o.database, oplog: o.oplog }),
  backup,
  inventory: async (ctx) => inventoryOf(ctx.options.dir, ctx.job.name, EXTS),
  prune: async (ctx) => pruneDumps(ctx, ctx.options.dir, EXTS),
  verify,
  restoreTest,
};
