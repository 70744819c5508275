import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chownSync, chmodSync, existsSync, mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { freePort, tempDir, waitFor } from './processes';

// Real PostgreSQL 15 and MariaDB servers on loopback, each in its own temp dir, with a
// password-protected user owning a small database `shop` (customers, orders, audit: a few
// thousand rows). Tests run as root: postgres refuses that, so it runs as the `postgres` user.

export interface DbServer {
  kind: 'postgres' | 'mariadb';
  dir: string;
  host: '127.0.0.1';
  port: number;
  /** The unprivileged owner of `database`, authenticated by `password`. */
  user: string;
  password: string;
  database: string;
  /** Runs SQL as the server's superuser over its unix socket; returns unaligned rows. */
  query(sql: string, database?: string): string;
  /** Database names on the server. */
  databases(): string[];
  stop(): Promise<void>;
  start(): Promise<void>;
  /** Stops the server and removes its directory. */
  destroy(): Promise<void>;
}

const PG_BIN = '/usr/lib/postgresql/15/bin';
const PASSWORD = 'Sekr1t-pw-7f3a9c';

function run(argv: string[], opts: { input?: string; env?: NodeJS.ProcessEnv } = {}): string {
  const r = spawnSync(argv[0], argv.slice(1), { encoding: 'utf8', input: opts.input, env: opts.env, timeout: 60_000 });
  if (r.status !== 0) throw new Error(`${argv.join(' ')} failed (${r.status}): ${r.stderr}${r.stdout}`);
  return r.stdout;
}

const asPostgres = (argv: string[]) => ['runuser', '-u', 'postgres', '--', ...argv];

const TABLES = `CREATE TABLE customers (id int PRIMARY KEY, name text NOT NULL, email text NOT NULL);
CREATE TABLE orders (id int PRIMARY KEY, customer_id int NOT NULL REFERENCES customers(id), total numeric(10,2) NOT NULL);
CREATE TABLE audit (id int PRIMARY KEY, note text NOT NULL);`;

export async function startPostgres(): Promise<DbServer> {
  const dir = tempDir('lifeline-pg-');
  chownSync(dir, uid('postgres'), gid('postgres'));
  const data = join(dir, 'data');
  run(asPostgres([`${PG_BIN}/initdb`, '-D', data, '-U', 'postgres', '--auth-local=trust', '--auth-host=scram-sha-256', '-E', 'UTF8', '--no-sync']));
  const port = await freePort();
  const psql = (sql: string, database = 'postgres') =>
    run(asPostgres(['psql', '-X', '-q', '-At', '-v', 'ON_ERROR_STOP=1', '-h', dir, '-p', String(port), '-U', 'postgres', '-d', database]), { input: sql });
  const server: DbServer = {
    kind: 'postgres', dir, host: '127.0.0.1', port, user: 'lifeline', password: PASSWORD, database: 'shop',
    query: psql,
    databases: () => psql('SELECT datname FROM pg_database').trim().split('\n'),
    async start() {
      run(asPostgres([`${PG_BIN}/pg_ctl`, '-D', data, '-l', join(dir, 'server.log'), '-w', '-o',
        `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off -c shared_buffers=16MB`, 'start']));
    },
    async stop() {
      run(asPostgres([`${PG_BIN}/pg_ctl`, '-D', data, '-m', 'fast', '-w', 'stop']));
    },
    async destroy() {
      if (existsSync(join(data, 'postmaster.pid'))) await server.stop().catch(() => undefined);
      rmSync(dir, { recursive: true, force: true });
    },
  };
  await server.start();
  psql(`CREATE ROLE lifeline LOGIN CREATEDB PASSWORD '${PASSWORD}'; CREATE DATABASE shop OWNER lifeline;`);
  psql(`SET ROLE lifeline;
${TABLES}
INSERT INTO customers SELECT g, 'customer ' || g, 'c' || g || '@example.org' FROM generate_series(1, 2000) g;
INSERT INTO orders SELECT g, 1 + g % 2000, (g % 997) / 10.0 FROM generate_series(1, 2000) g;
INSERT INTO audit SELECT g, repeat(md5(g::text), 4) FROM generate_series(1, 2000) g;`, 'shop');
  return server;
}

export async function startMariadb(): Promise<DbServer> {
  const dir = tempDir('lifeline-mariadb-');
  const data = join(dir, 'data');
  const socket = join(dir, 'mysqld.sock');
  mkdirSync(data);
  chmodSync(dir, 0o755);
  run(['mariadb-install-db', '--no-defaults', `--datadir=${data}`, '--user=root', '--auth-root-authentication-method=normal', '--skip-test-db']);
  const port = await freePort();
  const sql = (text: string, database?: string) =>
    run(['mariadb', '--no-defaults', `--socket=${socket}`, '-uroot', '--batch', '--skip-column-names', ...(database ? [database] : [])], { input: text });
  let proc: ChildProcess | undefined;
  const server: DbServer = {
    kind: 'mariadb', dir, host: '127.0.0.1', port, user: 'lifeline', password: PASSWORD, database: 'shop',
    query: sql,
    databases: () => sql('SHOW DATABASES').trim().split('\n'),
    async start() {
      const child = spawn('mariadbd', [
        '--no-defaults', `--datadir=${data}`, `--socket=${socket}`, `--port=${port}`, '--bind-address=127.0.0.1', '--user=root',
        `--pid-file=${join(dir, 'mysqld.pid')}`, `--log-error=${join(dir, 'error.log')}`, '--skip-log-bin', '--innodb-buffer-pool-size=16M',
        '--innodb-log-file-size=8M', '--innodb-flush-log-at-trx-commit=0', '--skip-name-resolve',
      ], { stdio: 'ignore' });
      proc = child;
      const exited = new Promise<void>((r) => child.once('exit', () => r()));
      await Promise.race([
        waitFor('mariadbd to accept connections', () => spawnSync('mariadb-admin', ['--no-defaults', `--socket=${socket}`, '-uroot', 'ping']).status === 0, 30_000),
        exited.then(() => { throw new Error(`mariadbd exited at start; see ${join(dir, 'error.log')}`); }),
      ]);
    },
    async stop() {
      const child = proc;
      if (!child || child.exitCode !== null) return;
      const gone = new Promise<void>((r) => child.once('exit', () => r()));
      child.kill('SIGTERM');
      const kill = setTimeout(() => child.kill('SIGKILL'), 30_000);
      await gone;
      clearTimeout(kill);
      proc = undefined;
    },
    async destroy() {
      await server.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  await server.start();
  // --skip-name-resolve: TCP clients from 127.0.0.1 match the numeric host only.
  sql(`CREATE DATABASE shop;
CREATE USER 'lifeline'@'127.0.0.1' IDENTIFIED BY '${PASSWORD}';
GRANT ALL ON shop.* TO 'lifeline'@'127.0.0.1';
GRANT ALL ON \`lifeline\\_drill\\_%\`.* TO 'lifeline'@'127.0.0.1';`);
  // Seeded as the user itself: routines and triggers name it as DEFINER, so it can dump and load them.
  run(['mariadb', '--no-defaults', '--host=127.0.0.1', `--port=${port}`, '--user=lifeline', 'shop'], {
    env: { ...process.env, MYSQL_PWD: PASSWORD },
    input: `${TABLES}
INSERT INTO customers SELECT seq, CONCAT('customer ', seq), CONCAT('c', seq, '@example.org') FROM seq_1_to_2000;
INSERT INTO orders SELECT seq, 1 + seq % 2000, (seq % 997) / 10.0 FROM seq_1_to_2000;
INSERT INTO audit SELECT seq, REPEAT(MD5(seq), 4) FROM seq_1_to_2000;
CREATE TRIGGER audit_note BEFORE INSERT ON audit FOR EACH ROW SET NEW.note = TRIM(NEW.note);
CREATE PROCEDURE order_count() SELECT COUNT(*) FROM orders;`,
  });
  return server;
}

function uid(user: string): number {
  return Number(run(['id', '-u', user]).trim());
}

function gid(user: string): number {
  return Number(run(['id', '-g', user]).trim());
}
