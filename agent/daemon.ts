import { watch, type FSWatcher } from 'node:fs';
import { join } from 'node:path';
import { VERSION } from '../shared/version';
import { helloMessage } from './catalog';
import { collectorUrl } from './collector-url';
import type { AgentConfig, JobConfig } from './config';
import { loadConfigIsolated } from './config-loader';
import { collectHostFacts } from './host-facts';
import { runJob, type Task } from './job-runner';
import { loadKey } from './keys';
import type { Logger } from './logger';
import { Scheduler } from './scheduler';
import { Sender } from './sender';
import { Spool } from './spool';

/**
 * The long-running agent: schedules jobs, spools every report, and keeps a sender draining
 * the spool to the collector. Config changes (SIGHUP or an edit of the file) are applied only
 * when the new file is valid; a broken edit keeps the running config and says why.
 */
export class Daemon {
  private config: AgentConfig;
  private readonly spool: Spool;
  private readonly sender: Sender;
  private readonly scheduler: Scheduler;
  private readonly running = new Map<string, AbortController>();
  private heartbeat?: NodeJS.Timeout;
  private hostFactsTimer?: NodeJS.Timeout;
  private hostFactsTimerMs = 0;
  private collectingHostFacts = false;
  private watcher?: FSWatcher;
  private reloadTimer?: NodeJS.Timeout;
  private readonly startedAt = Date.now();
  private stopping = false;

  constructor(config: AgentConfig, private readonly log: Logger) {
    this.config = config;
    const url = collectorUrl(config);
    if (!url) throw new Error(`no collector to report to: set agent.collector in ${config.file} or run: lifeline-agent enroll URL TOKEN`);
    const key = loadKey(config.keyFile);
    this.spool = new Spool(join(config.stateDir, 'spool'), { maxBytes: config.spool.maxBytes, agent: config.name });
    this.sender = new Sender({
      spool: this.spool,
      url,
      agent: config.name,
      secretKey: key.secretKey,
      batch: config.spool.batch,
      baseMs: config.retry.min,
      capMs: config.retry.max,
      log: (level, msg) => log[level === 'error' ? 'error' : level === 'warn' ? 'warn' : 'info'](msg),
    });
    this.scheduler = new Scheduler((job, task) => void this.trigger(job, task, 'schedule'));
  }

  start(): void {
    this.log.info(`lifeline-agent ${VERSION} starting as ${this.config.name}: ${this.config.jobs.length} job(s), reporting to ${collectorUrl(this.config)}`);
    this.sender.start();
    this.sendHello();
    this.sendHeartbeat();
    this.heartbeat = setInterval(() => this.sendHeartbeat(), this.config.heartbeatMs);
    void this.sendHostFacts();
    this.armHostFacts();
    this.scheduler.start(this.config.jobs);
    this.watchConfig();
  }

  /** Runs a task of a job now; overlapping operations of one job are refused by its lock. */
  async trigger(job: JobConfig, task: Task, trigger: 'schedule' | 'manual'): Promise<void> {
    if (this.stopping) return;
    const abort = new AbortController();
    const key = `${job.name}:${task}:${Date.now()}:${Math.random()}`;
    this.running.set(key, abort);
    try {
      const reports = await runJob(job, { config: this.config, spool: this.spool, trigger, task, onSpooled: () => this.sender.kick(), signal: abort.signal });
      for (const r of reports) {
        const level = r.status === 'success' ? 'info' : r.status === 'warning' || r.status === 'skipped' ? 'warn' : 'error';
        this.log[level](`job ${job.name} ${r.operation}: ${r.status}${r.error ? ` (${r.error})` : ''} in ${r.durationMs} ms`);
      }
    } catch (err) {
      this.log.error(`job ${job.name} ${task}: could not run: ${(err as Error).message}`);
    } finally {
      this.running.delete(key);
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
    this.config = { ...next, name: this.config.name, stateDir: this.config.stateDir, keyFile: this.config.keyFile };
    const hostFactsChanged = next.hostFactsMs !== this.hostFactsTimerMs;
    this.scheduler.start(this.config.jobs);
    if (hostFactsChanged) this.armHostFacts();
    this.sendHello();
    this.log.info(`config reloaded: ${this.config.jobs.length} job(s)`);
  }

  async stop(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    this.scheduler.stop();
    clearInterval(this.heartbeat);
    clearInterval(this.hostFactsTimer);
    clearTimeout(this.reloadTimer);
    this.watcher?.close();
    if (this.running.size > 0) this.log.warn(`stopping: interrupting ${this.running.size} running job(s)`);
    for (const abort of this.running.values()) abort.abort();
    const deadline = Date.now() + this.config.killGraceMs + 2000;
    while (this.running.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    await this.sender.flush(3000);
    await this.sender.stop();
  }

  private sendHello(): void {
    this.spool.append(helloMessage(this.config));
    this.sender.kick();
  }

  private sendHeartbeat(): void {
    const { pending, dropped } = this.spool.stats();
    this.spool.append({ kind: 'heartbeat', uptimeMs: Date.now() - this.startedAt, spool: { pending, dropped } });
    this.sender.kick();
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
      const facts = await collectHostFacts({ clockOffsetMs: this.sender.clockOffsetMs() });
      if (this.stopping) return;
      this.spool.append(facts);
      this.sender.kick();
    } catch (err) {
      this.log.warn(`host facts not collected: ${(err as Error).message}`);
    } finally {
      this.collectingHostFacts = false;
    }
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
