import { main } from './cli';

// Entry point of dist/lifeline-collector.js (esbuild bundles from here); cli.ts stays import-safe.
main(process.argv.slice(2)).then((code) => {
  process.exitCode = code;
});
