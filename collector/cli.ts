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
import { OutboxSender } from './notify/outbox';
import { scheduleReports } from './report-schedule';
import { DEFAULT_COLLECTOR_CONFIG, loadCollectorConfig, parseListen, rulesConfig, tierPolicies, type CollectorConfig } from './config';
import { dbFailure, fullDisk, inspectDbFile, openDb, recoveryAdvice, sqliteCode } from './db';
import { healthOf } from './db-health';
import { START_CHECK_WAIT_MS, checkAtStart, damagedFailure, dbCheck, dbRecover } from './db-repair';
import { createToken } from './tokens';

// Import-safe: nothing runs here; collector/main.ts is the entry point that calls main().

const USAGE = `Usage: lifeline-collector <command> [--config FILE]

Commands:
  serve                        run the collector (HTTP API, store); the systemd service
  token create NAME [--ttl D]  create a one-time enrollment token for agent NAME (default ttl: enrollTokenTtl)
  agents                       list known agents
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
}

const processIo: Io = { out: (t) => process.stdout.write(t), err: (t) => process.stderr.write(t) };

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
      case 'agents':
        noMoreArgs(rest);
        return agents(loadCollectorConfig(configFile), io);
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
  const existing = inspectDbFile(file) === 'exists';
  const start = existing ? await checkAtStart(file) : null;
  let db;
  try {
    db = openDb(file);
  } catch (err) {
    start?.check.cancel();
    throw err;
  }
  const health = healthOf(db);
  let app;
  try {
    app = buildApp({ config, db, logger: true });
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
  io.out(`lifeline-collector ${VERSION} listening on http://${shown}:${addr.port} (database ${file}${existing ? '' : ', new'})\n`);
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
  const outbox = new OutboxSender({ db, channels: config.notify, log: app.log, retry, intervalMs: Math.min(5000, config.notifyRetry.base) });
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
    },
    onQueued: () => outbox.poke(),
    onError: (err) => health.record(err),
    log: app.log,
  });
  const reports = scheduleReports(db, config, () => outbox.poke());

  return new Promise((resolve) => {
    const release = onStopSignals(
      (signal) => {
        io.err(`lifeline-collector: ${signal}, finishing in-flight requests\n`);
        for (const r of reports) r.stop();
        start?.check.cancel();
        // close() waits for in-flight requests; the DB is closed only after the last one is done.
        Promise.all([evaluator.stop(), outbox.stop(), app.close()])
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
    const url = config.publicUrl ?? collectorUrlHint(config.listen);
    io.err(
      `Enrollment token for agent "${name}", single use, valid for ${formatDuration(ttlMs)} (until ${new Date(expiresAt).toISOString()}).\n` +
        `On that host run: lifeline-agent enroll ${url} TOKEN\n`,
    );
    io.out(`${token}\n`);
    return 0;
  } finally {
    db.close();
  }
}

function collectorUrlHint(listen: string): string {
  const { host, port } = parseListen(listen)!;
  const wildcard = host === '0.0.0.0' || host === '::';
  return `http://${wildcard ? 'THIS-COLLECTOR' : host.includes(':') ? `[${host}]` : host}:${port}`;
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
