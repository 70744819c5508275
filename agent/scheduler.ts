import type { Cron } from 'croner';
import { cronFor } from '../shared/schedule';
import type { JobConfig } from './config';
import type { Task } from './job-runner';

/** Tasks of one job falling due within this window are one meeting, started in TASK_ORDER. */
const SAME_TIME_MS = 500;
/** The backup first, so a verification or drill due with it checks the archive just made. */
const TASK_ORDER: readonly Task[] = ['backup', 'verify', 'restore-test'];

/**
 * Fires each job on its schedule in the host's local zone (croner handles DST: a time in the
 * spring-forward gap runs right after it, an hour repeated in autumn runs once). Croner's
 * timers are single setTimeouts, so an idle agent uses no CPU between runs. Each schedule has
 * its own timer, and timers due at the same second fire in no set order: a job's tasks falling
 * due together are gathered for SAME_TIME_MS and handed over in TASK_ORDER.
 */
export class Scheduler {
  private crons: Cron[] = [];
  private readonly due = new Map<string, { tasks: Set<Task>; timer: NodeJS.Timeout }>();

  constructor(private readonly fire: (job: JobConfig, task: Task) => void) {}

  /** Backups on the job's schedule; integrity checks and restore drills on their own. */
  start(jobs: readonly JobConfig[]): void {
    // A reload replaces the timers; tasks already gathered still run (with the config they fell due under).
    for (const c of this.crons) c.stop();
    this.crons = [];
    for (const job of jobs) {
      this.crons.push(cronFor(job.schedule, undefined, () => this.gather(job, 'backup')));
      if (job.verify) this.crons.push(cronFor(job.verify.schedule, undefined, () => this.gather(job, 'verify')));
      if (job.restoreTest) this.crons.push(cronFor(job.restoreTest.schedule, undefined, () => this.gather(job, 'restore-test')));
    }
  }

  stop(): void {
    for (const c of this.crons) c.stop();
    this.crons = [];
    for (const { timer } of this.due.values()) clearTimeout(timer);
    this.due.clear();
  }

  private gather(job: JobConfig, task: Task): void {
    const pending = this.due.get(job.name);
    if (pending) {
      pending.tasks.add(task);
      return;
    }
    const tasks = new Set<Task>([task]);
    const timer = setTimeout(() => {
      this.due.delete(job.name);
      for (const t of TASK_ORDER) if (tasks.has(t)) this.fire(job, t);
    }, SAME_TIME_MS);
    this.due.set(job.name, { tasks, timer });
  }
}
