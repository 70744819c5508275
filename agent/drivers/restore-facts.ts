import type { FactDriver, FactKey, RestoreFacts } from '../../shared/restore-facts';

// What drivers share to describe a restore by hand: the catalog's `restore` facts, with the keys
// shared/restore-facts.ts lists for the driver (the collector's runbooks read the same list).
// Facts name where the copies are and which files hold the credentials, never a credential itself.

type FactValue = string | number | boolean | readonly string[] | undefined;

/**
 * The facts of `driver` that are set, as the protocol's flat string record: lists one item a
 * line, numbers as text, `true` as "true"; unset, false and empty ones are left out.
 */
export function factsFrom<D extends FactDriver>(_driver: D, entries: { [K in FactKey<D>]?: FactValue }): RestoreFacts<D> {
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(entries)) {
    if (value === undefined || value === false || value === '') continue;
    if (Array.isArray(value)) {
      if (value.length) out[key] = value.join('\n');
    } else out[key] = String(value);
  }
  return out as RestoreFacts<D>;
}

/**
 * A location without the password a URL may carry: `rest:https://user:pw@host/` becomes
 * `rest:https://host/` (its user goes too, the two come from the same place); a user alone, as
 * in `sftp://user@host/`, stays.
 */
export function withoutPassword(location: string): string {
  // Up to the last "@" of the authority, as URL parsers read it: a password may hold an "@".
  return location.replace(/(\/\/)[^/@:]*:[^/]*@/, '$1');
}
