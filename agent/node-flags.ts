import flags from '../packaging/agent-node-flags.json';

// The V8 flags the agent starts with: the bundle's shebang (scripts/build.mjs), the packaged
// unit and command (packaging/), and the vzdump hook wrapper. One list, in packaging/ because
// the build scripts read it too. Why these: bench/agent-footprint.ts prints the agent's idle RSS
// with and without them; bench/restic-overhead.ts, bench/vzdump-hook.ts and bench/proxmox-scan.ts
// showed no cost that matters (figures in packaging/README.md). --lite-mode also turns
// WebAssembly off, and with it node's global fetch (undici parses HTTP with WebAssembly): the
// agent talks HTTP through node:http/https only (test/package-deb.test.ts checks the bundles).
export const AGENT_NODE_FLAGS: readonly string[] = flags;
