import { SEVERITY_RANK, type Severity, type Tier } from '../incidents/types';
import type { NotificationMessage, NotifyEvent } from './types';

// Which channels get a message. Pure.

/** One entry of `notify:` in collector.yaml, validated (see config.ts). */
export interface ChannelConfig {
  name: string;
  type: string;
  /** The channel module's own options, as its schema returned them. */
  options: unknown;
  /** Least severity delivered (default info: everything). */
  minSeverity?: Severity;
  /** Only incidents of these tiers. */
  tiers?: readonly Tier[];
  /** Only incidents of these assets. */
  assets?: readonly string[];
  /** Only these events (default all). */
  events?: readonly NotifyEvent[];
}

/**
 * Names of the channels that take `message`, in config order. `tiers` and `assets` scope
 * incident events: an incident without that field (e.g. "agent silent" has no asset) does not
 * match a channel restricted to some assets or tiers. Reports are not about one asset, so they
 * pass those two filters and are routed by `events` and `minSeverity` only.
 */
export function route(message: NotificationMessage, channels: readonly ChannelConfig[]): string[] {
  return channels.filter((c) => accepts(c, message)).map((c) => c.name);
}

export function accepts(c: ChannelConfig, m: NotificationMessage): boolean {
  if (c.events && !c.events.includes(m.event)) return false;
  if (c.minSeverity && SEVERITY_RANK[m.severity] < SEVERITY_RANK[c.minSeverity]) return false;
  if (m.event === 'report') return true;
  if (c.tiers && (m.tier === undefined || !c.tiers.includes(m.tier))) return false;
  if (c.assets && (m.asset === undefined || !c.assets.includes(m.asset))) return false;
  return true;
}
