import { hostname } from 'node:os';
import { CHANNELS } from './channels/index';
import { readSecretFile } from './outbox';
import type { ChannelConfig } from './routing';
import { redactUrlsIn, type Channel, type ChannelIo, type NotificationMessage } from './types';

// `lifeline-collector notify test [CHANNEL]`: one test message through each configured channel
// (or the one named), sent directly, not through the outbox: the operator watches the answer.
// A channel's routing filters (minSeverity, tiers, assets, events) are ignored on purpose: the
// question is whether the receiver takes a message at all.

export interface TestOutcome {
  name: string;
  type: string;
  ok: boolean;
  /** What the receiver answered: "HTTP 200: {…}" (a bounded, redacted excerpt), or the error. */
  answer: string;
}

const EXCERPT = 160;

export function testMessage(now: Date, host = hostname()): NotificationMessage {
  return {
    event: 'report',
    severity: 'info',
    title: 'Lifeline test notification',
    body: `Sent by \`lifeline-collector notify test\` on ${host} at ${now.toISOString()}. If this arrived, the channel works; nothing else needs doing.`,
    tags: ['test'],
  };
}

/** Sends the test message through each channel in turn; never throws for a channel's failure. */
export async function sendTest(
  channels: readonly ChannelConfig[],
  opts: { now?: Date; timeoutMs?: number; fetch?: typeof fetch; registry?: Readonly<Record<string, Channel>> } = {},
): Promise<TestOutcome[]> {
  const message = testMessage(opts.now ?? new Date());
  const registry: Readonly<Record<string, Channel>> = opts.registry ?? CHANNELS;
  const out: TestOutcome[] = [];
  for (const c of channels) {
    // The last HTTP answer the channel received, read from a copy so the channel still sees it whole.
    let last: { status: number; text: string } | null = null;
    const baseFetch = opts.fetch ?? globalThis.fetch;
    const io: ChannelIo = {
      readSecret: readSecretFile,
      timeoutMs: opts.timeoutMs ?? 15_000,
      deliveryId: `lifeline-test-${Date.now()}`,
      fetch: (async (input, init) => {
        const res = await baseFetch(input, init);
        last = { status: res.status, text: await res.clone().text().catch(() => '') };
        return res;
      }) as typeof fetch,
    };
    try {
      await registry[c.type].send(message, c.options, io);
      const l = last as { status: number; text: string } | null;
      out.push({ name: c.name, type: c.type, ok: true, answer: l ? `HTTP ${l.status}${excerpt(l.text) ? `: ${excerpt(l.text)}` : ''}` : 'delivered (no HTTP answer: the command exited 0)' });
    } catch (err) {
      // NotifyError messages already quote the status and a redacted body excerpt.
      out.push({ name: c.name, type: c.type, ok: false, answer: redactUrlsIn((err as Error).message ?? String(err)) });
    }
  }
  return out;
}

function excerpt(text: string): string {
  const one = redactUrlsIn(text.replace(/\s+/g, ' ').trim());
  return one.length > EXCERPT ? `${one.slice(0, EXCERPT)}…` : one;
}

/** One line per channel: "ok      ntfy (ntfy): HTTP 200: {…}". */
export function formatOutcomes(outcomes: readonly TestOutcome[]): string {
  const width = Math.max(...outcomes.map((o) => `${o.name} (${o.type})`.length));
  return outcomes.map((o) => `${o.ok ? 'ok     ' : 'FAILED '} ${`${o.name} (${o.type})`.padEnd(width)}  ${o.answer}\n`).join('');
}
