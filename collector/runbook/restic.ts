import { envPrefix, restoreDir, shellQuote } from './shell';
import type { RunbookWriter } from './types';

// Backends whose credentials restic takes from the environment (AWS_*, B2_*, AZURE_*, GOOGLE_*, OS_*).
const CLOUD_BACKEND = /^(s3|b2|azure|gs|swift):/;

/**
 * `restic restore ID --target DIR` (restic 0.14 syntax). Without an inventory, `latest` with
 * the job's host, paths and tags: the repository may hold other jobs' snapshots.
 */
export const restic: RunbookWriter<'restic'> = {
  needs: ['repository', 'passwordFile'],
  write(f, { job, snapshot }) {
    const env = envPrefix({ RESTIC_REPOSITORY: f.repository, RESTIC_PASSWORD_FILE: f.passwordFile });
    const filters = snapshot
      ? ''
      : [
          ...(f.host ? [`--host ${shellQuote(f.host)}`] : []),
          ...(f.paths ? f.paths.split('\n').map((p) => `--path ${shellQuote(p)}`) : []),
          ...(f.tags ? [`--tag ${shellQuote(f.tags)}`] : []),
        ].map((flag) => ` ${flag}`).join('');
    const id = snapshot ? shellQuote(snapshot.id) : 'latest';
    const notes = [`Files come back under their original paths inside /restore/${job}; --target / restores them in place.`];
    if (CLOUD_BACKEND.test(f.repository)) notes.push("Set the backend's credentials in the environment first, as the job's env or envFiles do.");
    return { commands: [`${env}restic restore ${id} --target ${restoreDir(job)}${filters}`], notes };
  },
};
