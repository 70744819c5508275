/**
 * How far the collector's clock is from ours, from one HTTP exchange: the collector stamped its
 * `Date` header somewhere between our request leaving and the answer arriving, so it is compared
 * with the midpoint of the two (NTP's assumption of a symmetric path).
 *
 * `Date` has one-second resolution and is truncated, not rounded (RFC 9110 IMF-fixdate): the
 * collector's true time lies in [Date, Date + 1 s). Taking the middle of that second (+500 ms)
 * makes a perfectly synchronised pair read 0 on average instead of −500 ms; the error stays
 * within ±500 ms plus half the round trip, which is fine for "is this host's clock off?".
 *
 * Returns collector − agent in whole milliseconds (positive: our clock is behind), or null when
 * the header is missing or unparsable.
 */
export function clockOffsetMs(sentAtMs: number, receivedAtMs: number, dateHeader: string | null | undefined): number | null {
  if (!dateHeader) return null;
  const collectorMs = Date.parse(dateHeader);
  if (!Number.isFinite(collectorMs) || !Number.isFinite(sentAtMs) || !Number.isFinite(receivedAtMs) || receivedAtMs < sentAtMs) return null;
  const midpoint = sentAtMs + (receivedAtMs - sentAtMs) / 2;
  return Math.round(collectorMs + 500 - midpoint);
}
