import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { AgentConfig } from './config';
import type { CollectorTls } from './collector-tls';
import { writeFileAtomic } from './durable-file';

export interface Enrollment {
  collector: string;
  agent: string;
  enrolledAt: string;
  /** The certificate pinned at enrollment (`enroll --fingerprint`), for an https:// collector. */
  fingerprint?: string;
}

/** Where `enroll` keeps what it learned, in the state directory. */
export const enrollmentFile = (stateDir: string) => join(stateDir, 'enrollment.json');

export function saveEnrollment(stateDir: string, e: Enrollment): void {
  mkdirSync(stateDir, { recursive: true, mode: 0o700 });
  writeFileAtomic(enrollmentFile(stateDir), `${JSON.stringify(e, null, 2)}\n`, { mode: 0o600 });
}

/** The collector to report to: the config's `agent.collector`, else the URL enrolled with. */
export function collectorUrl(config: AgentConfig): string | null {
  if (config.collector) return config.collector.replace(/\/+$/, '');
  return readEnrollment(config.stateDir)?.collector.replace(/\/+$/, '') ?? null;
}

export function readEnrollment(stateDir: string): Enrollment | null {
  try {
    return JSON.parse(readFileSync(enrollmentFile(stateDir), 'utf8')) as Enrollment;
  } catch {
    return null;
  }
}

/**
 * How the collector's certificate is checked: agent.collectorFingerprint or agent.collectorCa
 * from the config, else the fingerprint pinned at enrollment while reporting to that same
 * collector, else the system CAs.
 */
export function collectorTls(config: AgentConfig): CollectorTls {
  if (config.collectorFingerprint) return { fingerprint: config.collectorFingerprint };
  if (config.collectorCa) return { caFile: config.collectorCa };
  const e = readEnrollment(config.stateDir);
  if (e?.fingerprint && e.collector.replace(/\/+$/, '') === collectorUrl(config)) return { fingerprint: e.fingerprint };
  return {};
}
