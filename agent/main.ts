import { main } from './cli';

// `lifeline-agent status | head -3`: the reader went away; that is the end of the output, not an error.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(process.exitCode ?? 0);
    throw err;
  });
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: Error) => {
    process.stderr.write(`lifeline-agent: unexpected error: ${err.stack ?? err.message}\n`);
    process.exitCode = 70;
  },
);
