import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import Database from 'better-sqlite3';
import { syncConfigAgents } from '../collector/agents';
import { openDb } from '../collector/db';
import { createIngest } from '../collector/ingest';
import { MIGRATIONS, SCHEMA_VERSION } from '../collector/migrations';
import type { Message } from '../shared/protocol';
import { TestAgent, catalogJob, heartbeat, hello, run, tempDir } from './collector-helpers';
import { COLLECTOR_BIN, Proc, freePort, waitFor } from './helpers/processes';

// Issue 10, defects 8 and 9 (collector part): a damaged, emptied, unwritable or full database
// must stop the collector at start with the file named and what to do, and at run time turn
// /healthz degraded and ingest into "503, retry later" (the agent keeps its spool), never a
// collector serving 500s behind a green health check. Every case runs the built collector on
// a real file; full and read-only disks are real tmpfs mounts (the tests run as root).

const PAGE = 4096;

interface Setup {
  dir: string;
  db: string;
  config: string;
  url: string;
  agent: TestAgent;
}

async function setup(opts: { dir?: string; db?: string; extraYaml?: string } = {}): Promise<Setup> {
  const dir = opts.dir ?? tempDir();
  const db = opts.db ?? join(dir, 'lifeline.db');
  const port = await freePort();
  const agent = new TestAgent('pve1');
  const config = join(tempDir(), 'collector.yaml');
  writeFileSync(config, `listen: 127.0.0.1:${port}\ndatabase: ${db}\nagents:\n  - { name: pve1, publicKey: "${agent.publicKey}" }\n${opts.extraYaml ?? ''}`);
  return { dir, db, config, url: `http://127.0.0.1:${port}`, agent };
}

/** Stores a hello with 20 jobs and `runs` finished runs through the collector's own ingest, as serve would. */
function seed(s: Setup, runs = 400): void {
  const db = openDb(s.db);
  syncConfigAgents(db, [{ name: s.agent.name, publicKey: s.agent.publicKey }], Date.now());
  const agentId = db.prepare('SELECT id FROM agents WHERE name = ?').pluck().get(s.agent.name) as number;
  const ingest = createIngest(db);
  const jobs = Array.from({ length: 20 }, (_, i) => catalogJob(`job-${i}`));
  ingest(agentId, [s.agent.msg(hello(jobs))], Date.now());
  for (let done = 0; done < runs; done += 100) {
    const batch: Message[] = [];
    for (let i = done; i < Math.min(runs, done + 100); i++) batch.push(s.agent.msg(run(`job-${i % 20}`, randomUUID(), { logTail: `line ${i}\n`.repeat(120) })));
    ingest(agentId, batch, Date.now());
  }
  db.close();
}

function overwrite(file: string, offset: number, bytes: Buffer): void {
  const fd = openSync(file, 'r+');
  try {
    writeSync(fd, bytes, 0, bytes.length, offset);
  } finally {
    closeSync(fd);
  }
}

const quickCheck = (file: string) => {
  const db = new Database(file, { readonly: true });
  try {
    return db.pragma('quick_check', { simple: true });
  } catch (err) {
    return (err as Error).message;
  } finally {
    db.close();
  }
};

function serve(s: Setup): Proc {
  return new Proc(COLLECTOR_BIN, ['serve', '--config', s.config]);
}

/** Runs serve and expects it to exit on its own (not to be found listening). */
async function refusedStart(s: Setup): Promise<{ code: number | null; output: string }> {
  const proc = serve(s);
  let timer: NodeJS.Timeout | undefined;
  const code = await Promise.race([proc.exited, new Promise<'still running'>((r) => (timer = setTimeout(() => r('still running'), 20_000)))]);
  clearTimeout(timer);
  if (code === 'still running') {
    await proc.stop('SIGKILL');
    assert.fail(`the collector started instead of refusing:\n${proc.output}`);
  }
  return { code, output: proc.output };
}

async function started(s: Setup): Promise<Proc> {
  const proc = serve(s);
  await waitFor(`collector on ${s.url}`, async () => {
    if (proc.child.exitCode !== null) throw new Error(`exited ${proc.child.exitCode}: ${proc.output}`);
    return (await fetch(`${s.url}/healthz`).catch(() => null)) !== null;
  });
  return proc;
}

const noStackTrace = (output: string) => assert.doesNotMatch(output, /\n\s+at \S+ \(/, output);

async function post(s: Setup, messages: Message[]) {
  const r = s.agent.report({ messages });
  const res = await fetch(`${s.url}${r.url}`, { method: 'POST', body: new Uint8Array(r.payload), headers: r.headers });
  return { status: res.status, retryAfter: res.headers.get('retry-after'), body: (await res.json()) as { error?: { code: string; message: string } } };
}

async function healthz(s: Setup) {
  const res = await fetch(`${s.url}/healthz`);
  return { status: res.status, body: (await res.json()) as { ok: boolean; reason?: string } };
}

/** A tmpfs of `size` mounted on a fresh directory, unmounted when the test ends. */
function tmpfs(t: TestContext, size: string): string {
  const dir = join(tempDir(), 'mnt');
  mkdirSync(dir);
  execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', dir]);
  t.after(() => {
    execFileSync('umount', ['-l', dir]);
  });
  return dir;
}

/** Fills the filesystem holding `dir` to the last byte. */
function fill(dir: string): string {
  const file = join(dir, 'filler');
  const fd = openSync(file, 'w');
  const chunk = Buffer.alloc(64 * 1024, 1);
  try {
    for (;;) writeSync(fd, chunk);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err;
  }
  try {
    // The tail smaller than a chunk.
    for (;;) writeSync(fd, chunk, 0, 512);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err;
  } finally {
    closeSync(fd);
  }
  return file;
}

const canMount = process.getuid?.() === 0;

test('a page overwritten in the middle of a populated database: serve refuses to start, naming the file and how to recover', async () => {
  const s = await setup();
  seed(s);
  const pages = statSync(s.db).size / PAGE;
  overwrite(s.db, Math.floor(pages / 2) * PAGE, Buffer.alloc(PAGE, 0xff));
  assert.notEqual(quickCheck(s.db), 'ok', 'the damage is one quick_check sees');
  const before = readFileSync(s.db);
  const { code, output } = await refusedStart(s);
  assert.equal(code, 1, output);
  assert.match(output, new RegExp(`${s.db} is damaged`), output);
  assert.match(output, /quick_check/);
  assert.doesNotMatch(output, /listening on/);
  noStackTrace(output);
  assert.ok(before.equals(readFileSync(s.db)), 'the damaged file is left as it was');

  // The advice works as printed: recover, move the damaged files aside, start again.
  const step = (n: number) => new RegExp(`^  ${n}\\. .*?:  (.+)$`, 'm').exec(output)?.[1];
  const recover = step(1);
  const swap = step(2);
  assert.match(recover ?? '', new RegExp(`^lifeline-collector db recover ${s.db} ${s.db}\\.recovered$`), output);
  const recovered = execFileSync('sh', ['-c', recover!.replace(/^lifeline-collector/, `${process.execPath} ${COLLECTOR_BIN}`)], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  assert.match(recovered, /rows lost in 1 table/);
  execFileSync('sh', ['-c', swap!]);
  const proc = await started(s);
  try {
    assert.deepEqual(await healthz(s), { status: 200, body: { ok: true } });
    const status = (await (await fetch(`${s.url}/api/v1/status`)).json()) as { agents: unknown[]; jobs: unknown[] };
    assert.equal(status.agents.length, 1);
    assert.equal(status.jobs.length, 20);
  } finally {
    assert.equal(await proc.stop(), 0, proc.output);
  }
});

test('a damaged header: serve exits 1 naming the file, not only "file is not a database"', async () => {
  const s = await setup();
  seed(s, 100);
  overwrite(s.db, 0, Buffer.alloc(100, 0x41));
  const { code, output } = await refusedStart(s);
  assert.equal(code, 1, output);
  assert.match(output, new RegExp(`${s.db} is not a SQLite database`), output);
  assert.match(output, /restore your own backup of it, after moving the damaged files aside:  mkdir /);
  noStackTrace(output);
});

test('a database file emptied to 0 bytes is refused, not silently re-created as a new database', async () => {
  const s = await setup();
  seed(s, 100);
  writeFileSync(s.db, '');
  rmSync(`${s.db}-wal`, { force: true });
  const { code, output } = await refusedStart(s);
  assert.equal(code, 1, output);
  assert.match(output, new RegExp(`${s.db} is empty \\(0 bytes\\)`), output);
  assert.equal(statSync(s.db).size, 0, 'still empty: nothing was initialised over it');
  assert.equal(existsSync(`${s.db}-wal`), false);
  noStackTrace(output);
});

test('a database path that is a directory is refused with the path named', async () => {
  const s = await setup();
  mkdirSync(s.db);
  const { code, output } = await refusedStart(s);
  assert.equal(code, 1, output);
  assert.match(output, new RegExp(`${s.db} is a directory`), output);
  noStackTrace(output);
});

test('a database on a read-only filesystem: serve exits 1 naming the path and the cause', { skip: !canMount && 'needs root for mount' }, async (t) => {
  const mnt = tmpfs(t, '8m');
  const s = await setup({ dir: mnt });
  seed(s, 50);
  execFileSync('mount', ['-o', 'remount,ro', mnt]);
  const { code, output } = await refusedStart(s);
  assert.equal(code, 1, output);
  assert.match(output, new RegExp(`${s.db}.*read-only file system`), output);
  assert.doesNotMatch(output, /^lifeline-collector: (unable to open database file|attempt to write a readonly database)$/m);
  noStackTrace(output);
});

test('a start on a full disk names the filesystem and the database, and leaves no empty file behind', { skip: !canMount && 'needs root for mount' }, async (t) => {
  const mnt = tmpfs(t, '2m');
  const s = await setup({ dir: mnt });
  // A first start: nothing is created on a disk with no room.
  const filler = fill(mnt);
  const first = await refusedStart(s);
  assert.equal(first.code, 1, first.output);
  assert.match(first.output, new RegExp(`no space left on ${mnt}: the filesystem holding ${s.db} is full`), first.output);
  assert.equal(existsSync(s.db), false, 'no 0-byte database left to be refused at the next start');
  noStackTrace(first.output);
  // An existing database on a disk that filled up while the collector was stopped.
  rmSync(filler);
  seed(s, 50);
  fill(mnt);
  const again = await refusedStart(s);
  assert.equal(again.code, 1, again.output);
  assert.match(again.output, new RegExp(`no space left on ${mnt}: the filesystem holding ${s.db} is full`), again.output);
  noStackTrace(again.output);
});

test('a disk that fills up while running: ingest answers 503 E_CANNOT_STORE with Retry-After, /healthz degraded, both recover once space is freed', { skip: !canMount && 'needs root for mount' }, async (t) => {
  const mnt = tmpfs(t, '8m');
  const s = await setup({ dir: mnt });
  const proc = await started(s);
  t.after(() => proc.stop('SIGKILL'));
  assert.equal((await post(s, [s.agent.msg(hello([catalogJob('job-0')]))])).status, 200);
  const filler = fill(mnt);
  const batch = Array.from({ length: 10 }, () => s.agent.msg(run('job-0', randomUUID(), { logTail: randomUUID().repeat(1000) })));
  const refused = await post(s, batch);
  assert.equal(refused.status, 503, JSON.stringify(refused.body));
  assert.equal(refused.body.error?.code, 'E_CANNOT_STORE');
  assert.match(refused.body.error!.message, /cannot store reports now: .*no space left/);
  assert.match(refused.retryAfter ?? '', /^\d+$/);
  const degraded = await healthz(s);
  assert.equal(degraded.status, 503);
  assert.equal(degraded.body.ok, false);
  assert.match(degraded.body.reason ?? '', new RegExp(`no space left on ${mnt}: the filesystem holding ${s.db} is full`));

  rmSync(filler);
  const stored = await post(s, batch);
  assert.equal(stored.status, 200, JSON.stringify(stored.body));
  assert.deepEqual(stored.body, { accepted: 10, duplicates: 0 });
  assert.deepEqual(await healthz(s), { status: 200, body: { ok: true } });
  assert.equal(await proc.stop(), 0, proc.output);
});

test('corruption while running: the status API fails with 503 E_DATABASE, /healthz turns degraded and stays so, ingest is refused with 503', async (t) => {
  const s = await setup();
  seed(s, 200);
  const raw = new Database(s.db, { readonly: true });
  const jobsRoot = raw.prepare(`SELECT rootpage FROM sqlite_schema WHERE name = 'jobs'`).pluck().get() as number;
  raw.close();
  const proc = await started(s);
  t.after(() => proc.stop('SIGKILL'));
  assert.deepEqual(await healthz(s), { status: 200, body: { ok: true } });
  overwrite(s.db, (jobsRoot - 1) * PAGE, Buffer.alloc(PAGE, 0xff));

  const status = await fetch(`${s.url}/api/v1/status`);
  assert.equal(status.status, 503);
  assert.equal(((await status.json()) as { error: { code: string } }).error.code, 'E_DATABASE');
  for (let i = 0; i < 2; i++) {
    const h = await healthz(s);
    assert.equal(h.status, 503);
    assert.equal(h.body.ok, false);
    assert.match(h.body.reason ?? '', new RegExp(`${s.db} is damaged`));
  }
  const refused = await post(s, [s.agent.msg(heartbeat())]);
  assert.equal(refused.status, 503);
  assert.equal(refused.body.error?.code, 'E_CANNOT_STORE');
  assert.match(refused.retryAfter ?? '', /^\d+$/);
  assert.match(proc.output, /damaged/);
});

test('damage that only the evaluator meets turns /healthz degraded after its pass, with no request failing', async (t) => {
  const s = await setup({ extraYaml: 'incidents: { evaluateEvery: 1s }\n' });
  seed(s, 200);
  const raw = new Database(s.db, { readonly: true });
  const jobStateRoot = raw.prepare(`SELECT rootpage FROM sqlite_schema WHERE name = 'job_state'`).pluck().get() as number;
  raw.close();
  const proc = await started(s);
  t.after(() => proc.stop('SIGKILL'));
  overwrite(s.db, (jobStateRoot - 1) * PAGE, Buffer.alloc(PAGE, 0xff));
  // A write by another connection makes the evaluator's connection drop its cached pages. Not an
  // HTTP request: the evaluator may meet the damage first, and ingest then rightly refuses (503).
  const poke = new Database(s.db);
  poke.exec('CREATE TABLE poke (x); DROP TABLE poke;');
  poke.close();
  const degraded = await waitFor('/healthz degraded', async () => {
    const h = await healthz(s);
    return h.status === 503 ? h : null;
  });
  assert.match(degraded.body.reason ?? '', new RegExp(`${s.db} is damaged`));
  assert.match(proc.output, /evaluation failed/);
});

test('before migrating an existing database, a consistent copy is written beside it; only the latest two are kept', () => {
  const dir = tempDir();
  const file = join(dir, 'lifeline.db');
  const old = SCHEMA_VERSION - 1;
  const raw = new Database(file);
  raw.pragma('journal_mode = WAL');
  for (const m of MIGRATIONS.slice(0, old)) {
    if (typeof m === 'string') raw.exec(m);
    else m(raw);
  }
  raw.pragma(`user_version = ${old}`);
  raw.prepare(`INSERT INTO agents (name, public_key, source, created_at) VALUES ('pve1', 'k', 'config', 0)`).run();
  raw.close();
  for (const n of [1, 2]) writeFileSync(`${file}.before-migration-${n}`, 'older copy');

  openDb(file).close();

  const copy = `${file}.before-migration-${SCHEMA_VERSION}`;
  const saved = new Database(copy, { readonly: true });
  assert.equal(saved.pragma('user_version', { simple: true }), old);
  assert.equal(saved.prepare('SELECT name FROM agents').pluck().get(), 'pve1');
  assert.equal(saved.pragma('quick_check', { simple: true }), 'ok');
  saved.close();
  assert.deepEqual(
    readdirSync(dir).filter((f) => f.includes('before-migration')).sort(),
    [`lifeline.db.before-migration-${SCHEMA_VERSION}`, 'lifeline.db.before-migration-2'].sort(),
  );
  // Opening again migrates nothing, so no copy is made.
  openDb(file).close();
  assert.equal(readdirSync(dir).filter((f) => f.includes('before-migration')).length, 2);
});
