/**
 * One operation per job at a time inside the daemon, in the order they fell due. A weekly verify
 * or restore drill scheduled at the same minute as the daily backup (or a retry landing on a
 * drill) waits for the job's other operation rather than being skipped behind its lock, which
 * would skip it every time the schedules meet. The same task falling due again while it runs or
 * waits is not queued behind itself: it goes straight to the job lock, which refuses it as
 * `skipped` (a backup slower than its schedule must show, not pile up).
 */
export class JobQueue {
  /** Per job: the end of its chain, and the tasks running or waiting in it. */
  private readonly jobs = new Map<string, { tail: Promise<void>; tasks: Set<string> }>();

  turn(job: string, task: string, fn: () => Promise<void>): Promise<void> {
    const chain = this.jobs.get(job) ?? { tail: Promise.resolve(), tasks: new Set<string>() };
    if (chain.tasks.has(task)) return fn();
    chain.tasks.add(task);
    this.jobs.set(job, chain);
    const mine = chain.tail.then(fn).finally(() => {
      chain.tasks.delete(task);
      if (chain.tasks.size === 0) this.jobs.delete(job); // nothing left in line: forget the job
    });
    chain.tail = mine.catch(() => {});
    return mine;
  }

  /** Whether the job's `task` is running or waiting its turn here. */
  has(job: string, task: string): boolean {
    return this.jobs.get(job)?.tasks.has(task) ?? false;
  }
}
