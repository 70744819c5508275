import { writeSync } from 'node:fs';
import { join } from 'node:path';
import { loadHookSettings, runVzdumpHook, settingsFromAgent } from './proxmox/hook';

// dist/lifeline-vzdump-hook.cjs: the vzdump hook alone (CommonJS, without the YAML parser and
// the schema library), so each of vzdump's calls costs about a bare `node` start. The wrapper
// that `lifeline-agent proxmox install-hook` writes runs it as
//   /usr/bin/node …/lifeline-vzdump-hook.cjs --config /etc/lifeline/agent.yaml --cache FILE PHASE [MODE VMID]
// It always exits 0: a non-zero exit would fail the guest's backup (see agent/proxmox/hook.ts).

const DEFAULT_CONFIG = '/etc/lifeline/agent.yaml';
/** The full agent, built beside this bundle: it resolves the config when the cache is stale. */
const AGENT_BIN = join(__dirname, 'lifeline-agent.js');

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  let configFile = process.env.LIFELINE_CONFIG ?? DEFAULT_CONFIG;
  let cacheFile: string | undefined;
  const positionals: string[] = [];
  for (let i = 0; i < args.length; i++) {
    if (args[i] === '--config' && i + 1 < args.length) configFile = args[++i];
    else if (args[i] === '--cache' && i + 1 < args.length) cacheFile = args[++i];
    else positionals.push(args[i]);
  }
  const [phase = '', mode, vmid] = positionals;
  const settings = () => loadHookSettings(configFile, cacheFile, (file) => settingsFromAgent(AGENT_BIN, file));
  const lines = await runVzdumpHook({ phase, mode, vmid, env: process.env, settings, parentPid: process.ppid });
  if (lines.length > 0) say(`${lines.join('\n')}\n`);
}

// Straight to fd 1: process.stdout would load the stream machinery, a few ms of every call.
function say(text: string): void {
  const buf = Buffer.from(text);
  for (let off = 0, tries = 0; off < buf.length && tries < 100; tries++) {
    try {
      off += writeSync(1, buf, off);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EAGAIN') return; // nobody reads: nothing to tell
    }
  }
}

main().then(
  () => {
    process.exitCode = 0;
  },
  (err: unknown) => {
    say(`lifeline-agent: vzdump hook failed: ${(err as Error)?.message ?? String(err)}\n`);
    process.exitCode = 0;
  },
);
