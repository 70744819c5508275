// The last `capacity` bytes of a run's output, kept as a chunk queue so a chatty tool never
// makes the agent hold more than that. Secrets are replaced when the tail is read.
export const LOG_TAIL_BYTES = 64 * 1024;

export class LogTail {
  private chunks: Buffer[] = [];
  private size = 0;
  private truncated = false;
  private secrets: string[] = [];

  constructor(private readonly capacity = LOG_TAIL_BYTES) {}

  /** Registers a value that must never appear in the tail (passwords, tokens). */
  addSecret(value: string): void {
    for (const v of [value, value.trim()]) if (v.length >= 3 && !this.secrets.includes(v)) this.secrets.push(v);
    this.secrets.sort((a, b) => b.length - a.length);
  }

  redactText(text: string): string {
    return redact(text, this.secrets);
  }

  write(chunk: Buffer | string): void {
    const buf = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    if (buf.length >= this.capacity) {
      this.chunks = [buf.subarray(buf.length - this.capacity)];
      this.size = this.capacity;
      this.truncated = true;
      return;
    }
    this.chunks.push(buf);
    this.size += buf.length;
    while (this.size - this.chunks[0].length >= this.capacity) {
      this.size -= this.chunks.shift()!.length;
      this.truncated = true;
    }
  }

  line(text: string): void {
    this.write(text.endsWith('\n') ? text : `${text}\n`);
  }

  toString(): string {
    let buf = Buffer.concat(this.chunks, this.size);
    if (buf.length > this.capacity) {
      buf = buf.subarray(buf.length - this.capacity);
      this.truncated = true;
    }
    let text = buf.toString('utf8');
    if (this.truncated) {
      // Drop the partial first line: it may hold the end of a secret whose start was cut off.
      const nl = text.indexOf('\n');
      text = `[… earlier output truncated …]\n${nl >= 0 ? text.slice(nl + 1) : ''}`;
    }
    return this.redactText(text);
  }
}

export function redact(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const s of secrets) if (s) out = out.split(s).join('[REDACTED]');
  return out;
}
