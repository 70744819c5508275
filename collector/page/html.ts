import { hasHiddenChars, mapHidden, visibleText } from '../../shared/display-text';

// Everything shown on the page may come from an agent: it is escaped, always. Characters that
// show nothing or reorder the text around them (controls, bidi overrides, zero-width
// characters: shared/display-text.ts) never reach the page raw.
const ENTITIES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };
const entities = (s: string) => s.replace(/[&<>"']/g, (c) => ENTITIES[c]);

/**
 * Text content: escaped, and each run of hidden characters shown as its visible stand-ins
 * (␛, \u202E) in a <mark> naming them, so the reader sees that something odd is there. Newlines
 * and tabs stay (they lay out <pre> blocks). The mark's attributes are single-quoted: should
 * this ever land inside a double-quoted attribute, it stays inert text there.
 */
export function esc(value: unknown): string {
  const text = String(value ?? '');
  if (!hasHiddenChars(text, { multiline: true })) return entities(text);
  return mapHidden(text, { multiline: true }, entities, ({ visible, names }) => `<mark class=ctl title='${entities(names.join(', '))}'>${entities(visible)}</mark>`);
}

/** Attribute values and text that cannot hold markup (<title>): escaped, hidden characters as plain visible stand-ins. */
export function escAttr(value: unknown): string {
  return entities(visibleText(String(value ?? '')));
}
