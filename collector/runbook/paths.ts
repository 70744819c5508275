import { dumpWord } from './dumps';
import { restoreDir, shellQuote } from './shell';
import type { RunbookWriter } from './types';

const TAR_FLAGS = { zstd: { flag: '--zstd', ext: 'tar.zst' }, gzip: { flag: '--gzip', ext: 'tar.gz' } } as const;

// Docker's default data root: the agent archives a volume from its mountpoint, stored relative to /.
const volumeMember = (volume: string) => `var/lib/docker/volumes/${volume}/_data`;

/**
 * Archive members are stored relative to / (`etc/hosts`): `tar -x -C DIR` puts them under DIR,
 * `-C /` back in place. Docker volumes are recreated and their part extracted in place.
 */
export const paths: RunbookWriter<'paths'> = {
  needs: ['dir'],
  write(f, input) {
    const { job, snapshot } = input;
    const how = (snapshot ? snapshot.id.endsWith('.tar.gz') : f.compress === 'gzip') ? TAR_FLAGS.gzip : TAR_FLAGS.zstd;
    const extract = `tar --extract ${how.flag} --file=${dumpWord(f.dir, input, how.ext)}`;
    const volumes = f.volumes ? f.volumes.split('\n') : [];
    const commands: string[] = [];
    const notes: string[] = [];
    if (f.paths) {
      commands.push(`mkdir -p ${restoreDir(job)}`, `${extract} -C ${restoreDir(job)}`);
      notes.push(`The archived paths come back under /restore/${job}; -C / instead puts them back in place.`);
    }
    for (const volume of volumes) commands.push(`docker volume create ${shellQuote(volume)}`, `${extract} -C / ${shellQuote(volumeMember(volume))}`);
    if (volumes.length) notes.push("Stop the containers that use the volumes first. The volumes' data goes back under Docker's default data root, /var/lib/docker.");
    return { commands, notes };
  },
};
