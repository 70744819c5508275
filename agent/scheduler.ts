import type { Cron } from 'croner';
import { cronFor } from '../shared/schedule';
import type { JobConfig } from './config';
import type { Task } from './job-runner';

/**
 * Fires each job on its schedule in the host's local zone (croner handles DST: a time in the
 * spring-forward gap runs right after it, an hour repeated in autumn runs once). Croner's
 * timers are single setTimeouts, so an idle agent uses no CPU between runs.
 */
export class Scheduler {
  private crons: Cron[] = [];

  constructor(private readonly fire: (job: JobConfig, task: Task) => void) {}

  /** Backups on the job's schedule; integrity checks and restore drills on their own. */
  start(jobs: readonly JobConfig[]): void {
    this.stop();
    for (const job of jobs) {
      this.crons.push(cronFor(job.schedule, undefined, () => this.fire(job, 'backup')));
      if (job.verify) this.crons.push(cronFor(job.verify.schedule, undefined, () => this.fire(job, 'verify')));
      if (job.restoreTest) this.crons.push(cronFor(job.restoreTest.schedule, undefined, () => this.fire(job, 'restore-test')));
    }
  }

  stop(): void {
    for (const c of this.crons) c.stop();
    this.crons = [];
  }
}
