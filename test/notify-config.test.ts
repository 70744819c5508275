import assert from 'node:assert/strict';
import { test } from 'node:test';
import { notifyConfigSchema } from '../collector/notify/config';

test('parses one entry per channel type with routing keys kept apart from options', () => {
  const parsed = notifyConfigSchema.parse([
    { type: 'ntfy', url: 'https://ntfy.example/backups', tokenFile: '/etc/lifeline/ntfy.token', minSeverity: 'warning', tiers: [1, 2] },
    { type: 'apprise-api', url: 'http://apprise:8000/notify/backups', tag: 'phone', events: ['open', 'resolved'] },
    { type: 'apprise-cli', urlsFile: '/etc/lifeline/apprise.txt', assets: ['home'] },
    { name: 'hook', type: 'webhook', url: 'http://127.0.0.1:9/hook' },
  ]);
  assert.deepEqual(
    parsed.map((c) => c.name),
    ['ntfy', 'apprise-api', 'apprise-cli', 'hook'],
  );
  assert.deepEqual(parsed[0], { name: 'ntfy', type: 'ntfy', options: { url: 'https://ntfy.example/backups', tokenFile: '/etc/lifeline/ntfy.token' }, minSeverity: 'warning', tiers: [1, 2] });
  assert.deepEqual(parsed[2].options, { urlsFile: '/etc/lifeline/apprise.txt', command: 'apprise' });
  assert.ok(Object.isFrozen(parsed[0]));
});

test('names several channels of one type type-1, type-2', () => {
  const parsed = notifyConfigSchema.parse([
    { type: 'ntfy', url: 'https://ntfy.example/a' },
    { type: 'ntfy', url: 'https://ntfy.example/b' },
  ]);
  assert.deepEqual(
    parsed.map((c) => c.name),
    ['ntfy-1', 'ntfy-2'],
  );
});

test('an absent notify list is empty', () => {
  assert.deepEqual(notifyConfigSchema.parse(undefined), []);
});

test('reports every problem with its path', () => {
  const r = notifyConfigSchema.safeParse([
    { type: 'ntfy', url: 'not a url', tokenFile: 'relative' },
    { type: 'pager' },
    { type: 'webhook', url: 'http://h/x', colour: 'red' },
    { type: 'apprise-cli' },
    { type: 'ntfy', url: 'https://x/t', minSeverity: 'huge' },
  ]);
  assert.equal(r.success, false);
  const paths = r.error!.issues.map((i) => i.path.join('.')).sort();
  assert.deepEqual(paths, ['0.tokenFile', '0.url', '1.type', '3', '4.minSeverity'].concat(['2.colour']).sort());
});

test('rejects two entries with the same name', () => {
  const r = notifyConfigSchema.safeParse([
    { name: 'phone', type: 'ntfy', url: 'https://x/a' },
    { name: 'phone', type: 'webhook', url: 'https://x/b' },
  ]);
  assert.equal(r.success, false);
  assert.deepEqual(r.error!.issues[0].path, [1, 'name']);
});

test('rejects ntfy tokenFile together with user/password files', () => {
  const r = notifyConfigSchema.safeParse([{ type: 'ntfy', url: 'https://x/a', tokenFile: '/a', userFile: '/b', passwordFile: '/c' }]);
  assert.equal(r.success, false);
});
