import { visibleText } from '../../../shared/display-text';
import { NotifyError, httpFailure, post, redactUrl, secretFile, type Channel, type NotificationMessage } from '../types';

// Apprise API (caronc/apprise-api). Stateful: POST /notify/{KEY} with the message; the services
// are configured on the server under KEY. Stateless: POST /notify/ with `urls` as well — those
// URLs usually hold tokens, so they come from `urlsFile` (one per line) and are never logged.
// Answers: 200 sent · 204 no config for the key · 424 a service failed · 431 too large.

export interface AppriseApiOptions {
  /** http://apprise:8000/notify/KEY (stateful) or http://apprise:8000/notify/ (with urlsFile). */
  url: string;
  /** Stateless mode: a file listing the Apprise URLs to notify, one per line. */
  urlsFile?: string;
  /** Stateful mode: only services with this tag. */
  tag?: string;
}

/** Apprise's notification types. */
export function appriseType(m: NotificationMessage): 'failure' | 'warning' | 'info' | 'success' {
  if (m.event === 'resolved') return 'success';
  if (m.event === 'report') return 'info';
  return m.severity === 'critical' ? 'failure' : m.severity;
}

/** Reads an Apprise URL list: one per line, blank lines and # comments skipped. */
export function parseUrlList(text: string): string[] {
  return text
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'));
}

/** The Markdown body (already escaped where it quotes agent text), hidden characters made visible. */
export function appriseBody(m: NotificationMessage): string {
  const body = visibleText(m.body, { multiline: true });
  return m.clickUrl ? `${body}\n\n[Open in Lifeline](${m.clickUrl})` : body;
}

/**
 * The plain-text title, hidden characters made visible. Apprise converts a title as Markdown
 * into the HTML of services that have no title field; there a `<`…`>` from an agent could be
 * markup, so angle brackets become ‹ › (a title never needs real ones).
 */
export function appriseTitle(m: NotificationMessage): string {
  return visibleText(m.title).replace(/</g, '‹').replace(/>/g, '›');
}

export const appriseApi: Channel<AppriseApiOptions> = {
  type: 'apprise-api',
  options: (z) => z.object({ url: z.url({ protocol: /^https?$/ }), urlsFile: secretFile(z).optional(), tag: z.string().min(1).optional() }),

  async send(m, o, io) {
    const payload: Record<string, string> = { title: appriseTitle(m), body: appriseBody(m), type: appriseType(m), format: 'markdown' };
    if (o.urlsFile) {
      const urls = parseUrlList(await io.readSecret(o.urlsFile));
      if (urls.length === 0) throw new NotifyError(`apprise-api: ${o.urlsFile} lists no URL`, false);
      payload.urls = urls.join(' ');
    } else if (o.tag) payload.tag = o.tag;
    const res = await post(io, 'apprise-api', o.url, { headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(payload) });
    // 204: the key has no configuration on the server; retrying will not help until someone adds it.
    if (res.status === 204) throw new NotifyError(`apprise-api: no configuration stored for ${redactUrl(o.url)}; add one on the Apprise API server`, false, 204);
    if (!res.ok) {
      const err = await httpFailure('apprise-api', res);
      // 424: the server reached a service that failed (down, rate-limited): worth another try.
      throw res.status === 424 ? new NotifyError(err.message, true, 424) : err;
    }
    await res.body?.cancel();
  },
};
