import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { AgentConfig } from './config';
import { writeFileAtomic } from './durable-file';

interface Enrollment {
  collector: string;
  agent: string;
  enrolledAt: string;
}

const file = (stateDir: string) => join(stateDir, 'enrollment.json');

export function saveEnrollment(stateDir: string, e: Enrollment): void {
  mkdirSync(stateDir, { recursive: true, mode: 0o700 });
  writeFileAtomic(file(stateDir), `${JSON.stringify(e, null, 2)}\n`, { mode: 0o600 });
}

/** The collector to report to: the config's `agent.collector`, else the URL enrolled with. */
export function collectorUrl(config: AgentConfig): string | null {
  if (config.collector) return config.collector.replace(/\/+$/, '');
  try {
    const e = JSON.parse(readFileSync(file(config.stateDir), 'utf8')) as Enrollment;
    return e.collector.replace(/\/+$/, '');
  } catch {
    return null;
  }
}
