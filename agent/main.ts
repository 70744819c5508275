import { main } from './cli';

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: Error) => {
    process.stderr.write(`lifeline-agent: unexpected error: ${err.stack ?? err.message}\n`);
    process.exitCode = 70;
  },
);
