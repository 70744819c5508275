import assert from 'node:assert/strict';
import { test } from 'node:test';
import { RateLimiter } from '../collector/rate-limit';

test('the token bucket allows a burst, then one request per refill interval', () => {
  const limiter = new RateLimiter(2, 3);
  // [time ms, expected seconds to wait (0 = allowed)]
  const steps: [number, number][] = [
    [0, 0], [0, 0], [0, 0], [0, 1],
    [499, 1], [500, 0], [500, 1],
    [10_000, 0], [10_000, 0], [10_000, 0], [10_000, 1],
  ];
  for (const [at, wait] of steps) assert.equal(limiter.take('pve1', at), wait, `at ${at}`);
});

test('each agent has its own bucket', () => {
  const limiter = new RateLimiter(1, 1);
  assert.equal(limiter.take('a', 0), 0);
  assert.equal(limiter.take('b', 0), 0);
  assert.equal(limiter.take('a', 0), 1);
});

test('Retry-After rounds up to whole seconds for slow rates', () => {
  const limiter = new RateLimiter(0.1, 1);
  limiter.take('a', 0);
  assert.equal(limiter.take('a', 0), 10);
});
