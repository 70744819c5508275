import { randomBytes } from 'node:crypto';

/**
 * A new run's id: a UUID version 7 (RFC 9562 §5.7), its first 48 bits the time in ms. The
 * collector indexes runs by (agent, run id); ids in time order land at the end of that index
 * instead of on a random page of it, which is most of what a stored run costs once the
 * history is large. Still a UUID: older collectors take it as one.
 */
export function newRunId(now: number = Date.now()): string {
  const b = randomBytes(16);
  b.writeUIntBE(now, 0, 6);
  b[6] = 0x70 | (b[6] & 0x0f); // version 7
  b[8] = 0x80 | (b[8] & 0x3f); // variant 10
  const h = b.toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}
