import { compressionFact, compressionOf, DECOMPRESS, dumpWord, extFor } from './dumps';
import { envPrefix, shellQuote } from './shell';
import type { RunbookWriter } from './types';

/**
 * A `pg_dump -Fc` archive goes back with `pg_restore --clean --if-exists -d DB`; a pg_dumpall
 * script (compressed) is fed to psql connected to the postgres database.
 */
export const postgres: RunbookWriter<'postgres'> = {
  needs: ['dir'],
  write(f, input) {
    const bin = (name: string) => shellQuote(f.pgBin ? `${f.pgBin.replace(/\/+$/, '')}/${name}` : name);
    const conn = [...(f.host ? ['-h', f.host] : []), ...(f.port ? ['-p', f.port] : []), ...(f.user ? ['-U', f.user] : [])].map(shellQuote);
    const env = envPrefix({ PGPASSFILE: f.passFile });
    if (f.all === 'true') {
      const how = input.snapshot ? compressionOf(input.snapshot.id) : compressionFact(f.compress, 'zstd');
      const file = dumpWord(f.dir, input, extFor('sql', how));
      const psql = [`${env}${bin('psql')}`, '-X', ...conn, '-d', 'postgres'].join(' ');
      const command = how === 'none' ? `${psql} -f ${file}` : `${DECOMPRESS[how]} ${file} | ${psql}`;
      return {
        commands: [command],
        notes: ['A pg_dumpall script recreates every role and database of the cluster: run it against an empty cluster; on a running one, existing objects make errors.'],
      };
    }
    if (!f.database) return { commands: [], notes: ['The agent sent neither the database nor "all": no command can be written.'] };
    const file = dumpWord(f.dir, input, 'dump');
    const db = shellQuote(f.database);
    return {
      commands: [[`${env}${bin('pg_restore')}`, ...conn, '--clean', '--if-exists', '-d', db, file].join(' ')],
      notes: [
        `The database must exist (on a new server: ${[`${env}${bin('createdb')}`, ...conn, db].join(' ')}). --clean --if-exists drops the objects the dump holds before recreating them.`,
        'To restore beside the original, create another database and give its name to -d.',
      ],
    };
  },
};
