import { compressionFact, compressionOf, DECOMPRESS, dumpWord, extFor } from './dumps';
import { shellQuote } from './shell';
import type { RunbookWriter } from './types';

/** A mariadb-dump/mysqldump SQL file, decompressed if it is, fed to the client for the database. */
export const mysql: RunbookWriter<'mysql'> = {
  needs: ['dir', 'database'],
  write(f, input) {
    const client = f.client === 'mysql' ? 'mysql' : 'mariadb';
    // The client honours --defaults-extra-file only as its very first argument.
    const conn = [
      ...(f.optionsFile ? [`--defaults-extra-file=${f.optionsFile}`] : []),
      ...(f.host ? [`--host=${f.host}`] : []),
      ...(f.port ? [`--port=${f.port}`] : []),
      ...(f.socket ? [`--socket=${f.socket}`] : []),
      ...(f.user ? [`--user=${f.user}`] : []),
    ].map(shellQuote);
    const run = [client, ...conn].join(' ');
    const how = input.snapshot ? compressionOf(input.snapshot.id) : compressionFact(f.compress, 'none');
    const file = dumpWord(f.dir, input, extFor('sql', how));
    const db = shellQuote(f.database);
    // The dump names no database (it was made for one): it must exist before loading.
    const create = `${run} -e ${shellQuote(`CREATE DATABASE IF NOT EXISTS \`${f.database.replace(/`/g, '``')}\``)}`;
    const load = how === 'none' ? `${run} ${db} < ${file}` : `${DECOMPRESS[how]} ${file} | ${run} ${db}`;
    const notes = ['The dump drops and recreates each table it holds. To restore beside the original, load it into another database name.'];
    if (!f.client) notes.push('Written for MariaDB: on a MySQL server the client is mysql, with the same arguments.');
    return { commands: [create, load], notes };
  },
};
