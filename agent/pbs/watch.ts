import { createHash } from 'node:crypto';
import type { CatalogJob, Unsequenced } from '../../shared/protocol';
import { MAX_HELLO_JOBS } from '../catalog';
import type { AgentConfig } from '../config';
import { describeFsError } from '../durable-file';
import type { Logger } from '../logger';
import { readPbs } from './read';
import { planRuns } from './runs';
import { buildPbsScan } from './scan';
import { loadPbsJobs, loadPbsState, savePbsJobs, savePbsState } from './state';

// The daemon's PBS loop body (agent/daemon.ts arms the timer): one scan reads PBS, spools the
// hello again when the catalog changed, the 'pbs' message and each group's inventory when they
// changed, and each task or snapshot not yet reported as a run. Never throws: a failed scan is
// logged once per new cause and tried again at the next tick; what could not be spooled is
// spooled by a later scan.

export interface PbsWatcherOptions {
  stateDir: string;
  agent: string;
  log: Logger;
  /** Spools a message; false when it could not be stored (the daemon says why). */
  enqueue(msg: Unsequenced): boolean;
  /** Spools the hello again, with `jobs`; false when it could not be stored. */
  hello(): boolean;
  /** The environment the tools run in. */
  env?: NodeJS.ProcessEnv;
}

const hashOf = (value: unknown): string => createHash('sha256').update(JSON.stringify(value)).digest('base64');

export class PbsWatcher {
  /** The catalog jobs of the last scan (before the first: the saved ones), for the hello. */
  jobs: readonly CatalogJob[];
  private said: string | null = null;
  private scanning = false;
  private failure = '';
  private notes = '';

  constructor(private readonly opts: PbsWatcherOptions) {
    this.jobs = loadPbsJobs(opts.stateDir);
  }

  /** The hello just spooled holds the current jobs. */
  saidHello(): void {
    this.said = hashOf(this.jobs);
  }

  async scan(config: AgentConfig, stopping: () => boolean = () => false): Promise<void> {
    const pbs = config.pbs;
    if (!pbs || this.scanning) return;
    this.scanning = true;
    const { log } = this.opts;
    try {
      const now = Date.now();
      const notes: string[] = [];
      let inv;
      try {
        inv = await readPbs(pbs, notes, now, this.opts.env);
      } catch (err) {
        const msg = (err as Error).message;
        if (msg !== this.failure) log.error(`pbs scan failed (tried again every ${Math.round(pbs.scanMs / 1000)}s): ${msg}`);
        this.failure = msg;
        return;
      }
      if (this.failure) log.info('pbs scan works again');
      this.failure = '';
      if (stopping()) return;
      const scan = buildPbsScan(inv, { targets: config.targets, pbs }, now, this.jobs);
      notes.push(...scan.notes);
      if (notes.join('\n') !== this.notes) for (const n of notes) log.warn(`pbs: ${n}`);
      this.notes = notes.join('\n');

      const jobsHash = hashOf(scan.jobs);
      if (jobsHash !== this.said) {
        this.jobs = scan.jobs;
        const groups = scan.jobs.filter((j) => j.role !== 'maintenance').length;
        log.info(`pbs: ${scan.jobs.length - groups} server job(s) and ${groups} backup group job(s) on ${scan.message.datastores.length} datastore(s)`);
        const room = MAX_HELLO_JOBS - config.jobs.length;
        if (scan.jobs.length > room) log.warn(`pbs: a hello holds ${MAX_HELLO_JOBS} jobs; some PBS jobs are left out of the catalog (exclude datastores with pbs.exclude)`);
        try {
          savePbsJobs(config.stateDir, scan.jobs);
        } catch (err) {
          log.warn(`pbs: the jobs could not be saved in ${config.stateDir}: ${describeFsError(err, config.stateDir)}`);
        }
        if (this.opts.hello()) this.said = jobsHash;
      }

      const state = loadPbsState(config.stateDir);
      const spoolIfChanged = (key: string, msg: Unsequenced) => {
        const hash = hashOf(msg);
        if (state.sent[key] !== hash && this.opts.enqueue(msg)) state.sent[key] = hash;
      };
      spoolIfChanged('pbs', scan.message);
      const current = new Set(['pbs']);
      for (const inventory of scan.inventories) {
        current.add(`inventory:${inventory.job}`);
        spoolIfChanged(`inventory:${inventory.job}`, inventory);
      }
      // A group back after a gap (or a datastore listed again) sends its inventory again.
      for (const key of Object.keys(state.sent)) if (!current.has(key)) delete state.sent[key];

      const plan = planRuns(inv, scan, state, this.opts.agent, now);
      let spooled = 0;
      for (const r of plan.reports) {
        if (!this.opts.enqueue(r.message)) break;
        spooled++;
        if (r.task) state.tasks[r.task.upid] = { t: r.task.starttime, done: r.task.done };
        if (r.group) state.groups[r.group.key] = Math.max(state.groups[r.group.key] ?? -Infinity, r.group.time);
        const m = r.message;
        if (m.kind === 'run' && m.status !== 'success') log[m.status === 'warning' ? 'warn' : 'error'](`pbs: ${m.job} ${m.status} at ${m.startedAt}${m.error ? `: ${m.error}` : ''}`);
      }
      // Only once every run is spooled: older snapshots are then never runs.
      if (spooled === plan.reports.length) for (const [key, time] of Object.entries(plan.highWater)) state.groups[key] = Math.max(state.groups[key] ?? -Infinity, time);
      if (spooled > 0) log.info(`pbs: ${spooled} run(s) reported`);
      try {
        savePbsState(config.stateDir, state, now);
      } catch (err) {
        log.error(`pbs: what was reported could not be saved in ${config.stateDir} (it may be reported again): ${describeFsError(err, config.stateDir)}`);
      }
    } catch (err) {
      log.error(`pbs scan failed: ${(err as Error).message}`);
    } finally {
      this.scanning = false;
    }
  }
}
