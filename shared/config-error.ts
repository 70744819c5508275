export interface ConfigProblem {
  file: string;
  line: number;
  column: number;
  path: string;
  message: string;
}

export function formatProblem(p: ConfigProblem): string {
  const where = p.line > 0 ? `${p.file}:${p.line}:${p.column}` : p.file;
  return p.path ? `${where}: ${p.path}: ${p.message}` : `${where}: ${p.message}`;
}

/** Every problem found in a config file, listed at once so the operator fixes them in one go. */
export class ConfigError extends Error {
  readonly code = 'E_CONFIG';
  constructor(readonly problems: ConfigProblem[], message = problems.map(formatProblem).join('\n')) {
    super(message);
    this.name = 'ConfigError';
  }
}
