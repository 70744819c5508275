import { visibleText } from '../../../shared/display-text';
import { httpFailure, post, secretFile, truncateUtf8, type Channel, type NotificationMessage } from '../types';

// ntfy publish API: POST the body to the topic URL, metadata in X-* headers.
//
// Priority: critical 5 (urgent: the phone rings through Do-Not-Disturb where allowed),
// warning 4 (high), info 3 (default); a "resolved" is 2 (low: no sound on most phones) and a
// report is 3. Reminders keep the incident's priority — the problem is as bad as it was.
// Tags: the first is an emoji short code for the severity/event, then the message's own tags.

export interface NtfyOptions {
  /** Topic URL, e.g. https://ntfy.sh/homelab-backups. */
  url: string;
  /** File holding an access token (tk_…), sent as Bearer. */
  tokenFile?: string;
  /** Files holding a user name and password for Basic auth. */
  userFile?: string;
  passwordFile?: string;
}

/** ntfy's own limit; longer messages would become attachments. */
export const NTFY_MAX_BYTES = 4096;

const PRIORITY = { critical: '5', warning: '4', info: '3' } as const;
const EMOJI = { critical: 'rotating_light', warning: 'warning', info: 'information_source' } as const;

export function ntfyPriority(m: NotificationMessage): string {
  if (m.event === 'resolved') return '2';
  if (m.event === 'report') return '3';
  return PRIORITY[m.severity];
}

export function ntfyTags(m: NotificationMessage): string {
  const first = m.event === 'resolved' ? 'white_check_mark' : m.event === 'report' ? 'clipboard' : EMOJI[m.severity];
  // Commas separate tags in the header; a tag cannot contain one.
  return [first, ...m.tags.map((t) => t.replace(/[,\r\n]/g, ' '))].join(',');
}

/**
 * Header values must be ASCII: ntfy decodes RFC 2047 encoded words for the rest. Line breaks
 * become spaces; other control and bidi characters their visible stand-ins, so a title shows
 * what it holds and never reads backwards.
 */
export function headerValue(text: string): string {
  const clean = visibleText(text.replace(/[\r\n]+/g, ' '));
  return /^[\x20-\x7e]*$/.test(clean) ? clean : `=?UTF-8?B?${Buffer.from(clean, 'utf8').toString('base64')}?=`;
}

export const ntfy: Channel<NtfyOptions> = {
  type: 'ntfy',
  options: (z) =>
    z
      .object({
        url: z.url({ protocol: /^https?$/ }),
        tokenFile: secretFile(z).optional(),
        userFile: secretFile(z).optional(),
        passwordFile: secretFile(z).optional(),
      })
      .refine((o) => !o.tokenFile || (!o.userFile && !o.passwordFile), { message: 'use either tokenFile or userFile/passwordFile, not both' })
      .refine((o) => !o.userFile === !o.passwordFile, { message: 'userFile and passwordFile go together' }),

  async send(m, o, io) {
    const headers: Record<string, string> = {
      'Content-Type': 'text/plain; charset=utf-8',
      'X-Title': headerValue(truncateUtf8(m.title, 250, '…')),
      'X-Priority': ntfyPriority(m),
      'X-Tags': headerValue(ntfyTags(m)),
      'X-Markdown': 'yes',
    };
    if (m.clickUrl) headers['X-Click'] = m.clickUrl;
    if (o.tokenFile) headers.Authorization = `Bearer ${await io.readSecret(o.tokenFile)}`;
    else if (o.userFile && o.passwordFile) {
      const user = await io.readSecret(o.userFile);
      const pass = await io.readSecret(o.passwordFile);
      headers.Authorization = `Basic ${Buffer.from(`${user}:${pass}`).toString('base64')}`;
    }
    // The body is Markdown already escaped where it quotes agent text (notify/message.ts,
    // reports.ts); hidden characters are made visible here too, whoever wrote the message.
    const res = await post(io, 'ntfy', o.url, { headers, body: truncateUtf8(visibleText(m.body, { multiline: true }), NTFY_MAX_BYTES) });
    if (!res.ok) throw await httpFailure('ntfy', res);
    await res.body?.cancel();
  },
};
