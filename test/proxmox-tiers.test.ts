import assert from 'node:assert/strict';
import { test } from 'node:test';
import { guestTier, poolTier, tagTier, type TierChoice } from '../agent/proxmox/tiers';

// A Proxmox guest's tier from agent.yaml, its pool and its tags. Pools, nested pool IDs (PVE ≥
// 8.1) and `;`-separated tags are as /cluster/resources gives them (REFERENCE-INTEGRATIONS §3);
// no PVE runs here, the inputs are plain data.

test('a guest takes its tier from agent.yaml over its pool over its tags', () => {
  const config = { '100': 1 as const, '300': 3 as const };
  const table: [string, { vmid: number; pool?: string; tags: string[] }, TierChoice][] = [
    ['config wins over pool and tag', { vmid: 100, pool: 'tier-3', tags: ['tier-4'] }, { tier: 1, from: 'config' }],
    ['config alone', { vmid: 300, tags: [] }, { tier: 3, from: 'config' }],
    ['pool tier-2', { vmid: 101, pool: 'tier-2', tags: [] }, { tier: 2, from: 'pool' }],
    ['pool wins over tag', { vmid: 101, pool: 'tier-2', tags: ['tier-1'] }, { tier: 2, from: 'pool' }],
    ['nested pool whose last segment is a tier', { vmid: 102, pool: 'prod/tier-1', tags: [] }, { tier: 1, from: 'pool' }],
    ['nested pool under a tier pool: the nearest tier segment', { vmid: 103, pool: 'tier-3/lab/db', tags: [] }, { tier: 3, from: 'pool' }],
    ['nested pool: the last tier segment before a parent one', { vmid: 103, pool: 'tier-4/tier-2', tags: [] }, { tier: 2, from: 'pool' }],
    ['pool without a tier falls to the tag', { vmid: 104, pool: 'prod', tags: ['db', 'tier-2'] }, { tier: 2, from: 'tag' }],
    ['tags compare case-insensitively', { vmid: 105, tags: ['Tier-3'] }, { tier: 3, from: 'tag' }],
    ['two tier tags: the stricter holds', { vmid: 106, tags: ['tier-4', 'tier-2'] }, { tier: 2, from: 'tag' }],
    ['tier-0 and tier-5 are no tiers', { vmid: 107, pool: 'tier-5', tags: ['tier-0', 'tier-12'] }, { tier: null, from: null }],
    ['a tier inside a longer name is none', { vmid: 108, pool: 'tier-1-old', tags: ['notier-1', 'tier-1x'] }, { tier: null, from: null }],
    ['nothing at all', { vmid: 109, tags: [] }, { tier: null, from: null }],
  ];
  for (const [name, guest, expected] of table) assert.deepEqual(guestTier(guest, config), expected, name);
});

test('pool and tag tiers at their edges', () => {
  assert.equal(poolTier(undefined), null);
  assert.equal(poolTier(''), null);
  assert.equal(poolTier('tier-4'), 4);
  assert.equal(poolTier('TIER-1'), 1);
  assert.equal(poolTier('a/b/tier-1'), 1);
  assert.equal(tagTier([]), null);
  assert.equal(tagTier(['tier-1', 'tier-1']), 1);
});
