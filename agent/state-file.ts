import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { isMissing, writeFileAtomic } from './durable-file';

// Small JSON files a watcher keeps in a directory of the state directory across restarts.

/** Writes atomically, creating the directory (0700) when it is missing (a first run, or the state directory removed). */
export function writeStateFile(file: string, text: string): void {
  try {
    writeFileAtomic(file, text);
  } catch (err) {
    if (!isMissing(err)) throw err;
    mkdirSync(join(file, '..'), { recursive: true, mode: 0o700 });
    writeFileAtomic(file, text);
  }
}

/** The parsed file, or null when it is missing or unreadable (the watcher then starts afresh). */
export function readStateJson(file: string): unknown {
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as unknown;
  } catch {
    return null;
  }
}
