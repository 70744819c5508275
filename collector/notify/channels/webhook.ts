import { httpFailure, post, secretFile, type Channel } from '../types';

// Generic webhook: POST the message as JSON (the NotificationMessage fields), with an optional
// Bearer token read from a file. 2xx is success.

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
    const res = await post(io, 'webhook', o.url, { headers, body: JSON.stringify(m) });
    if (!res.ok) throw await httpFailure('webhook', res);
    await res.body?.cancel();
  },
};
