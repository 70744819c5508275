// Plain lines on stderr: journald adds time and unit; in a terminal they read as they are.
export interface Logger {
  info(msg: string): void;
  warn(msg: string): void;
  error(msg: string): void;
}

export function consoleLogger(prefix = 'lifeline-agent'): Logger {
  const line = (level: string, msg: string) => process.stderr.write(`${prefix} ${level}: ${msg}\n`);
  return {
    info: (m) => line('info', m),
    warn: (m) => line('warn', m),
    error: (m) => line('error', m),
  };
}
