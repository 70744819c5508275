import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parsePingPath, parseRid, pingOutcome, redactIntakePath } from '../collector/checks/ping';
import { periodSchedule } from '../collector/checks/schema';
import { boundedLog } from '../collector/checks/store';

// The pure parts of the Healthchecks-compatible ping API (hc/api/urls.py, views.py;
// shared/REFERENCE-INTEGRATIONS.md §9), as tables.

const U = '5f0c7d2e-8a41-4b3e-9f6a-1c2d3e4f5a6b';

test('ping paths: the UUID and slug forms, their suffixes, exit statuses and refusals', () => {
  const cases: [string, unknown][] = [
    [U, { by: 'id', id: U, action: 'success', exitStatus: null }],
    [U.toUpperCase(), { by: 'id', id: U, action: 'success', exitStatus: null }],
    [`${U}/`, { by: 'id', id: U, action: 'success', exitStatus: null }],
    [`${U}/start`, { by: 'id', id: U, action: 'start', exitStatus: null }],
    [`${U}/fail`, { by: 'id', id: U, action: 'fail', exitStatus: null }],
    [`${U}/log`, { by: 'id', id: U, action: 'log', exitStatus: null }],
    [`${U}/0`, { by: 'id', id: U, action: 'success', exitStatus: 0 }],
    [`${U}/1`, { by: 'id', id: U, action: 'fail', exitStatus: 1 }],
    [`${U}/255`, { by: 'id', id: U, action: 'fail', exitStatus: 255 }],
    [`${U}/256`, { by: 'id', id: U, action: 'fail', exitStatus: 256, refusal: { status: 400, body: 'invalid url format' } }],
    [`${U}/-1`, { status: 404, body: 'not found' }],
    [`${U}/start/extra`, { status: 404, body: 'not found' }],
    [`${U}/STAR`, { status: 404, body: 'not found' }],
    ['key_1/nightly-db', { by: 'slug', key: 'key_1', slug: 'nightly-db', action: 'success', exitStatus: null }],
    ['key_1/nightly-db/start', { by: 'slug', key: 'key_1', slug: 'nightly-db', action: 'start', exitStatus: null }],
    ['key_1/nightly-db/2', { by: 'slug', key: 'key_1', slug: 'nightly-db', action: 'fail', exitStatus: 2 }],
    ['key_1/Nightly', { by: 'slug', key: 'key_1', slug: 'Nightly', action: 'success', exitStatus: null, refusal: { status: 400, body: 'invalid url format' } }],
    ['key_1/nightly.db', { status: 404, body: 'not found' }],
    ['only-one-part', { status: 404, body: 'not found' }],
    ['', { status: 404, body: 'not found' }],
  ];
  for (const [path, want] of cases) assert.deepEqual(parsePingPath(path), want, path);
});

test('rid: absent, a canonical UUID in either case, or 400 invalid uuid format', () => {
  assert.deepEqual(parseRid(undefined), { rid: null });
  assert.deepEqual(parseRid(U.toUpperCase()), { rid: U });
  for (const bad of ['', 'abc', `${U}x`, U.replace(/-/g, ''), ['a', 'b']]) assert.deepEqual(parseRid(bad), { status: 400, body: 'invalid uuid format' }, String(bad));
});

test('completion pings: success and /0 succeed, /fail and /1-255 fail with the status kept', () => {
  assert.deepEqual(pingOutcome('success', null), { status: 'success', exitCode: null });
  assert.deepEqual(pingOutcome('success', 0), { status: 'success', exitCode: 0 });
  assert.deepEqual(pingOutcome('fail', null), { status: 'failure', exitCode: null, error: 'the check reported a failure (/fail ping)' });
  assert.deepEqual(pingOutcome('fail', 137), { status: 'failure', exitCode: 137, error: 'the check reported exit status 137' });
});

test('logged URLs never carry a whole check id, ping key or intake id', () => {
  const cases: [string, string][] = [
    [`/ping/${U}`, '/ping/5f0c7d2e-REDACTED'],
    [`/ping/${U}/start?rid=${U}`, `/ping/5f0c7d2e-REDACTED/start?rid=${U}`],
    ['/ping/s3cret-key/nightly-db/fail', '/ping/REDACTED/nightly-db/fail'],
    [`/intake/proxmox/${U}`, '/intake/proxmox/5f0c7d2e-REDACTED'],
    [`/intake/duplicati/${U}?x=1`, '/intake/duplicati/5f0c7d2e-REDACTED?x=1'],
    ['/api/v1/status', '/api/v1/status'],
  ];
  for (const [url, want] of cases) assert.equal(redactIntakePath(url), want, url);
});

test('a period is the cron slot grid it divides; other periods have none', () => {
  const MIN = 60_000;
  const cases: [number, string | null][] = [
    [MIN, '* * * * *'],
    [5 * MIN, '*/5 * * * *'],
    [7 * MIN, null],
    [60 * MIN, '0 * * * *'],
    [6 * 60 * MIN, '0 */6 * * *'],
    [5 * 60 * MIN, null],
    [24 * 60 * MIN, '0 0 * * *'],
    [7 * 24 * 60 * MIN, '0 0 * * 0'],
    [2 * 24 * 60 * MIN, null],
    [90_000, null],
  ];
  for (const [ms, want] of cases) assert.equal(periodSchedule(ms), want, String(ms));
});

test('a kept body is its end, marked when cut', () => {
  assert.equal(boundedLog('short', 10), 'short');
  assert.equal(boundedLog('0123456789abc', 10), '...\n789abc');
  assert.equal(boundedLog('0123456789abc', 10).length, 10);
});
