import { existsSync, readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import type { AddressInfo } from 'node:net';
import { ConfigError } from '../shared/config-file';
import { formatDuration, parseDuration } from '../shared/duration';
import { NAME_RE } from '../shared/protocol';
import { visibleText } from '../shared/display-text';
import { VERSION } from '../shared/version';
import { onStopSignals } from '../shared/stop-signals';
import { listAgents } from './agents';
import { buildApp } from './app';
import { startEvaluatorWorker } from './evaluate/worker-host';
import { startHistoryPruner } from './history/service';
import { enableIncrementalVacuum } from './history/vacuum';
import { OutboxSender } from './notify/outbox';
import { scheduleReports } from './report-schedule';
import { startSelfCheck } from './self-check';
import { collectorHealth, selfWatchOf } from './self-watch';
import { DEFAULT_COLLECTOR_CONFIG, DEFAULT_DATABASE, loadCollectorConfig, parseListen, rulesConfig, tierPolicies, type CollectorConfig } from './config';
import { dbFailure, fullDisk, inspectDbFile, migrationCopies, openDb, recoveryAdvice, sqliteCode } from './db';
import { healthOf } from './db-health';
import { START_CHECK_WAIT_MS, checkAtStart, damagedFailure, dbCheck, dbRecover } from './db-repair';
import { createToken } from './tokens';
import { hashPassword } from './passwords';
import { certFingerprint, defaultTlsDir, generateSelfSigned, loadTls } from './tls';
import { formatOutcomes, sendTest } from './notify/test-send';

// Import-safe: nothing runs here; collector/main.ts is the entry point that calls main().

const USAGE = `Usage: lifeline-collector <command> [--config FILE]

Commands:
  serve                        run the collector (HTTP API, store); the systemd service
  token create NAME [--ttl D]  create a one-time enrollment token for agent NAME (default ttl: enrollTokenTtl)
                               and print the commands to run on that host
  tls generate [--dir DIR] [--san NAME]... [--force]
                               write a self-signed certificate and key (0600) for tls: (default dir: tls/ beside the database)
  tls fingerprint              print the SHA-256 fingerprint of tls.certFile (what agents pin)
  notify test [CHANNEL]        send a test notification through every notify channel (or one) and show the answers
  agents                       list known agents
  passwd USER                  print an access.usersFile line for USER (salted scrypt), the password read from stdin
  check-config                 validate the config file and exit
  db check [FILE]              check the database (default: the config's) with PRAGMA quick_check
  db recover [FILE [NEW]]      copy every readable row of a damaged database into NEW (default FILE.recovered)

Options:
  --config FILE   config file (default: $LIFELINE_CONFIG or ${DEFAULT_COLLECTOR_CONFIG})
  --ttl D         token lifetime, e.g. 30m, 24h, 7d
  -h, --help      show this help
  --version       print the version
`;

export interface Io {
  out: (text: string) => void;
  err: (text: string) => void;
  /** All of stdin (passwd reads the password there, never from argv). */
  stdin?: () => Promise<string>;
}

const processIo: Io = { out: (t) => process.stdout.write(t), err: (t) => process.stderr.write(t), stdin: () => readStdin() };

class UsageError extends Error {}

export async function main(argv: string[], io: Io = processIo): Promise<number> {
  let args;
  try {
    args = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        config: { type: 'string' },
        ttl: { type: 'string' },
        dir: { type: 'string' },
        san: { type: 'string', multiple: true },
        force: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
        version: { type: 'boolean' },
      },
    });
  } catch (err) {
    io.err(`${(err as Error).message}\n\n${USAGE}`);
    return 2;
  }
  const { values, positionals } = args;
  if (values.help) {
    io.out(USAGE);
    return 0;
  }
  if (values.version) {
    io.out(`${VERSION}\n`);
    return 0;
  }
  const configFile = values.config ?? process.env.LIFELINE_CONFIG ?? DEFAULT_COLLECTOR_CONFIG;
  const [command, ...rest] = positionals;
  try {
    switch (command) {
      case 'serve':
        noMoreArgs(rest);
        return await serve(loadCollectorConfig(configFile), io);
      case 'token':
        if (rest[0] !== 'create' || rest.length !== 2) throw new UsageError('expected: token create NAME [--ttl DURATION]');
        return tokenCreate(loadCollectorConfig(configFile), rest[1], values.ttl, io);
      case 'tls': {
        const [sub, ...more] = rest;
        noMoreArgs(more);
        if (sub === 'generate') return tlsGenerate(configFile, values, io);
        if (sub === 'fingerprint') return tlsFingerprint(loadCollectorConfig(configFile), io);
        throw new UsageError('expected: tls generate [--dir DIR] [--san NAME]... [--force], or tls fingerprint');
      }
      case 'notify': {
        const [sub, channel, ...more] = rest;
        if (sub !== 'test') throw new UsageError('expected: notify test [CHANNEL]');
        noMoreArgs(more);
        return await notifyTest(loadCollectorConfig(configFile), channel, io);
      }
      case 'agents':
        noMoreArgs(rest);
        return agents(loadCollectorConfig(configFile), io);
      case 'passwd':
        if (rest.length !== 1) throw new UsageError('expected: passwd USER (the password on stdin)');
        return await passwd(rest[0], io);
      case 'check-config':
        noMoreArgs(rest);
        loadCollectorConfig(configFile);
        io.out(`OK: ${configFile}\n`);
        return 0;
      case 'db': {
        const [sub, file, to, ...more] = rest;
        if (!(sub === 'check' && to === undefined) && sub !== 'recover') throw new UsageError('expected: db check [FILE] or db recover [FILE [NEW]]');
        noMoreArgs(more);
        const db = file ?? loadCollectorConfig(configFile).database;
        return sub === 'check' ? await dbCheck(db, io) : dbRecover(db, to ?? `${db}.recovered`, io);
      }
      case undefined:
        throw new UsageError('missing command');
      default:
        throw new UsageError(`unknown command ${JSON.stringify(command)}`);
    }
  } catch (err) {
    if (err instanceof UsageError) {
      io.err(`${err.message}\n\n${USAGE}`);
      return 2;
    }
    if (err instanceof ConfigError) {
      io.err(`${err.message}\n`);
      return 2;
    }
    io.err(`lifeline-collector: ${(err as Error).message}\n`);
    return 1;
  }
}

function noMoreArgs(rest: string[]): void {
  if (rest.length > 0) throw new UsageError(`unexpected argument ${JSON.stringify(rest[0])}`);
}

async function serve(config: CollectorConfig, io: Io): Promise<number> {
  const file = config.database;
  // Only a missing file is a first start. An existing one is checked (PRAGMA quick_check, waited
  // for a bounded time) before anything writes to it; damage found by then stops the start.
  // The certificate first: a broken pair stops the start before the database is touched.
  const tls = config.tls ? loadTls(config.tls) : null;
  const existing = inspectDbFile(file) === 'exists';
  const start = existing ? await checkAtStart(file) : null;
  let db;
  const copiedBefore = existing ? migrationCopies(file)[0]?.path : undefined;
  try {
    db = openDb(file);
  } catch (err) {
    start?.check.cancel();
    throw err;
  }
  // A database from before bounded history gives pruned space back only after one VACUUM: done now while it is cheap.
  if (enableIncrementalVacuum(db) === 'switched' && existing) io.out(`${file}: switched to incremental vacuum (pruned history gives its space back)\n`);
  const health = healthOf(db);
  let app;
  try {
    app = buildApp({ config, db, logger: true, ...(tls ? { https: { cert: tls.cert, key: tls.key } } : {}) });
  } catch (err) {
    start?.check.cancel();
    db.close();
    throw sqliteCode(err) ? dbFailure(file, err) : err;
  }
  const log = app.log;
  health.onProblem = (f) => log.error({ database: file, code: f.code }, f.kind === 'damaged' ? `${f.reason}\n${recoveryAdvice(file)}` : f.reason);
  const { host, port } = parseListen(config.listen)!;
  try {
    await app.listen({ host, port });
  } catch (err) {
    start?.check.cancel();
    await app.close();
    db.close();
    throw err;
  }
  const addr = app.server.address() as AddressInfo;
  const shown = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
  const scheme = tls ? `https://${shown}:${addr.port} (certificate SHA-256 ${tls.fingerprint})` : `http://${shown}:${addr.port}`;
  io.out(`lifeline-collector ${VERSION} listening on ${scheme} (database ${file}${existing ? '' : ', new'})\n`);
  // An upgrade migrated the database: where its copy from before is (openDb wrote it).
  const copied = existing ? migrationCopies(file)[0] : undefined;
  if (copied && copied.path !== copiedBefore) io.out(`migrated ${file} from schema ${copied.migration - 1}; its copy from before is ${copied.path}\n`);
  if (start && !start.finished) {
    log.warn(`the start check of ${file} (PRAGMA quick_check) is still running after ${START_CHECK_WAIT_MS / 1000} s; serving meanwhile, /healthz turns degraded if it finds damage`);
    void start.check.done.then((r) => {
      if (r.ok === false) health.note(damagedFailure(file, r.problems));
    });
  }
  const full = fullDisk(file);
  if (full) health.note({ kind: 'full', code: 'ENOSPC', reason: full, clears: 'space' });
  // The brain: evaluate the stored state on a timer, in a worker thread so a long pass never
  // delays ingest, and send what it queued in the outbox from here.
  const retry = { baseDelayMs: config.notifyRetry.base, maxDelayMs: config.notifyRetry.max, maxAttempts: config.notifyRetry.attempts };
  const watch = selfWatchOf(db);
  watch.arms = { evaluation: { everyMs: config.incidents.evaluateEvery, since: Date.now() }, outboxStuckMs: config.watchdog.outboxStuckAfter };
  const outbox = new OutboxSender({
    db,
    channels: config.notify,
    log: app.log,
    retry,
    intervalMs: Math.min(5000, config.notifyRetry.base),
    onOutcome: (channel, outcome) => watch.delivered(channel, outcome),
  });
  outbox.start();
  const evaluator = startEvaluatorWorker({
    data: {
      database: config.database,
      tiers: tierPolicies(config),
      rules: rulesConfig(config),
      channels: config.notify,
      publicUrl: config.publicUrl,
      reminderMs: config.incidents.reminder,
      flapMs: config.incidents.flap,
      everyMs: config.incidents.evaluateEvery,
      channelFailures: config.watchdog.channelFailures,
    },
    onQueued: () => outbox.poke(),
    onPass: (p) => watch.passed(p),
    onError: (err) => health.record(err),
    log: app.log,
  });
  const reports = scheduleReports(db, config, () => outbox.poke());
  // Bounded history: pruned hourly, in short steps between requests.
  const history = startHistoryPruner({ db, policy: config.history, log: app.log, onError: (err) => health.record(err) });
  const selfCheck = config.selfCheck
    ? startSelfCheck({ url: config.selfCheck.url, everyMs: config.selfCheck.every, health: () => collectorHealth(db, Date.now()), log: app.log })
    : null;

  return new Promise((resolve) => {
    const release = onStopSignals(
      (signal) => {
        io.err(`lifeline-collector: ${signal}, finishing in-flight requests\n`);
        for (const r of reports) r.stop();
        start?.check.cancel();
        // close() waits for in-flight requests; the DB is closed only after the last one is done.
        Promise.all([evaluator.stop(), outbox.stop(), app.close(), selfCheck?.stop(), history.stop()])
          .then(() => {
            db.close();
            return 0;
          })
          .catch((err: Error) => {
            io.err(`lifeline-collector: shutdown failed: ${err.message}\n`);
            db.close();
            return 1;
          })
          .then((code) => {
            release();
            resolve(code);
          });
      },
      (signal) => io.err(`lifeline-collector: ${signal} again: still closing the database, not interrupted (SIGKILL would leave it unmerged)\n`),
    );
  });
}

function tokenCreate(config: CollectorConfig, name: string, ttl: string | undefined, io: Io): number {
  if (!NAME_RE.test(name)) throw new UsageError(`invalid agent name ${JSON.stringify(name)}: letters, digits, ".", "_" or "-" (at most 64)`);
  let ttlMs = config.enrollTokenTtl;
  if (ttl !== undefined) {
    const parsed = parseDuration(ttl);
    if (parsed === null || parsed <= 0) throw new UsageError(`invalid --ttl ${JSON.stringify(ttl)}: expected a duration like 30m, 24h or 7d`);
    ttlMs = parsed;
  }
  const db = openDb(config.database);
  try {
    const { token, expiresAt } = createToken(db, name, ttlMs, Date.now());
    const url = config.publicUrl ?? collectorUrlHint(config.listen, config.tls !== undefined);
    // With HTTPS the agent pins this certificate from its first request on (the token travels inside TLS).
    const pin = config.tls ? ` --fingerprint ${certFingerprint(readFileSync(config.tls.certFile))}` : '';
    io.err(
      `Enrollment token for agent "${name}", single use, valid for ${formatDuration(ttlMs)} (until ${new Date(expiresAt).toISOString()}).\n` +
        `On that host, run:\n  lifeline-agent enroll ${url} ${token}${pin}\n` +
        (url.includes('THIS-COLLECTOR') ? `(replace THIS-COLLECTOR with this collector's address as the agent reaches it, or set publicUrl in the collector's config)\n` : ''),
    );
    io.out(`${token}\n`);
    return 0;
  } finally {
    db.close();
  }
}

function collectorUrlHint(listen: string, https: boolean): string {
  const { host, port } = parseListen(listen)!;
  const wildcard = host === '0.0.0.0' || host === '::';
  return `${https ? 'https' : 'http'}://${wildcard ? 'THIS-COLLECTOR' : host.includes(':') ? `[${host}]` : host}:${port}`;
}

function tlsGenerate(configFile: string, values: { dir?: string; san?: string[]; force?: boolean }, io: Io): number {
  // The database path places the default directory; without a config file, the packaged default.
  let database = DEFAULT_DATABASE;
  if (values.dir === undefined && existsSync(configFile)) database = loadCollectorConfig(configFile).database;
  const dir = values.dir ?? defaultTlsDir(database);
  const made = generateSelfSigned(dir, { names: values.san ?? [], force: values.force });
  io.err(
    `wrote ${made.certFile} and ${made.keyFile} (mode 0600, self-signed, valid 10 years) with openssl.\n` +
      `Serve HTTPS with it: add to ${configFile} and restart the collector:\n  tls:\n    certFile: ${made.certFile}\n    keyFile: ${made.keyFile}\n` +
      `Agents pin this SHA-256 fingerprint (token create prints it in the enroll command; for enrolled agents set agent.collectorFingerprint):\n`,
  );
  io.out(`${made.fingerprint}\n`);
  return 0;
}

function tlsFingerprint(config: CollectorConfig, io: Io): number {
  if (!config.tls) {
    io.err('no tls: section in the config: the collector serves plain HTTP (make a certificate with: lifeline-collector tls generate)\n');
    return 1;
  }
  io.out(`${certFingerprint(readFileSync(config.tls.certFile))}\n`);
  return 0;
}

async function notifyTest(config: CollectorConfig, only: string | undefined, io: Io): Promise<number> {
  const channels = only === undefined ? config.notify : config.notify.filter((c) => c.name === only);
  if (config.notify.length === 0) {
    io.err('no notify channels in the config (notify: in collector.yaml): nothing to test\n');
    return 1;
  }
  if (channels.length === 0) throw new UsageError(`no notify channel named ${JSON.stringify(only)}; configured: ${config.notify.map((c) => c.name).join(', ')}`);
  const outcomes = await sendTest(channels);
  io.out(formatOutcomes(outcomes));
  const failed = outcomes.filter((o) => !o.ok).length;
  if (failed > 0) io.err(`${failed} of ${outcomes.length} channel(s) failed\n`);
  return failed > 0 ? 1 : 0;
}

function agents(config: CollectorConfig, io: Io): number {
  const db = openDb(config.database);
  try {
    // The version is agent-supplied: an escape sequence in it must not drive the terminal.
    const rows = listAgents(db).map((a) => [
      visibleText(a.name),
      a.source,
      a.lastSeen === null ? 'never' : new Date(a.lastSeen).toISOString().replace(/\.\d+Z$/, 'Z'),
      a.version === null ? '-' : visibleText(a.version),
      String(a.jobs),
    ]);
    io.out(table(['NAME', 'SOURCE', 'LAST SEEN', 'VERSION', 'JOBS'], rows));
    return 0;
  } finally {
    db.close();
  }
}

function table(head: string[], rows: string[][]): string {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  return [head, ...rows].map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]))).join('  ')).join('\n') + '\n';
}

/** `passwd USER`: the password's first line from stdin (echo … | or a prompt-less paste), hashed. */
async function passwd(user: string, io: Io): Promise<number> {
  if (user === '' || user.includes(':') || /\s/.test(user)) throw new UsageError('passwd needs a user name without ":" or spaces');
  const password = (await (io.stdin ?? readStdin)()).split(/\r?\n/)[0];
  if (password === '') throw new UsageError('an empty password: give it on stdin, e.g. `lifeline-collector passwd alice < password-file`');
  io.out(`${user}:${await hashPassword(password)}\n`);
  return 0;
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}
