import { closeSync, fsyncSync, openSync } from 'node:fs';

/** fsyncs a file or a directory (a rename is durable once its directory is). */
export function fsyncPath(path: string): void {
  const fd = openSync(path, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}
