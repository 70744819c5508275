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
    const entry = this.jobs.get(job);
    if (entry?.tasks.has(task)) return fn();
    const chain = entry ?? { tail: Promise.resolve(), tasks: new Set<string>() };
    chain.tasks.add(task);
    let settled: Promise<void> | undefined;
    const mine = chain.tail.then(fn).finally(() => {
      chain.tasks.delete(task);
      if (chain.tail === settled) this.jobs.delete(job); // the last in line: forget the job
    });
    settled = mine.then(
      () => undefined,
      () => undefined,
    );
    chain.tail = settled;
    this.jobs.set(job, chain);
    return mine;
  }
}
