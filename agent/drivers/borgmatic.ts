import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import type { z as Z } from 'zod';
import {
  archivesFrom,
  BORG_WARNING_CODES,
  createNumbers,
  describeCreate,
  newest,
  parseJson,
  RestoreCheck,
  splitter,
  UTF8_LOCALE,
} from './borg-common';
import { factsFrom } from './restore-facts';
import { outcomeFromProcess, type Driver, type DriverContext, type ExecOptions, type OperationOutcome, type SnapshotInfo, type Zod } from './types';

// borgmatic runs the user's own config file as it is (1.7's sections or 1.8+'s flat keys): the
// repositories, passphrase, sources, retention and checks all come from it. Lifeline's
// `retention:` for such a job is only audited by the collector; prune applies borgmatic's own.
// backup, prune and verify act on every repository of the config, as borgmatic does;
// `repository` picks the one whose numbers, inventory and restore drill are reported.
const options = (z: Zod) =>
  z
    .object({
      config: z.string().refine((p) => p.startsWith('/'), 'expected an absolute path to a borgmatic config file').default('/etc/borgmatic/config.yaml'),
      repository: z.string().min(1).optional(),
      verbosity: z.int().min(-1, 'expected -1, 0, 1 or 2').max(2, 'expected -1, 0, 1 or 2').default(0),
    })
    .strict();

export type BorgmaticOptions = Z.output<ReturnType<typeof options>>;
type Ctx = DriverContext<BorgmaticOptions>;

// Values under these keys anywhere in the config (encryption_passphrase, database passwords,
// tokens of monitoring hooks) are redacted from logs; passcommands are not secrets.
const SECRET_KEY = /passphrase|password|secret|token|api_key/i;

function registerSecrets(ctx: Ctx): void {
  let doc: unknown;
  try {
    doc = parse(readFileSync(ctx.options.config, 'utf8'), { logLevel: 'silent' });
  } catch {
    return; // borgmatic reports its own config errors
  }
  const walk = (v: unknown, key = ''): void => {
    if (Array.isArray(v)) v.forEach((x) => walk(x, key));
    else if (v && typeof v === 'object') for (const [k, x] of Object.entries(v)) walk(x, k);
    else if (typeof v === 'string' && SECRET_KEY.test(key)) ctx.secret(v);
  };
  walk(doc);
}

/**
 * borgmatic logs to /dev/log when that exists and is not its console; on hosts without a
 * syslog socket (containers, CI) 1.7 even tries /var/run/log and prints a traceback per line.
 * A log file of /dev/null avoids syslog altogether: the log tail keeps the console output.
 */
function argv(ctx: Ctx, action: string[], verbosity = ctx.options.verbosity): string[] {
  return ['borgmatic', '--config', ctx.options.config, '--log-file', '/dev/null', '--no-color', '-v', String(verbosity), ...action];
}

const repoArg = (ctx: Ctx) => (ctx.options.repository ? ['--repository', ctx.options.repository] : []);

// Lines of borgmatic's stderr that repeat what another line says better.
const BOILERPLATE = /^(summary:$|Need some help\?|usage: |\s|.*: (Error running configuration file|Error running actions for repository|Successfully ran configuration file)$)/;

const PY_ESCAPES: Record<string, string> = { n: '\n', t: '\t', r: '\r' };

/** Reads borgmatic's stderr: its errors, and the exit status of every command that failed. */
class BorgmaticLog {
  readonly messages: string[] = [];
  readonly failed: { code: number; borgCreate: boolean }[] = [];
  /** borg create's JSON that borgmatic 1.7 shows only as a Python bytes literal when borg warned. */
  readonly results: unknown[] = [];
  invalidChoice = false;
  private readonly lines = splitter('\n', (line) => this.onLine(line), 64 * 1024);
  readonly push = (chunk: Buffer) => this.lines.push(chunk);
  end(): void {
    this.lines.end();
  }

  private onLine(line: string): void {
    const text = line.trimEnd();
    if (!text.trim()) return;
    if (/invalid choice: /.test(text)) this.invalidChoice = true;
    if (text.startsWith("b'{") && text.endsWith("'")) {
      const json = text.slice(2, -1).replace(/\\(x[0-9a-f]{2}|.)/g, (_, e: string) => (e[0] === 'x' ? String.fromCharCode(parseInt(e.slice(1), 16)) : (PY_ESCAPES[e] ?? e)));
      const doc = parseJson(json);
      if (doc !== undefined && this.results.length < 10) this.results.push(doc);
      return;
    }
    const m = /returned non-zero exit status (\d+)\.?$/.exec(text);
    if (m) {
      if (this.failed.length < 100) this.failed.push({ code: Number(m[1]), borgCreate: /^Command '\('[^']*borg[^']*', 'create'/.test(text) });
      return;
    }
    if (!BOILERPLATE.test(text) && this.messages.length < 10 && !this.messages.includes(text)) this.messages.push(text.slice(0, 500));
  }

  outcome(what: string, result: Parameters<typeof outcomeFromProcess>[0], tail: Ctx['tail']): OperationOutcome {
    const outcome = outcomeFromProcess(result);
    if (outcome.status === 'failure' && result.exitCode !== null) {
      outcome.error = `${what} failed (exit ${result.exitCode}): ${this.messages.slice(0, 3).join(' / ') || 'see the log'}`;
      tail.line(`[lifeline] ${outcome.error}`);
    }
    return outcome;
  }

  /**
   * borgmatic 1.7 runs `borg create --json` through a capture that raises on any non-zero exit,
   * so a borg warning (a missing or vanished source file) makes borgmatic exit 1 like an error
   * although the archive was written. It is a warning when every failed command was a borg
   * create that exited with one of borg's warning codes.
   */
  get onlyCreateWarnings(): boolean {
    return this.failed.length > 0 && this.failed.every((f) => f.borgCreate && BORG_WARNING_CODES.includes(f.code));
  }
}

async function borgmatic(ctx: Ctx, args: string[], extra: ExecOptions = {}) {
  registerSecrets(ctx);
  const log = new BorgmaticLog();
  const result = await ctx.exec(args, { env: { ...ctx.env, ...UTF8_LOCALE }, ...extra, onStderr: log.push });
  log.end();
  return { result, log };
}

/**
 * Runs an action with --json and returns the JSON documents it printed on stdout (borgmatic
 * prints one array, one borg result per repository); other stdout lines are its log.
 */
async function jsonAction(ctx: Ctx, action: string[], extra: ExecOptions = {}) {
  const docs: unknown[] = [];
  const lines = splitter('\n', (line) => {
    const text = line.trim();
    if (text.startsWith('[') || text.startsWith('{')) {
      try {
        docs.push(JSON.parse(text));
        return;
      } catch {
        // not JSON after all: keep it as log
      }
    }
    if (text) ctx.tail.line(line);
  }, 64 * 2 ** 20);
  const run = await borgmatic(ctx, argv(ctx, action), { ...extra, onStdout: lines.push, tailStdout: false });
  lines.end();
  const results = docs.flatMap((d) => (Array.isArray(d) ? d : [d]));
  return { ...run, results };
}

const sameRepository = (a: unknown, b: string) => typeof a === 'string' && a.replace(/\/+$/, '') === b.replace(/\/+$/, '');

/** The result for the configured repository, else the first (borgmatic lists them in config order). */
function pick(ctx: Ctx, results: unknown[]): unknown {
  const wanted = ctx.options.repository;
  if (!wanted || results.length <= 1) return results[0];
  const found = results.find((r) => sameRepository((r as { repository?: { location?: unknown } })?.repository?.location, wanted));
  if (!found) ctx.tail.line(`[lifeline] no result for repository ${wanted} in borgmatic's output; reporting the first repository`);
  return found ?? results[0];
}

/**
 * The archives of the selected repository: `rlist` since borgmatic 1.7, `repo-list` in 2.x,
 * plain `list` before 1.7; the first one this borgmatic knows is used. TZ=UTC makes borg's
 * zone-less times UTC.
 */
async function repositoryArchives(ctx: Ctx): Promise<{ archives: SnapshotInfo[]; repositories: number }> {
  for (const action of ['rlist', 'repo-list', 'list']) {
    const run = await jsonAction(ctx, [action, '--json', ...repoArg(ctx)], { env: { ...ctx.env, ...UTF8_LOCALE, TZ: 'UTC' } });
    if (run.result.exitCode !== 0 && run.log.invalidChoice) continue;
    const outcome = run.log.outcome(`borgmatic ${action}`, run.result, ctx.tail);
    if (outcome.status !== 'success') throw new Error(outcome.error);
    if (!run.results.length) throw new Error(`borgmatic ${action} printed no readable JSON`);
    return { archives: archivesFrom(pick(ctx, run.results)), repositories: run.results.length };
  }
  throw new Error('this borgmatic has no rlist, repo-list or list action');
}

/** `borgmatic list --archive` with a NUL-framed --format: records survive borgmatic's log lines around them. */
async function listArchive(ctx: Ctx, archive: string, fields: string, onRecord: (fields: string[]) => void, path?: string) {
  let inside = false;
  const records = splitter('\0', (piece) => {
    if (inside) onRecord(piece.split('\t'));
    inside = !inside;
  });
  const action = ['list', '--archive', archive, ...repoArg(ctx), ...(path ? ['--path', path] : []), '--format', `{NUL}${fields}{NUL}{NL}`];
  // Below verbosity 0 borgmatic hides the listing itself.
  const run = await borgmatic(ctx, argv(ctx, action, Math.max(0, ctx.options.verbosity)), { onStdout: records.push, tailStdout: false });
  records.end();
  return run.log.outcome('borgmatic list', run.result, ctx.tail);
}

export const borgmaticDriver: Driver<BorgmaticOptions> = {
  name: 'borgmatic',
  options,
  // The config may hold encryption_passphrase: it must exist at load and is treated as a secret.
  secretFiles: (o) => [{ key: 'config', path: o.config }],
  // The config names repositories and passphrase: borgmatic itself reads them at restore time.
  restoreFacts: (o) => factsFrom('borgmatic', { config: o.config, repository: o.repository }),

  async backup(ctx) {
    const run = await jsonAction(ctx, ['create', '--json']);
    let outcome: OperationOutcome;
    if (run.result.exitCode === 1 && !run.result.timedOut && run.log.onlyCreateWarnings) {
      outcome = { status: 'warning', exitCode: 1, error: `borg create finished with warnings: ${run.log.messages[0] ?? 'see the log'}` };
      ctx.tail.line(`[lifeline] ${outcome.error}`);
    } else outcome = run.log.outcome('borgmatic create', run.result, ctx.tail);
    const numbers = createNumbers(pick(ctx, run.results.length ? run.results : run.log.results));
    if (numbers.snapshotId) ctx.tail.line(describeCreate(numbers));
    return { ...outcome, ...numbers };
  },

  async inventory(ctx) {
    return (await repositoryArchives(ctx)).archives;
  },

  async prune(ctx) {
    ctx.tail.line(`[lifeline] pruning with the retention in ${ctx.options.config}; lifeline's retention for this job is only audited`);
    // prune only marks archives deleted (borg 1.2+); the space comes back with compact.
    const run = await borgmatic(ctx, argv(ctx, ['prune', 'compact']));
    return run.log.outcome('borgmatic prune', run.result, ctx.tail);
  },

  async verify(ctx) {
    // --force: lifeline schedules verification itself, so the config's check frequencies must not skip it.
    const run = await borgmatic(ctx, argv(ctx, ['check', '--force']));
    return run.log.outcome('borgmatic check', run.result, ctx.tail);
  },

  async restoreTest(ctx) {
    const { archives, repositories } = await repositoryArchives(ctx);
    if (repositories > 1 && !ctx.options.repository) {
      const error = 'the borgmatic config has several repositories: set borgmatic.repository to choose the one to restore from';
      ctx.tail.line(`[lifeline] ${error}`);
      return { status: 'failure', exitCode: null, error };
    }
    const latest = newest(archives);
    if (!latest) {
      const error = 'the repository has no archive to restore';
      ctx.tail.line(`[lifeline] ${error}`);
      return { status: 'failure', exitCode: null, error };
    }
    const archive = latest.id;
    const dir = ctx.scratchDir;
    const x = await borgmatic(ctx, argv(ctx, ['extract', '--archive', archive, ...repoArg(ctx), '--destination', dir]), { cwd: dir });
    const extracted = x.log.outcome('borgmatic extract', x.result, ctx.tail);
    if (extracted.status !== 'success') return { ...extracted, snapshotId: archive };

    const check = new RestoreCheck(dir);
    const listed = await listArchive(ctx, archive, '{type}{TAB}{mode}{TAB}{size}{TAB}{health}{TAB}{path}', ([type, mode, size, health, ...path]) => {
      // The path is last: a name may itself hold a tab.
      if (type && path.length) check.add({ type, mode, size: /^\d+$/.test(size) ? Number(size) : undefined, healthy: health !== 'broken', path: path.join('\t') });
    });
    if (listed.status !== 'success') return { ...listed, snapshotId: archive };

    const pattern = check.samplePattern();
    if (pattern) {
      const sums = new Map<string, string>();
      const hashed = await listArchive(ctx, archive, '{sha256}{TAB}{path}', ([sha, ...path]) => sha && sums.set(path.join('\t'), sha), pattern);
      if (hashed.status !== 'success') return { ...hashed, snapshotId: archive };
      await check.compareHashes(sums);
    }
    return check.outcome(archive, ctx.tail);
  },
};
