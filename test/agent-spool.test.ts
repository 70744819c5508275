import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, readdirSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { nextDelay } from '../agent/backoff';
import { acquireLock, withLockSync } from '../agent/file-lock';
import { Spool } from '../agent/spool';
import type { RunMessage, Unsequenced } from '../shared/protocol';
import { tempDir as tempDirWith } from './helpers/temp';

const WRITER = fileURLToPath(new URL('./fixtures/spool-writer.ts', import.meta.url));
const tempDir = () => tempDirWith('lifeline-spool-');

const heartbeat = (n = 0): Unsequenced => ({ kind: 'heartbeat', uptimeMs: n, spool: { pending: 0, dropped: 0 } });
const jsonFiles = (dir: string) => readdirSync(dir).filter((f) => /^\d{20}\.json$/.test(f));

function writer(dir: string, args: string[]): { child: ChildProcess; line: (text: string) => Promise<void> } {
  const child = spawn(process.execPath, ['--import', 'tsx', WRITER, dir, ...args], { stdio: ['pipe', 'pipe', 'inherit'] });
  let out = '';
  const waiters: Array<() => void> = [];
  child.stdout!.on('data', (chunk) => {
    out += chunk;
    waiters.splice(0).forEach((w) => w());
  });
  const line = (text: string) =>
    new Promise<void>((resolve, reject) => {
      const check = () => (out.includes(`${text}\n`) ? resolve() : waiters.push(check));
      child.once('exit', (code) => reject(new Error(`writer exited (${code}) before printing ${text}`)));
      check();
    });
  return { child, line };
}

describe('Spool', () => {
  test('seqs strictly increase across Spool instances on the same dir', () => {
    const dir = tempDir();
    const seqs: number[] = [];
    for (let i = 0; i < 3; i++) {
      const spool = new Spool(dir, { maxBytes: 1e9, agent: 'a1' });
      for (let j = 0; j < 5; j++) seqs.push(spool.append(heartbeat()).seq);
    }
    assert.deepEqual(seqs, [...seqs].sort((a, b) => a - b));
    assert.equal(new Set(seqs).size, seqs.length);
  });

  test('append fills agent, seq and sentAt, starting from the clock ×1000 on an empty dir', () => {
    const dir = tempDir();
    const before = Date.now() * 1000;
    const msg = new Spool(dir, { maxBytes: 1e9, agent: 'pve1' }).append(heartbeat(7));
    assert.equal(msg.agent, 'pve1');
    assert.ok(msg.seq >= before && msg.seq <= Date.now() * 1000, `seq ${msg.seq}`);
    assert.ok(!Number.isNaN(Date.parse(msg.sentAt)));
    assert.deepEqual(JSON.parse(readFileSync(join(dir, `${String(msg.seq).padStart(20, '0')}.json`), 'utf8')), msg);
  });

  test('seqs keep increasing after the counter file is lost', () => {
    const dir = tempDir();
    const first = new Spool(dir, { maxBytes: 1e9, agent: 'a1' }).append(heartbeat()).seq;
    rmSync(join(dir, 'seq'));
    const second = new Spool(dir, { maxBytes: 1e9, agent: 'a1' }).append(heartbeat()).seq;
    assert.ok(second > first);
  });

  test('pending returns messages oldest first and ack deletes them, tolerating already-deleted ones', () => {
    const spool = new Spool(tempDir(), { maxBytes: 1e9, agent: 'a1' });
    const sent = [1, 2, 3].map((n) => spool.append(heartbeat(n)));
    const pending = spool.pending(10);
    assert.deepEqual(pending.map((p) => p.message), sent);
    assert.ok(pending.every((p) => p.bytes === Buffer.byteLength(JSON.stringify(p.message))));
    assert.deepEqual(spool.pending(2).map((p) => p.seq), [sent[0].seq, sent[1].seq]);
    spool.ack([sent[0].seq, sent[0].seq, 12345]);
    assert.deepEqual(spool.pending(10).map((p) => p.seq), [sent[1].seq, sent[2].seq]);
    assert.equal(spool.stats().pending, 2);
  });

  test('a message appended by another Spool instance is seen by pending', () => {
    const dir = tempDir();
    const reader = new Spool(dir, { maxBytes: 1e9, agent: 'a1' });
    const msg = new Spool(dir, { maxBytes: 1e9, agent: 'a1' }).append(heartbeat());
    assert.deepEqual(reader.pending(10).map((p) => p.seq), [msg.seq]);
  });

  test('pending keeps seq order when another instance appended between our appends', () => {
    const dir = tempDir();
    const a = new Spool(dir, { maxBytes: 1e9, agent: 'a1' });
    const b = new Spool(dir, { maxBytes: 1e9, agent: 'a1' });
    const seqs = [1, 2, 3, 4, 5].map((n) => a.append(heartbeat(n)).seq);
    a.pending(2);
    seqs.push(b.append(heartbeat(6)).seq, a.append(heartbeat(7)).seq);
    const drained: number[] = [];
    for (let batch = a.pending(2); batch.length > 0; batch = a.pending(2)) {
      drained.push(...batch.map((p) => p.seq));
      a.ack(batch.map((p) => p.seq));
    }
    assert.deepEqual(drained, seqs);
  });

  test('over maxBytes the oldest messages are dropped and counted', () => {
    const dir = tempDir();
    const size = Buffer.byteLength(JSON.stringify(new Spool(tempDir(), { maxBytes: 1e9, agent: 'a1' }).append(heartbeat(1000))));
    const spool = new Spool(dir, { maxBytes: size * 3 + 10, agent: 'a1' });
    const seqs = Array.from({ length: 10 }, (_, i) => spool.append(heartbeat(1000 + i)).seq);
    assert.deepEqual(spool.pending(100).map((p) => p.seq), seqs.slice(-3));
    const stats = spool.stats();
    assert.equal(stats.dropped, 7);
    assert.equal(stats.pending, 3);
    assert.ok(stats.bytes <= size * 3 + 10);
    assert.equal(new Spool(dir, { maxBytes: 1e9, agent: 'a1' }).stats().dropped, 7, 'the dropped count is persisted');
  });

  test('a corrupt file is moved to rejected/ and the others are still returned', () => {
    const dir = tempDir();
    const spool = new Spool(dir, { maxBytes: 1e9, agent: 'a1' });
    const good = spool.append(heartbeat());
    const later = spool.append(heartbeat());
    const badName = `${String(good.seq - 1).padStart(20, '0')}.json`;
    writeFileSync(join(dir, badName), '{"kind":"heart');
    assert.deepEqual(spool.pending(10).map((p) => p.seq), [good.seq, later.seq]);
    assert.ok(existsSync(join(dir, 'rejected', badName)));
    assert.match(readFileSync(join(dir, 'rejected', `${badName}.reason`), 'utf8'), /not a JSON message/);
    assert.ok(!existsSync(join(dir, badName)));
  });

  test('reject moves the message to rejected/ with its reason', () => {
    const dir = tempDir();
    const spool = new Spool(dir, { maxBytes: 1e9, agent: 'a1' });
    const msg = spool.append(heartbeat());
    spool.reject(msg.seq, 'collector said 400 invalid_field');
    const name = `${String(msg.seq).padStart(20, '0')}.json`;
    assert.deepEqual(spool.pending(10), []);
    assert.deepEqual(JSON.parse(readFileSync(join(dir, 'rejected', name), 'utf8')), msg);
    assert.match(readFileSync(join(dir, 'rejected', `${name}.reason`), 'utf8'), /collector said 400 invalid_field/);
  });

  test('tmp files older than a minute are deleted and young ones kept', () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'old.json.1.abc.tmp'), '{');
    writeFileSync(join(dir, 'young.json.1.abc.tmp'), '{');
    const old = new Date(Date.now() - 120_000);
    utimesSync(join(dir, 'old.json.1.abc.tmp'), old, old);
    const spool = new Spool(dir, { maxBytes: 1e9, agent: 'a1' });
    assert.deepEqual(spool.pending(10), []);
    assert.ok(!existsSync(join(dir, 'old.json.1.abc.tmp')));
    assert.ok(existsSync(join(dir, 'young.json.1.abc.tmp')));
  });

  test('two processes appending 500 each concurrently produce 1000 messages with unique seqs', async () => {
    const dir = tempDir();
    const writers = ['w1', 'w2'].map((id) => writer(dir, ['500', id, '--wait-go']));
    await Promise.all(writers.map((w) => w.line('ready')));
    writers.forEach((w) => w.child.stdin!.write('go\n'));
    const codes = await Promise.all(writers.map((w) => once(w.child, 'exit').then(([code]) => code)));
    assert.deepEqual(codes, [0, 0]);
    const spool = new Spool(dir, { maxBytes: 1e9, agent: 'a1' });
    const pending = spool.pending(2000);
    assert.equal(jsonFiles(dir).length, 1000);
    assert.equal(pending.length, 1000);
    assert.equal(new Set(pending.map((p) => p.seq)).size, 1000);
    const jobs = pending.map((p) => (p.message as RunMessage).job);
    assert.equal(jobs.filter((j) => j === 'w1').length, 500);
    const switches = jobs.filter((j, i) => i > 0 && j !== jobs[i - 1]).length;
    assert.ok(switches > 1, `the two writers' appends interleave (${switches} switches)`);
  });

  test('after kill -9 of appending processes the spool holds only complete messages and the lock is free', async (t) => {
    const dir = tempDir();
    let lockLeft = 0;
    for (let round = 0; round < 6; round++) {
      const w = writer(dir, ['0', `k${round}`]);
      await w.line('appending');
      await new Promise((r) => setTimeout(r, 5 + Math.random() * 150));
      w.child.kill('SIGKILL');
      await once(w.child, 'exit');
      if (existsSync(join(dir, 'seq.lock'))) lockLeft++;
    }
    t.diagnostic(`${lockLeft} of 6 kills left seq.lock behind`);
    const spool = new Spool(dir, { maxBytes: 1e9, agent: 'a1' });
    const files = jsonFiles(dir);
    const pending = spool.pending(1e6);
    assert.ok(files.length >= 6);
    assert.equal(pending.length, files.length, 'every file parses');
    assert.ok(!existsSync(join(dir, 'rejected')), 'nothing was quarantined');
    const seqs = pending.map((p) => p.seq);
    assert.equal(new Set(seqs).size, seqs.length);
    assert.ok(pending.every((p) => p.message.seq === p.seq && p.message.kind === 'run'));
    const started = Date.now();
    const msg = spool.append(heartbeat());
    assert.ok(Date.now() - started < 1000, `append took ${Date.now() - started} ms`);
    assert.ok(msg.seq > Math.max(...seqs));
  });
});

describe('file lock', () => {
  test('a held lock is refused to a second taker and free again after release', () => {
    const path = join(tempDir(), 'job.lock');
    const lock = acquireLock(path);
    assert.ok(lock);
    assert.equal(acquireLock(path), null);
    lock.release();
    const again = acquireLock(path);
    assert.ok(again);
    again.release();
    assert.ok(!existsSync(path));
  });

  test('a lock left by a dead process is taken over', async () => {
    const path = join(tempDir(), 'job.lock');
    const child = spawn(process.execPath, ['-e', '']);
    await once(child, 'exit');
    writeFileSync(path, `${child.pid}\nwhatever\n`);
    const lock = acquireLock(path);
    assert.ok(lock);
    assert.equal(readFileSync(path, 'utf8').split('\n')[0], String(process.pid));
    lock.release();
  });

  test('a lock whose pid now belongs to another process (pid reuse) is taken over', () => {
    const path = join(tempDir(), 'job.lock');
    const boot = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
    writeFileSync(path, `${process.pid}\n${boot}:1\n`); // our pid, but a start time that is not ours
    const lock = acquireLock(path);
    assert.ok(lock);
    lock.release();
  });

  test('a lock held by a killed but not yet reaped (zombie) process is taken over', async () => {
    const path = join(tempDir(), 'job.lock');
    // The forked child exits at once; its Python parent never waits for it, so it stays a zombie.
    const parent = spawn('python3', ['-c', 'import os, time\npid = os.fork()\nif pid == 0: os._exit(0)\nprint(pid, flush=True)\ntime.sleep(5)']);
    const [line] = (await once(parent.stdout!, 'data')) as [Buffer];
    const pid = Number(line.toString().trim());
    const state = () => readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1][0];
    for (let i = 0; i < 100 && state() !== 'Z'; i++) await new Promise((r) => setTimeout(r, 10));
    assert.equal(state(), 'Z');
    writeFileSync(path, `${pid}\nwhatever\n`);
    const lock = acquireLock(path);
    parent.kill();
    assert.ok(lock);
    lock.release();
  });

  test('an unparseable lock file is taken over only once it is a few seconds old', () => {
    const path = join(tempDir(), 'job.lock');
    writeFileSync(path, '');
    assert.equal(acquireLock(path), null);
    const old = new Date(Date.now() - 10_000);
    utimesSync(path, old, old);
    const lock = acquireLock(path);
    assert.ok(lock);
    lock.release();
  });

  test('release leaves alone a lock file that another process now holds', () => {
    const path = join(tempDir(), 'job.lock');
    const lock = acquireLock(path)!;
    writeFileSync(path, `1\nother\n`);
    lock.release();
    assert.equal(readFileSync(path, 'utf8'), '1\nother\n');
  });

  test('withLockSync throws after waitMs while a live process holds the lock', () => {
    const path = join(tempDir(), 'seq.lock');
    const held = acquireLock(path)!;
    const started = Date.now();
    assert.throws(() => withLockSync(path, () => 1, { waitMs: 100 }), /could not lock .* within 100 ms: process \d+ holds it/);
    assert.ok(Date.now() - started >= 100);
    held.release();
    assert.equal(withLockSync(path, () => 42, { waitMs: 100 }), 42);
    assert.ok(!existsSync(path));
  });
});

describe('nextDelay', () => {
  const table: Array<[attempt: number, random: number, expected: number]> = [
    [1, 0, 0],
    [1, 0.5, 50],
    [1, 0.999, 99],
    [2, 0.5, 100],
    [3, 0.5, 200],
    [4, 0.999, 799],
    [10, 0.5, 500], // capped: 100·2^9 > 1000
    [1000, 0.999, 999],
    [Infinity, 0.5, 500],
    [0, 0.5, 50], // below 1 counts as the first retry
    [NaN, 0.5, 50],
  ];
  for (const [attempt, random, expected] of table) {
    test(`attempt ${attempt} with random ${random} waits ${expected} ms (base 100, cap 1000)`, () => {
      assert.equal(nextDelay(attempt, { baseMs: 100, capMs: 1000, random: () => random }), expected);
    });
  }

  test('delays stay within [0, min(cap, base·2^(attempt-1))) with Math.random', () => {
    for (let attempt = 1; attempt <= 30; attempt++) {
      const ceiling = Math.min(300_000, 1000 * 2 ** (attempt - 1));
      for (let i = 0; i < 200; i++) {
        const d = nextDelay(attempt, { baseMs: 1000, capMs: 300_000 });
        assert.ok(d >= 0 && d < ceiling && Number.isInteger(d), `attempt ${attempt}: ${d}`);
      }
    }
  });
});
