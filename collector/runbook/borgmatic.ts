import { restoreDir, shellQuote } from './shell';
import type { RunbookWriter } from './types';

/** `borgmatic extract` with the job's own config, which names the repositories and passphrase. */
export const borgmatic: RunbookWriter<'borgmatic'> = {
  needs: ['config'],
  write(f, { job, snapshot }) {
    const repository = f.repository ? ` --repository ${shellQuote(f.repository)}` : '';
    const archive = snapshot ? shellQuote(snapshot.id) : 'latest';
    const notes = [`The archived paths come back under /restore/${job}.`];
    if (!f.repository) notes.push('If the config lists several repositories, add --repository with the one to restore from.');
    return {
      commands: [`borgmatic extract --config ${shellQuote(f.config)}${repository} --archive ${archive} --destination ${restoreDir(job)}`],
      notes,
    };
  },
};
