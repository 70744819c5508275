import { AGENT_NODE_FLAGS } from '../agent/node-flags';

// The node flags benchmarks start the agent with: the shipped ones (agent/node-flags.ts), or
// BENCH_AGENT_FLAGS (space-separated; '' for none) to compare, e.g.
//   BENCH_AGENT_FLAGS='' npm run bench -- bench/restic-overhead.ts
export const benchAgentFlags: readonly string[] =
  process.env.BENCH_AGENT_FLAGS === undefined ? AGENT_NODE_FLAGS : process.env.BENCH_AGENT_FLAGS.split(/\s+/).filter(Boolean);

export const flagsLabel = (flags: readonly string[]) => (flags.length ? flags.join(' ') : 'no flags');
