import type { TierId } from '../../shared/tiers';

// A Proxmox guest's tier: agent.yaml (`proxmox.tiers`, by VMID) over its pool over its tags.
// The pool is the operator's main tool (DESIGN: pools `tier-1`..`tier-4`); since PVE 8.1 pools
// nest (`prod/tier-1`), so the pool's own name counts first, then its parents' from the nearest
// (`tier-1/db` is in tier 1). Tags (`tier-2`) serve guests kept in pools for other reasons;
// PVE compares tags case-insensitively unless told otherwise, and so does this.

export type TierSource = 'pool' | 'tag' | 'config';

export interface TierChoice {
  tier: TierId | null;
  /** Where the tier came from; null when nothing gives the guest one. */
  from: TierSource | null;
}

const TIER_NAME = /^tier-([1-4])$/i;

function tierOfName(name: string): TierId | null {
  const m = TIER_NAME.exec(name.trim());
  return m ? (Number(m[1]) as TierId) : null;
}

/** The tier a pool path names: its last segment, else the nearest parent's. */
export function poolTier(pool: string | undefined): TierId | null {
  if (!pool) return null;
  const segments = pool.split('/');
  for (let i = segments.length - 1; i >= 0; i--) {
    const tier = tierOfName(segments[i]);
    if (tier !== null) return tier;
  }
  return null;
}

/** The most critical `tier-N` among the tags (two tier tags: the stricter one holds). */
export function tagTier(tags: readonly string[]): TierId | null {
  let best: TierId | null = null;
  for (const tag of tags) {
    const tier = tierOfName(tag);
    if (tier !== null && (best === null || tier < best)) best = tier;
  }
  return best;
}

export function guestTier(guest: { vmid: number; pool?: string; tags: readonly string[] }, configTiers: Readonly<Record<string, TierId>>): TierChoice {
  const configured = configTiers[String(guest.vmid)];
  if (configured !== undefined) return { tier: configured, from: 'config' };
  const fromPool = poolTier(guest.pool);
  if (fromPool !== null) return { tier: fromPool, from: 'pool' };
  const fromTag = tagTier(guest.tags);
  if (fromTag !== null) return { tier: fromTag, from: 'tag' };
  return { tier: null, from: null };
}
