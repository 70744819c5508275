// Bundles the agent and the collector into one executable file each under dist/.
import { build } from 'esbuild';
import { chmodSync, existsSync, mkdirSync, readFileSync, statSync, symlinkSync } from 'node:fs';
import { resolve } from 'node:path';

const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));
const agentFlags = JSON.parse(readFileSync(new URL('../packaging/agent-node-flags.json', import.meta.url), 'utf8'));
// ESM output, but bundled CommonJS dependencies (fastify…) still call require().
const banner = "#!/usr/bin/env node\nimport { createRequire as __llCreateRequire } from 'node:module';\nconst require = __llCreateRequire(import.meta.url);";

// zod's namespace re-exports every locale (about 250 KB of the agent bundle); Lifeline speaks
// English only, so the locale index resolves to English alone.
const englishOnlyZod = {
  name: 'zod-english-only',
  setup(b) {
    b.onResolve({ filter: /locales\/index\.js$/ }, (args) =>
      args.importer.includes('/zod/') ? { path: 'zod-locales-en', namespace: 'zod-locales' } : undefined,
    );
    b.onLoad({ filter: /.*/, namespace: 'zod-locales' }, () => ({
      contents: "export { default as en } from 'zod/v4/locales/en.js';",
      resolveDir: process.cwd(),
    }));
  },
};

const common = {
  plugins: [englishOnlyZod],
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'esm',
  minify: true,
  sourcemap: false,
  legalComments: 'none',
  banner: { js: banner },
  // LIFELINE_VERSION: scripts/package.mjs --version (a package built with another version).
  define: { __LIFELINE_VERSION__: JSON.stringify(process.env.LIFELINE_VERSION || pkg.version) },
  logLevel: 'warning',
};

// `--outdir DIR` builds elsewhere (parallel work trees); tests then read LIFELINE_DIST=DIR.
const outIndex = process.argv.indexOf('--outdir');
const outdir = outIndex > 0 ? process.argv[outIndex + 1] : 'dist';
const outputs = [
  // The agent starts with its V8 flags (packaging/agent-node-flags.json) when run by its shebang too.
  { entryPoints: ['agent/main.ts'], outfile: `${outdir}/lifeline-agent.js`, banner: { js: banner.replace('#!/usr/bin/env node', agentFlags.length ? `#!/usr/bin/env -S node ${agentFlags.join(' ')}` : '#!/usr/bin/env node') } },
  // The vzdump hook alone (agent/vzdump-hook-main.ts): vzdump calls it a dozen times per guest
  // and waits each time, so it starts without the YAML parser, the schema library and the rest
  // of the agent, and as CommonJS (Node's ESM loader costs a start-up measurably more).
  { entryPoints: ['agent/vzdump-hook-main.ts'], outfile: `${outdir}/lifeline-vzdump-hook.cjs`, format: 'cjs', banner: { js: '' } },
  // better-sqlite3 is a native module: installed beside the bundle, never inlined.
  { entryPoints: ['collector/main.ts'], outfile: `${outdir}/lifeline-collector.js`, external: ['better-sqlite3'] },
  // The evaluation worker thread (collector/evaluate/worker-host.ts starts it from beside the collector).
  { entryPoints: ['collector/evaluate/worker-main.ts'], outfile: `${outdir}/lifeline-collector-worker.js`, external: ['better-sqlite3'] },
];

// The collector loads better-sqlite3 from beside itself: give an outside build dir a way to it.
const modules = resolve(outdir, 'node_modules');
if (resolve(outdir) !== resolve('dist') && !existsSync(modules)) {
  mkdirSync(outdir, { recursive: true });
  symlinkSync(resolve('node_modules'), modules);
}

for (const o of outputs) {
  await build({ ...common, ...o });
  chmodSync(o.outfile, 0o755);
  console.log(`${o.outfile}  ${(statSync(o.outfile).size / 1024).toFixed(0)} KiB`);
}
