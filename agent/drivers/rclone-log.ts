import { lineSplitter } from './paths-lines';

// rclone's stderr with --use-json-log: one JSON object per line ({level, msg, object?, stats?}),
// except fatal errors, printed as plain text (`2024/01/31 02:00:00 Failed to copy: …`).

export interface RcloneStats {
  bytes?: number;
  checks?: number;
  errors?: number;
  transfers?: number;
  totalBytes?: number;
  elapsedTime?: number;
  fatalError?: boolean;
  retryError?: boolean;
  lastError?: string;
}

export interface RcloneLog {
  push(chunk: Buffer): void;
  /** The last stats line (the final one, once rclone has exited). */
  stats(): RcloneStats | undefined;
  /** rclone's own words for what went wrong, most telling first: fatal line, lastError, an error. */
  message(): string | undefined;
}

const num = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) && v >= 0 ? v : undefined);

export function rcloneLog(): RcloneLog {
  let stats: RcloneStats | undefined;
  let fatal: string | undefined;
  let lastError: string | undefined;
  const splitter = lineSplitter((line) => {
    if (!line.startsWith('{')) {
      const text = line.replace(/^\d{4}\/\d\d\/\d\d \d\d:\d\d:\d\d\s+/, '').trim();
      if (/^(Failed|Fatal|ERROR|CRITICAL)/i.test(text)) fatal = text.slice(0, 500);
      return;
    }
    let entry: Record<string, unknown>;
    try {
      entry = JSON.parse(line) as Record<string, unknown>;
    } catch {
      return;
    }
    const s = entry.stats;
    if (s && typeof s === 'object') {
      const r = s as Record<string, unknown>;
      stats = {
        bytes: num(r.bytes), checks: num(r.checks), errors: num(r.errors), transfers: num(r.transfers),
        totalBytes: num(r.totalBytes), elapsedTime: num(r.elapsedTime),
        fatalError: r.fatalError === true, retryError: r.retryError === true,
        lastError: typeof r.lastError === 'string' ? r.lastError.slice(0, 500) : undefined,
      };
    }
    if ((entry.level === 'error' || entry.level === 'critical') && typeof entry.msg === 'string') {
      const object = typeof entry.object === 'string' && entry.object ? `${entry.object}: ` : '';
      lastError = `${object}${entry.msg}`.slice(0, 500);
    }
  });
  let ended = false;
  const end = () => {
    if (!ended) splitter.end();
    ended = true;
  };
  return {
    push: (chunk) => splitter.push(chunk),
    stats: () => (end(), stats),
    message: () => (end(), fatal ?? stats?.lastError ?? lastError),
  };
}
