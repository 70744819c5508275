import assert from 'node:assert/strict';
import { test } from 'node:test';
import { route, type ChannelConfig } from '../collector/notify/routing';
import type { NotificationMessage } from '../collector/notify/types';

const msg = (over: Partial<NotificationMessage> = {}): NotificationMessage => ({
  event: 'open',
  severity: 'critical',
  title: 't',
  body: 'b',
  tags: [],
  asset: 'home',
  tier: 1,
  ...over,
});

const ch = (name: string, over: Partial<ChannelConfig> = {}): ChannelConfig => ({ name, type: 'ntfy', options: {}, ...over });

test('routes by minSeverity, tiers, assets and events', () => {
  const channels = [
    ch('all'),
    ch('critical-only', { minSeverity: 'critical' }),
    ch('warning-up', { minSeverity: 'warning' }),
    ch('tier1', { tiers: [1] }),
    ch('tier2-3', { tiers: [2, 3] }),
    ch('home', { assets: ['home'] }),
    ch('photos', { assets: ['photos'] }),
    ch('opens', { events: ['open'] }),
    ch('resolved', { events: ['resolved'] }),
    ch('reports', { events: ['report'] }),
  ];
  const table: [string, Partial<NotificationMessage>, string[]][] = [
    ['critical open, tier 1, home', {}, ['all', 'critical-only', 'warning-up', 'tier1', 'home', 'opens']],
    ['warning open', { severity: 'warning' }, ['all', 'warning-up', 'tier1', 'home', 'opens']],
    ['info open', { severity: 'info' }, ['all', 'tier1', 'home', 'opens']],
    ['tier 3 photos', { tier: 3, asset: 'photos' }, ['all', 'critical-only', 'warning-up', 'tier2-3', 'photos', 'opens']],
    ['resolved', { event: 'resolved' }, ['all', 'critical-only', 'warning-up', 'tier1', 'home', 'resolved']],
    ['reminder', { event: 'reminder' }, ['all', 'critical-only', 'warning-up', 'tier1', 'home']],
    ['no asset, no tier', { asset: undefined, tier: undefined }, ['all', 'critical-only', 'warning-up', 'opens']],
    ['info report', { event: 'report', severity: 'info', asset: undefined, tier: undefined }, ['all', 'tier1', 'tier2-3', 'home', 'photos', 'reports']],
  ];
  for (const [name, over, expected] of table) assert.deepEqual(route(msg(over), channels), expected, name);
});

test('routes nowhere when no channel is configured', () => {
  assert.deepEqual(route(msg(), []), []);
});

test('a channel must pass every filter it sets', () => {
  const c = [ch('strict', { minSeverity: 'warning', tiers: [1], assets: ['home'], events: ['open', 'resolved'] })];
  assert.deepEqual(route(msg(), c), ['strict']);
  assert.deepEqual(route(msg({ severity: 'info' }), c), []);
  assert.deepEqual(route(msg({ tier: 2 }), c), []);
  assert.deepEqual(route(msg({ asset: 'photos' }), c), []);
  assert.deepEqual(route(msg({ event: 'reminder' }), c), []);
});
