import { humanTimeTag } from './format';
import { esc, escAttr } from './html';
import { TABLES, type TableKind } from './tables';

export type Section = 'overview' | 'incidents' | 'reports' | null;

const NAV: [Exclude<Section, null>, string, string][] = [
  ['overview', '/', 'Overview'],
  ['incidents', '/incidents', 'Incidents'],
  ['reports', '/reports', 'Reports'],
];

/**
 * The frame of every page. No inline script or style (the Content-Security-Policy forbids
 * them): behaviour and looks come from /static/app.js and /static/app.css. Without
 * JavaScript the page still reads, and refreshes itself once a minute.
 */
export function layout(o: { title: string; section: Section; generatedAt: string; json: string; main: string }): string {
  const nav = NAV.map(([id, href, label]) => `<a href="${href}"${o.section === id ? ' aria-current="page"' : ''}>${label}</a>`).join(' ');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escAttr(o.title)} · Lifeline</title><link rel="icon" href="/static/icon.svg" type="image/svg+xml"><link rel="stylesheet" href="/static/app.css"><script src="/static/app.js" defer></script>
<noscript><meta http-equiv="refresh" content="60"></noscript></head><body>
<a class="skip" href="#main">Skip to content</a>
<header><span class="brand">Lifeline</span><nav aria-label="Main">${nav}</nav></header>
<main id="main" tabindex="-1" data-refresh="30">${o.main}</main>
<footer><p>Generated <span id="generated">${humanTimeTag(o.generatedAt)}</span> · <a href="${escAttr(o.json)}">JSON</a></p></footer>
</body></html>`;
}

/**
 * A table of one kind (its columns are in tables.ts). On a narrow screen its rows become
 * labelled cards; failing that, it scrolls inside its own box instead of widening the page.
 * The box is a landmark of its own, named apart from the section around it ("Table: Copies"
 * inside "Copies"): two landmarks of one name fail axe's landmark-unique.
 */
export function table(kind: TableKind, caption: string, rows: string[], empty: string): string {
  const head = TABLES[kind];
  const th = head.map((h) => `<th scope="col">${nowrap321(esc(h))}</th>`).join('');
  const body = rows.length ? rows.join('') : `<tr><td class="empty" colspan="${head.length}">${esc(empty)}</td></tr>`;
  return `<div class="scroll" role="region" aria-label="${escAttr(`Table: ${caption}`)}" tabindex="0"><table class="cards t-${kind}"><caption>${esc(caption)}</caption><thead><tr>${th}</tr></thead><tbody>${body}</tbody></table></div>`;
}

/** "3-2-1" never breaks at its hyphens ("3-2-" / "1"). */
export const nowrap321 = (html: string): string => html.replace(/3-2-1/g, '<span class="nowrap">3-2-1</span>');
