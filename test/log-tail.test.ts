import assert from 'node:assert/strict';
import { test } from 'node:test';
import { LogTail } from '../agent/log-tail';

test('keeps only the last bytes of a long output, marking the cut', () => {
  const tail = new LogTail(1024);
  for (let i = 0; i < 10_000; i++) tail.write(`line ${i}\n`);
  const text = tail.toString();
  assert.ok(Buffer.byteLength(text) < 1100);
  assert.match(text, /^\[… earlier output truncated …\]\n/);
  assert.match(text, /line 9999\n$/);
});

test('redacts registered secrets, also when they were written across chunks', () => {
  const tail = new LogTail();
  tail.addSecret('hunter2-s3cret\n');
  tail.write('password is hunter2');
  tail.write('-s3cret, again hunter2-s3cret');
  assert.equal(tail.toString(), 'password is [REDACTED], again [REDACTED]');
});

test('drops the partial first line after truncation so a cut secret cannot leak', () => {
  const tail = new LogTail(32);
  tail.addSecret('ABCDEFGHIJKLMNOP');
  tail.write('x'.repeat(10) + 'ABCDEFGHIJKLMNOP' + '\nok line\n');
  assert.equal(tail.toString(), '[… earlier output truncated …]\nok line\n');
});
