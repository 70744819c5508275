import { envPrefix, restoreDir, shellQuote } from './shell';
import type { RunbookWriter } from './types';

/** `rclone copy DESTINATION DIR`: the off-site copy has no history, it is restored as it is now. */
export const rclone: RunbookWriter<'rclone'> = {
  needs: ['destination'],
  write(f, { job }) {
    const env = envPrefix({ RCLONE_CONFIG: f.configFile });
    const notes = [`The copy comes back into /restore/${job}.`];
    if (f.source) notes.push(`It is a copy of ${f.source}: restore that from /restore/${job} (for a backup repository, then with its own runbook).`);
    return { commands: [`${env}rclone copy --progress ${shellQuote(f.destination)} ${restoreDir(job)}`], notes };
  },
};
