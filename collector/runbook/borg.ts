import { hasHiddenChars, visibleText } from '../../shared/display-text';
import { envPrefix, restoreDir, shellQuote } from './shell';
import type { RunbookWriter } from './types';

// The agent's default archive prefix; `{hostname}` is borg's own placeholder.
const defaultPrefix = (job: string) => `{hostname}-${job}-`;
// A prefix as a --glob-archives pattern: its own glob characters match only themselves.
const prefixGlob = (prefix: string) => `${prefix.replace(/[*?[\]]/g, '[$&]')}*`;

/**
 * `borg extract REPO::ARCHIVE` in an empty directory (borg extracts into the current one). The
 * passphrase comes from the job's passphrase file through BORG_PASSCOMMAND, as the agent does.
 */
export const borg: RunbookWriter<'borg'> = {
  needs: ['repository'],
  write(f, { job, snapshot }) {
    // borg splits BORG_PASSCOMMAND like a POSIX shell without $'…': a path with hidden
    // characters cannot be written into it in a form that reads as what runs.
    const hiddenPath = f.passphraseFile !== undefined && hasHiddenChars(f.passphraseFile);
    const passcommand = f.passphraseFile && !hiddenPath ? `cat ${shellQuote(f.passphraseFile)}` : undefined;
    const env = envPrefix({ BORG_PASSCOMMAND: passcommand, BORG_RSH: f.rsh, BORG_REMOTE_PATH: f.remotePath });
    const repo = shellQuote(f.repository);
    const prefix = f.archivePrefix ?? defaultPrefix(job);
    const archive = snapshot
      ? shellQuote(`${f.repository}::${snapshot.id}`)
      : `${repo}::"$(${env}borg list --short --sort-by timestamp --last 1 --glob-archives ${shellQuote(prefixGlob(prefix))} ${repo})"`;
    const notes = [`borg extract writes into the current directory: the archived paths come back under /restore/${job}. Run it in / to restore in place.`];
    if (!snapshot && prefix.includes('{hostname}')) notes.push('{hostname} is the name of the host running borg: on another host, replace it with the name of the one that made the backups.');
    if (!f.passphraseFile) notes.push('No passphrase file is configured: borg asks for the passphrase if the repository has one.');
    if (hiddenPath) {
      notes.push(`The passphrase file's path holds control, bidirectional or invisible characters (${visibleText(f.passphraseFile!)}): borg asks for the passphrase; type it from that file.`);
    }
    return { commands: [`mkdir -p ${restoreDir(job)} && cd ${restoreDir(job)}`, `${env}borg extract --list ${archive}`], notes };
  },
};
