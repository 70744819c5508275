// SIGTERM/SIGINT for a long-running process (the agent daemon, the collector): the first starts
// the shutdown, later ones are noted and ignored. Without a handler a second signal (a second
// Ctrl-C, or a tty's SIGINT followed by a supervisor's SIGTERM) kills the process mid-shutdown:
// a database left with its WAL unmerged, a run's report unwritten. SIGKILL still ends it.

const SIGNALS = ['SIGTERM', 'SIGINT'] as const;

/** Calls `stop` once; returns a function that removes the handlers (once stopped). */
export function onStopSignals(stop: (signal: NodeJS.Signals) => void, again: (signal: NodeJS.Signals) => void): () => void {
  let stopping = false;
  const handler = (signal: NodeJS.Signals) => {
    if (stopping) return again(signal);
    stopping = true;
    stop(signal);
  };
  for (const s of SIGNALS) process.on(s, handler);
  return () => {
    for (const s of SIGNALS) process.off(s, handler);
  };
}
