import type { VerifyState } from '../rules/types';

// An inventory's verification states as inventory.verified stores them: one character per
// snapshot, in the snapshots' order ('o' ok, 'f' failed, '-' never verified), NULL when no
// snapshot has one. A string of 100,000 snapshots is 100 KB, a third of the JSON array's size,
// and tells "no states" without decoding anything.

export function encodeVerified(snapshots: readonly { verified?: string }[]): string | null {
  if (!snapshots.some((s) => s.verified === 'ok' || s.verified === 'failed')) return null;
  return snapshots.map((s) => (s.verified === 'ok' ? 'o' : s.verified === 'failed' ? 'f' : '-')).join('');
}

export function decodeVerified(stored: string): VerifyState[] {
  const out: VerifyState[] = new Array(stored.length);
  for (let i = 0; i < stored.length; i++) out[i] = stored[i] === 'o' ? 'ok' : stored[i] === 'f' ? 'failed' : null;
  return out;
}
