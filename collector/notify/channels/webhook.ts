import { jsonEscapingHidden, visibleText } from '../../../shared/display-text';
import { httpFailure, post, secretFile, type Channel } from '../types';

// Generic webhook: POST the message as JSON (the NotificationMessage fields), with an optional
// Bearer token read from a file. 2xx is success. Idempotency-Key is the same on every attempt at
// one notification: a receiver that remembers keys drops the copy a crash between its answer
// and our "sent" mark would re-send. The title's control and bidi characters are made visible
// (receivers show it as it is); any left in the JSON text are written as \u escapes.

export interface WebhookOptions {
  url: string;
  tokenFile?: string;
}

export const webhook: Channel<WebhookOptions> = {
  type: 'webhook',
  options: (z) => z.object({ url: z.url({ protocol: /^https?$/ }), tokenFile: secretFile(z).optional() }),

  async send(m, o, io) {
    const headers: Record<string, string> = { 'Content-Type': 'application/json' };
    if (o.tokenFile) headers.Authorization = `Bearer ${await io.readSecret(o.tokenFile)}`;
    if (io.deliveryId) headers['Idempotency-Key'] = io.deliveryId;
    const res = await post(io, 'webhook', o.url, { headers, body: jsonEscapingHidden({ ...m, title: visibleText(m.title) }) });
    if (!res.ok) throw await httpFailure('webhook', res);
    await res.body?.cancel();
  },
};
