import { StringDecoder } from 'node:string_decoder';

// Stream helpers shared by the paths and rclone drivers (generic: could move to a common module).

/**
 * Splits a byte stream into lines as it arrives, so a parser never holds a whole output. A line
 * longer than `maxLine` is cut there (the rest of it is dropped); `end()` flushes the last line.
 */
export function lineSplitter(onLine: (line: string) => void, maxLine = 64 * 1024): { push(chunk: Buffer): void; end(): void } {
  const decoder = new StringDecoder('utf8');
  let partial = '';
  let dropping = false;
  const feed = (text: string) => {
    let start = 0;
    for (let nl = text.indexOf('\n'); nl >= 0; nl = text.indexOf('\n', start)) {
      const piece = text.slice(start, nl);
      if (!dropping) onLine((partial + piece).slice(0, maxLine).replace(/\r$/, ''));
      partial = '';
      dropping = false;
      start = nl + 1;
    }
    if (dropping) return;
    partial += text.slice(start);
    if (partial.length > maxLine) {
      onLine(partial.slice(0, maxLine));
      partial = '';
      dropping = true;
    }
  };
  return {
    push: (chunk) => feed(decoder.write(chunk)),
    end: () => {
      feed(decoder.end());
      if (partial && !dropping) onLine(partial.replace(/\r$/, ''));
      partial = '';
    },
  };
}

/** Collects a small output (a JSON answer) up to `max` bytes; the rest is dropped. */
export function smallOutput(max = 1024 * 1024): { push(chunk: Buffer): void; text(): string } {
  const chunks: Buffer[] = [];
  let size = 0;
  return {
    push(chunk) {
      if (size + chunk.length > max) return;
      chunks.push(chunk);
      size += chunk.length;
    },
    text: () => Buffer.concat(chunks, size).toString('utf8'),
  };
}

/** Keeps the last `n` non-empty lines of a stream (for a short error message). */
export function lastLines(n = 3): { push(chunk: Buffer): void; lines(): string[] } {
  const kept: string[] = [];
  const splitter = lineSplitter((line) => {
    if (!line.trim()) return;
    kept.push(line.slice(0, 500));
    if (kept.length > n) kept.shift();
  });
  return {
    push: (chunk) => splitter.push(chunk),
    lines: () => {
      splitter.end();
      return [...kept];
    },
  };
}
