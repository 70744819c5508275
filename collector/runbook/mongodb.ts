import { dumpWord } from './dumps';
import { shellQuote } from './shell';
import type { RunbookWriter } from './types';

/** `mongorestore --archive=FILE --gzip --drop`, with the job's config file (it holds the password). */
export const mongodb: RunbookWriter<'mongodb'> = {
  needs: ['dir'],
  write(f, input) {
    const args = [
      ...(f.uri ? [shellQuote(`--uri=${f.uri}`)] : []),
      ...(f.configFile ? [shellQuote(`--config=${f.configFile}`)] : []),
      // --archive takes its file only in the --archive=FILE form.
      `--archive=${dumpWord(f.dir, input, 'archive.gz')}`,
      '--gzip',
      '--drop',
      ...(f.database ? [shellQuote(`--nsInclude=${f.database}.*`)] : []),
      ...(f.oplog === 'true' ? ['--oplogReplay'] : []),
    ];
    return {
      commands: [`mongorestore ${args.join(' ')}`],
      notes: ['--drop replaces every collection the archive holds. To restore beside the original, rename with --nsFrom/--nsTo instead.'],
    };
  },
};
