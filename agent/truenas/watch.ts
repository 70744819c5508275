import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { CatalogJob, Unsequenced } from '../../shared/protocol';
import type { AgentConfig } from '../config';
import { describeFsError } from '../durable-file';
import type { Logger } from '../logger';
import { readTrueNas } from './api';
import { buildTrueNasScan } from './scan';
import { loadReported, loadTrueNasJobs, saveReported, saveTrueNasJobs } from './state';

// The daemon's TrueNAS loop body (agent/daemon.ts arms the timer, as for PBS): read the tasks,
// say hello again when the jobs changed, spool each ended task state not yet reported as a run,
// remember what was spooled. Never throws; a failing scan is logged once per new cause. The API
// key is read from its file on every scan (a rotated key works without a restart) and scrubbed
// from every message that could quote it.

export interface TrueNasWatcherOptions {
  stateDir: string;
  log: Logger;
  enqueue(msg: Unsequenced): boolean;
  hello(): boolean;
}

const hashOf = (value: unknown): string => createHash('sha256').update(JSON.stringify(value)).digest('base64');

export class TrueNasWatcher {
  jobs: readonly CatalogJob[];
  private said: string | null = null;
  private scanning = false;
  private failure = '';
  private notes = '';

  constructor(private readonly opts: TrueNasWatcherOptions) {
    this.jobs = loadTrueNasJobs(opts.stateDir);
  }

  saidHello(): void {
    this.said = hashOf(this.jobs);
  }

  async scan(config: AgentConfig, stopping: () => boolean = () => false): Promise<void> {
    const conf = config.truenas;
    if (!conf || this.scanning) return;
    this.scanning = true;
    const { log } = this.opts;
    let key = '';
    try {
      let inv;
      try {
        key = readFileSync(conf.apiKeyFile, 'utf8').split(/\r?\n/)[0].trim();
        if (!key) throw new Error(`${conf.apiKeyFile} is empty (truenas.apiKeyFile)`);
        inv = await readTrueNas(conf, key);
      } catch (err) {
        const msg = key ? (err as Error).message.split(key).join('***') : (err as Error).message;
        if (msg !== this.failure) log.error(`truenas scan failed (tried again every ${Math.round(conf.scanMs / 1000)}s): ${msg}`);
        this.failure = msg;
        return;
      }
      if (this.failure) log.info('truenas scan works again');
      this.failure = '';
      if (stopping()) return;
      const reported = loadReported(config.stateDir);
      const scan = buildTrueNasScan(inv, conf, reported);
      if (scan.notes.join('\n') !== this.notes) for (const n of scan.notes) log.warn(`truenas: ${n}`);
      this.notes = scan.notes.join('\n');

      const jobsHash = hashOf(scan.jobs);
      if (jobsHash !== this.said) {
        this.jobs = scan.jobs;
        log.info(`truenas: ${scan.jobs.length} task job(s)`);
        try {
          saveTrueNasJobs(config.stateDir, scan.jobs);
        } catch (err) {
          log.warn(`truenas: the jobs could not be saved in ${config.stateDir}: ${describeFsError(err, config.stateDir)}`);
        }
        if (this.opts.hello()) this.said = jobsHash;
      }
      let spooled = 0;
      for (const r of scan.runs) {
        if (!this.opts.enqueue(r.message)) break;
        reported[r.key] = r.at;
        spooled++;
        const m = r.message;
        if (m.status !== 'success') log[m.status === 'warning' ? 'warn' : 'error'](`truenas: ${m.job} ${m.status} at ${m.finishedAt}${m.error ? `: ${m.error}` : ''}`);
      }
      if (spooled > 0) {
        log.info(`truenas: ${spooled} run(s) reported`);
        try {
          saveReported(config.stateDir, reported);
        } catch (err) {
          log.error(`truenas: what was reported could not be saved in ${config.stateDir} (it may be reported again): ${describeFsError(err, config.stateDir)}`);
        }
      }
    } catch (err) {
      log.error(`truenas scan failed: ${(err as Error).message}`);
    } finally {
      this.scanning = false;
    }
  }
}
