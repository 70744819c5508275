import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, watch, type FSWatcher } from 'node:fs';
import { join } from 'node:path';
import type { CatalogJob, Unsequenced } from '../shared/protocol';
import { previousRunMs } from '../shared/schedule';
import { VERSION } from '../shared/version';
import { helloMessage, MAX_HELLO_JOBS } from './catalog';
import { collectorUrl, enrollmentFile, readEnrollment, saveEnrollment, collectorTls, type Enrollment } from './collector-url';
import type { AgentConfig, JobConfig } from './config';
import { loadConfigIsolated } from './config-loader';
import { describeFsError } from './durable-file';
import { collectHostFacts } from './host-facts';
import { JobQueue } from './job-queue';
import { lastRunFile, runJob, type RunJobOptions, type Task, type Trigger } from './job-runner';
import { loadKey, restoreKeyFile } from './keys';
import type { Logger } from './logger';
import { loadDiscoveredJobs, saveDiscoveredJobs, scanProxmox, type SnapshotCache } from './proxmox/discovery';
import { reportTaskHistory } from './proxmox/history';
import { PbsWatcher } from './pbs/watch';
import { TrueNasWatcher } from './truenas/watch';
import { catchUpSlot, type LastAttempt } from './retry';
import { Scheduler } from './scheduler';
import { Sender } from './sender';
import { Spool, SpoolWriteError } from './spool';

/**
 * A slot younger than this is left to the scheduler, which fires it on time: at start a few
 * seconds (the scheduler fires nothing from the past), later two minutes (a late timer after a
 * suspend, not a slot being fired right now).
 */
const CATCH_UP_AT_START_MS = 5_000;
const CATCH_UP_LATER_MS = 2 * 60_000;

/**
 * The long-running agent: schedules jobs, spools every report, and keeps a sender draining
 * the spool to the collector. Config changes (SIGHUP or an edit of the file) are applied only
 * when the new file is valid; a broken edit keeps the running config and says why. Nothing a
 * timer does may end the process: a full disk, a removed state directory or a failing tool is
 * logged, reported when it can be, and tried again.
 */
export class Daemon {
  private config: AgentConfig;
  private readonly spool: Spool;
  private readonly sender: Sender;
  private readonly scheduler: Scheduler;
  private readonly key: ReturnType<typeof loadKey>;
  private readonly url: string;
  private readonly running = new Map<string, AbortController>();
  /** Operations in progress or waiting their turn, per job (a backup there is not caught up). */
  private readonly queue = new JobQueue();
  private readonly retries = new Map<string, NodeJS.Timeout>();
  /** The slot each job last caught up, so a slot is made up once. */
  private readonly caughtUp = new Map<string, number>();
  private heartbeat?: NodeJS.Timeout;
  private hostFactsTimer?: NodeJS.Timeout;
  private hostFactsTimerMs = 0;
  private collectingHostFacts = false;
  private watcher?: FSWatcher;
  private proxmoxTimer?: NodeJS.Timeout;
  private scanning = false;
  /** Guests' snapshot lists between scans: refreshed a few at a time (see SnapshotCache). */
  private readonly snapshotCache: SnapshotCache = new Map();
  /** The backups the last Proxmox scan found (before the first scan: the ones saved by the last). */
  private discovered: readonly CatalogJob[] = [];
  /** A hash of what each scan result last spooled (hello jobs, proxmox, each inventory): resent only on change. */
  private readonly scanSent = new Map<string, string>();
  private scanNotes = '';
  /** The Proxmox Backup Server watcher (agent/pbs/), with a `pbs:` section. */
  private pbs?: PbsWatcher;
  private pbsTimer?: NodeJS.Timeout;
  /** The TrueNAS watcher (agent/truenas/), with a `truenas:` section. */
  private truenas?: TrueNasWatcher;
  private truenasTimer?: NodeJS.Timeout;
  private reloadTimer?: NodeJS.Timeout;
  private readonly startedAt = Date.now();
  private stopping = false;
  private spoolError: string | null = null;
  private readonly enrollment: Enrollment | null;

  constructor(config: AgentConfig, private readonly log: Logger) {
    this.config = config;
    const url = collectorUrl(config);
    if (!url) throw new Error(`no collector to report to: set agent.collector in ${config.file} or run: lifeline-agent enroll URL TOKEN`);
    this.url = url;
    // Kept whole (its pinned fingerprint too) to write back if the state directory is removed.
    this.enrollment = config.collector ? null : readEnrollment(config.stateDir);
    this.key = loadKey(config.keyFile);
    this.spool = new Spool(join(config.stateDir, 'spool'), { maxBytes: config.spool.maxBytes, agent: config.name, notice: (level, msg) => log[level](msg) });
    this.sender = new Sender({
      spool: this.spool,
      url,
      agent: config.name,
      secretKey: this.key.secretKey,
      batch: config.spool.batch,
      baseMs: config.retry.min,
      capMs: config.retry.max,
      tls: collectorTls(config),
      log: (level, msg) => log[level === 'error' ? 'error' : level === 'warn' ? 'warn' : 'info'](msg),
    });
    this.scheduler = new Scheduler((job, task) => void this.trigger(job, task, 'schedule', task === 'backup' ? { scheduledFor: this.slotNow(job), attempt: 1 } : {}));
  }

  /** Starts every part or none: a daemon that could not start its scheduler must not linger. */
  start(): void {
    this.log.info(`lifeline-agent ${VERSION} starting as ${this.config.name}: ${this.config.jobs.length} job(s), reporting to ${this.url}`);
    try {
      this.sender.start();
      if (this.config.proxmox) this.discovered = loadDiscoveredJobs(this.config.stateDir);
      if (this.config.pbs) this.pbs = this.pbsWatcher();
      if (this.config.truenas) this.truenas = this.truenasWatcher();
      // The first scan says hello again only if it finds other guest jobs than the saved ones.
      if (this.enqueue(this.hello())) {
        if (this.config.proxmox) this.scanSent.set('jobs', hashOf(this.discovered));
        this.pbs?.saidHello();
        this.truenas?.saidHello();
      }
      this.beat(false);
      this.heartbeat = setInterval(() => this.beat(true), this.config.heartbeatMs);
      void this.sendHostFacts();
      this.armHostFacts();
      this.armProxmox();
      this.armPbs();
      this.armTrueNas();
      this.scheduler.start(this.config.jobs);
      this.watchConfig();
      this.catchUp(CATCH_UP_AT_START_MS);
    } catch (err) {
      void this.stop();
      throw err;
    }
  }

  /**
   * Runs a task of a job once the job's other operations in this daemon are done (JobQueue);
   * one already running elsewhere (a CLI run) or the same task again is refused by the job lock.
   */
  async trigger(job: JobConfig, task: Task, trigger: Trigger, slot: { scheduledFor?: string; attempt?: number } = {}): Promise<void> {
    if (this.stopping) return;
    const abort = new AbortController();
    const key = `${job.name}:${task}:${Date.now()}:${Math.random()}`;
    this.running.set(key, abort);
    if (task === 'backup') this.cancelRetry(job.name);
    try {
      await this.queue.turn(job.name, task, () => this.runTask(job, task, trigger, slot, abort.signal));
    } finally {
      this.running.delete(key);
    }
  }

  private async runTask(job: JobConfig, task: Task, trigger: Trigger, slot: { scheduledFor?: string; attempt?: number }, signal: AbortSignal): Promise<void> {
    if (signal.aborted) return; // stopped while waiting its turn
    const backup = task === 'backup';
    try {
      this.restoreStateDir();
      const opts: RunJobOptions = { config: this.config, spool: this.spool, trigger, task, onSpooled: () => this.sender.kick(), signal, log: this.log, ...slot };
      if (backup && trigger !== 'manual') opts.retry = job.retry;
      const { reports, unrecorded } = await runJob(job, opts);
      for (const r of reports) {
        const level = r.status === 'success' ? 'info' : r.status === 'warning' || r.status === 'skipped' ? 'warn' : 'error';
        const retry = r.retryAt ? `; attempt ${r.attempt ?? 1}, retrying at ${r.retryAt}` : '';
        this.log[level](`job ${job.name} ${r.operation} (${trigger}): ${r.status}${r.error ? ` (${r.error})` : ''} in ${r.durationMs} ms${retry}`);
        if (r.retryAt && !this.stopping) this.planRetry(job, r.retryAt, { scheduledFor: r.scheduledFor, attempt: (r.attempt ?? 1) + 1 });
      }
      for (const err of unrecorded) this.spoolFailed(err);
    } catch (err) {
      this.log.error(`job ${job.name} ${task}: could not run: ${(err as Error).message}`);
    }
  }

  reload(): void {
    let next: AgentConfig;
    try {
      next = loadConfigIsolated(this.config.file);
    } catch (err) {
      this.log.error(`config change ignored, keeping the running config:\n${(err as Error).message}`);
      return;
    }
    if (JSON.stringify(next) === JSON.stringify(this.config)) return;
    if (next.name !== this.config.name || next.stateDir !== this.config.stateDir || next.keyFile !== this.config.keyFile) {
      this.log.warn('agent name, stateDir or keyFile changed: restart the service to apply them; jobs were reloaded');
    }
    // The sender was built with the collector and how its certificate is checked.
    if (next.collector !== this.config.collector || next.collectorFingerprint !== this.config.collectorFingerprint || next.collectorCa !== this.config.collectorCa) {
      this.log.warn('agent.collector, collectorFingerprint or collectorCa changed: restart the service to apply them; jobs were reloaded');
    }
    this.config = { ...next, name: this.config.name, stateDir: this.config.stateDir, keyFile: this.config.keyFile };
    const hostFactsChanged = next.hostFactsMs !== this.hostFactsTimerMs;
    this.scheduler.start(this.config.jobs);
    for (const name of [...this.retries.keys()]) if (!this.config.jobs.some((j) => j.name === name)) this.cancelRetry(name);
    if (hostFactsChanged) this.armHostFacts();
    // Tiers, exclusions or targets may have changed: scan again now (or stop scanning).
    if (!this.config.proxmox) this.discovered = [];
    this.armProxmox();
    this.armPbs();
    this.armTrueNas();
    this.enqueue(this.hello());
    this.log.info(`config reloaded: ${this.config.jobs.length} job(s)`);
  }

  async stop(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    this.scheduler.stop();
    clearInterval(this.heartbeat);
    clearInterval(this.hostFactsTimer);
    clearInterval(this.proxmoxTimer);
    clearInterval(this.pbsTimer);
    clearInterval(this.truenasTimer);
    clearTimeout(this.reloadTimer);
    for (const name of [...this.retries.keys()]) this.cancelRetry(name);
    this.watcher?.close();
    if (this.running.size > 0) this.log.warn(`stopping: interrupting ${this.running.size} running job(s)`);
    for (const abort of this.running.values()) abort.abort();
    const deadline = Date.now() + this.config.killGraceMs + 2000;
    while (this.running.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    await this.sender.flush(3000);
    await this.sender.stop();
  }

  /** Spools a message and wakes the sender; a message that cannot be stored is logged, never thrown. */
  private enqueue(msg: Unsequenced): boolean {
    try {
      this.spool.append(msg);
    } catch (err) {
      if (!(err instanceof SpoolWriteError)) throw err;
      this.spoolFailed(err);
      return false;
    }
    this.sender.kick();
    return true;
  }

  /** Says once per new cause (not every heartbeat) that reports are being lost. */
  private spoolFailed(err: SpoolWriteError): void {
    this.spoolProblem(`${err.message}; reports are lost until there is room again`);
  }

  /**
   * The spool's state as the heartbeat reads it (this process or another may have hit the full
   * disk): a new problem is logged once, and so is its end.
   */
  private spoolProblem(problem: string | null): void {
    if (problem === this.spoolError) return;
    if (problem === null) this.log.info(`the spool at ${this.spool.dir} can store messages again`);
    else this.log.error(problem);
    this.spoolError = problem;
  }

  /** The heartbeat tick: everything in it is guarded, since an exception here would end the daemon. */
  private beat(catchUp: boolean): void {
    try {
      this.restoreStateDir();
      const { pending, dropped, rejected, lost, error } = this.spool.stats();
      if (error === null) this.spoolProblem(null);
      else if (this.spoolError === null) this.spoolProblem(error);
      this.enqueue({ kind: 'heartbeat', uptimeMs: Date.now() - this.startedAt, spool: { pending, dropped, rejected, lost, ...(error ? { error } : {}) } });
      if (catchUp) this.catchUp(CATCH_UP_LATER_MS);
    } catch (err) {
      this.log.error(`heartbeat failed: ${(err as Error).message}`);
    }
  }

  /**
   * The state directory removed under the running daemon (an operator cleaning up, a tmpfs
   * remounted): recreate it, and write back what only it held and this process still knows.
   */
  private restoreStateDir(): void {
    const dir = this.config.stateDir;
    const restored: string[] = [];
    try {
      // Each piece on its own: the spool may already have recreated the directory for its next
      // message, and the key and enrollment would then never be written back.
      if (!existsSync(dir)) {
        mkdirSync(dir, { recursive: true, mode: 0o700 });
        restored.push(dir);
      }
      if (!existsSync(this.config.keyFile)) {
        restoreKeyFile(this.config.keyFile, this.key);
        restored.push(`the agent key ${this.config.keyFile}`);
      }
      if (this.enrollment && !existsSync(enrollmentFile(dir))) {
        saveEnrollment(dir, this.enrollment);
        restored.push('the enrollment');
      }
      if (restored.length === 0) return;
      this.log.warn(`the state directory ${dir} was removed under the running agent: recreated ${restored.join(', ')}; the spool and locks are recreated as they are used, messages not yet sent are lost`);
    } catch (err) {
      this.log.error(`the state directory ${dir} is gone and cannot be recreated: ${describeFsError(err, dir)}`);
    }
  }

  private planRetry(job: JobConfig, retryAt: string, slot: { scheduledFor?: string; attempt: number }): void {
    this.cancelRetry(job.name);
    const delay = Math.max(0, Date.parse(retryAt) - Date.now());
    const timer = setTimeout(() => {
      this.retries.delete(job.name);
      const current = this.config.jobs.find((j) => j.name === job.name);
      if (current) void this.trigger(current, 'backup', 'retry', slot);
    }, delay);
    this.retries.set(job.name, timer);
  }

  private cancelRetry(name: string): void {
    clearTimeout(this.retries.get(name));
    this.retries.delete(name);
  }

  /**
   * Runs once each backup whose newest slot was missed while the host or agent was down (or
   * whose planned retry never happened), instead of waiting a whole period for the next one.
   */
  private catchUp(minAgeMs: number): void {
    const now = Date.now();
    for (const job of this.config.jobs) {
      if (this.queue.has(job.name, 'backup') || this.retries.has(job.name)) continue;
      const slot = catchUpSlot(job.schedule, this.lastAttempt(job), now, minAgeMs);
      if (slot === null || this.caughtUp.get(job.name) === slot) continue;
      this.caughtUp.set(job.name, slot);
      const at = new Date(slot).toISOString();
      this.log.warn(`job ${job.name}: catch-up for the ${at} run, missed while the host or agent was down: running it now`);
      void this.trigger(job, 'backup', 'catch-up', { scheduledFor: at, attempt: 1 });
    }
  }

  private lastAttempt(job: JobConfig): LastAttempt | null {
    try {
      return JSON.parse(readFileSync(lastRunFile(this.config.stateDir, job.name, 'backup'), 'utf8')) as LastAttempt;
    } catch {
      return null;
    }
  }

  /** The slot a scheduled run serves: its schedule's fire time at (or just before) now. */
  private slotNow(job: JobConfig): string | undefined {
    const slot = previousRunMs(job.schedule, Date.now() + 1000);
    return slot === null ? undefined : new Date(slot).toISOString();
  }

  private armHostFacts(): void {
    clearInterval(this.hostFactsTimer);
    this.hostFactsTimerMs = this.config.hostFactsMs;
    // unref: a pending collection never keeps the process alive on its own.
    this.hostFactsTimer = setInterval(() => void this.sendHostFacts(), this.config.hostFactsMs).unref();
  }

  private async sendHostFacts(): Promise<void> {
    if (this.collectingHostFacts || this.stopping) return;
    this.collectingHostFacts = true;
    try {
      const facts = await collectHostFacts({ clockOffsetMs: this.sender.clockOffsetMs(), ...(this.config.zfs?.zpool ? { zpool: this.config.zfs.zpool } : {}) });
      if (this.stopping) return;
      this.enqueue(facts);
    } catch (err) {
      this.log.warn(`host facts not collected: ${(err as Error).message}`);
    } finally {
      this.collectingHostFacts = false;
    }
  }

  /** The configured jobs, the Proxmox backups found on this node and the PBS jobs. */
  private hello(): Unsequenced {
    return helloMessage(this.config, [...this.discovered, ...(this.pbs?.jobs ?? []), ...(this.truenas?.jobs ?? [])]);
  }

  private pbsWatcher(): PbsWatcher {
    return new PbsWatcher({ stateDir: this.config.stateDir, agent: this.config.name, log: this.log, enqueue: (m) => this.enqueue(m), hello: () => this.enqueue(this.hello()) });
  }

  /** Scans the Proxmox Backup Server now and every `pbs.scan` (no timer without a pbs: section). */
  private armPbs(): void {
    clearInterval(this.pbsTimer);
    this.pbsTimer = undefined;
    if (!this.config.pbs) {
      this.pbs = undefined;
      return;
    }
    const watcher = (this.pbs ??= this.pbsWatcher());
    const scan = () => void watcher.scan(this.config, () => this.stopping);
    this.pbsTimer = setInterval(scan, this.config.pbs.scanMs).unref();
    scan();
  }

  private truenasWatcher(): TrueNasWatcher {
    return new TrueNasWatcher({ stateDir: this.config.stateDir, log: this.log, enqueue: (m) => this.enqueue(m), hello: () => this.enqueue(this.hello()) });
  }

  /** Reads TrueNAS's tasks now and every `truenas.scan` (no timer without a truenas: section). */
  private armTrueNas(): void {
    clearInterval(this.truenasTimer);
    this.truenasTimer = undefined;
    if (!this.config.truenas) {
      this.truenas = undefined;
      return;
    }
    const watcher = (this.truenas ??= this.truenasWatcher());
    const scan = () => void watcher.scan(this.config, () => this.stopping);
    this.truenasTimer = setInterval(scan, this.config.truenas.scanMs).unref();
    scan();
  }

  /** Scans the Proxmox cluster now and every `proxmox.scan` (no timer without a proxmox: section). */
  private armProxmox(): void {
    clearInterval(this.proxmoxTimer);
    this.proxmoxTimer = undefined;
    if (!this.config.proxmox) return;
    this.proxmoxTimer = setInterval(() => void this.scanProxmox(), this.config.proxmox.scanMs).unref();
    void this.scanProxmox();
  }

  /**
   * One Proxmox scan: the hello again when the guests' backup jobs changed, the proxmox message
   * and each inventory when they changed, then the vzdump task history. Never throws: a failed
   * scan is logged and tried again at the next tick; a result that could not be spooled is sent
   * again by the next scan.
   */
  private async scanProxmox(): Promise<void> {
    const config = this.config;
    const proxmox = config.proxmox;
    if (!proxmox || this.scanning || this.stopping) return;
    this.scanning = true;
    try {
      try {
        const scan = await scanProxmox(config, { snapshotCache: this.snapshotCache });
        if (this.stopping) return;
        const notes = scan.notes.join('\n');
        if (notes !== this.scanNotes) for (const n of scan.notes) this.log.warn(`proxmox: ${n}`);
        this.scanNotes = notes;
        const jobsHash = hashOf(scan.jobs);
        if (this.scanSent.get('jobs') !== jobsHash) {
          this.discovered = scan.jobs;
          this.log.info(`proxmox: ${scan.jobs.length} guest backup job(s) on node ${proxmox.node}${scan.jobs.length ? `: ${scan.jobs.map((j) => j.name).join(', ')}` : ''}`);
          const room = MAX_HELLO_JOBS - config.jobs.length;
          if (scan.jobs.length > room) this.log.warn(`proxmox: a hello holds ${MAX_HELLO_JOBS} jobs; ${scan.jobs.length - room} guest backup job(s) are left out of the catalog`);
          try {
            saveDiscoveredJobs(config.stateDir, scan.jobs);
          } catch (err) {
            this.log.warn(`proxmox: the guest backup jobs could not be saved in ${config.stateDir}: ${describeFsError(err, config.stateDir)}`);
          }
          if (this.enqueue(this.hello())) this.scanSent.set('jobs', jobsHash);
        }
        this.spoolIfChanged('proxmox', scan.message);
        const inventories = new Set<string>();
        for (const inv of scan.inventories) {
          inventories.add(`inventory:${inv.job}`);
          this.spoolIfChanged(`inventory:${inv.job}`, inv);
        }
        for (const key of [...this.scanSent.keys()]) if (key.startsWith('inventory:') && !inventories.has(key)) this.scanSent.delete(key);
      } catch (err) {
        this.log.error(`proxmox scan failed (tried again in ${Math.round(proxmox.scanMs / 1000)}s): ${(err as Error).message}`);
      }
      if (this.stopping) return;
      try {
        await reportTaskHistory({ config, proxmox, spool: this.spool, onSpooled: () => this.sender.kick() });
      } catch (err) {
        this.log.error(`vzdump task history not read: ${(err as Error).message}`);
      }
    } finally {
      this.scanning = false;
    }
  }

  private spoolIfChanged(key: string, msg: Unsequenced): void {
    const hash = hashOf(msg);
    if (this.scanSent.get(key) === hash) return;
    if (this.enqueue(msg)) this.scanSent.set(key, hash);
  }

  private watchConfig(): void {
    try {
      // Editors replace the file (rename), so watch it and re-arm on each event.
      this.watcher = watch(this.config.file, { persistent: false }, () => {
        clearTimeout(this.reloadTimer);
        this.reloadTimer = setTimeout(() => {
          this.watcher?.close();
          this.watchConfig();
          this.reload();
        }, 500);
      });
    } catch (err) {
      this.log.warn(`cannot watch ${this.config.file} for changes (${(err as Error).message}); send SIGHUP to reload`);
    }
  }
}

const hashOf = (value: unknown): string => createHash('sha256').update(JSON.stringify(value)).digest('base64');
