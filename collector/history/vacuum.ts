import type { Db } from '../db';
import { vacuumPages } from './policy';

const AUTO_VACUUM_INCREMENTAL = 2;

/**
 * Returns free pages to the filesystem, a bounded number per call (auto_vacuum=INCREMENTAL
 * only); the pages freed, 0 when there is nothing worth it. SQLite reuses free pages anyway:
 * this only makes the file shrink after history was pruned.
 */
export function reclaimStep(db: Db): number {
  if (db.pragma('auto_vacuum', { simple: true }) !== AUTO_VACUUM_INCREMENTAL) return 0;
  const pages = vacuumPages(db.pragma('freelist_count', { simple: true }) as number);
  if (pages === 0) return 0;
  db.pragma(`incremental_vacuum(${pages})`);
  return pages;
}

/**
 * A database made before incremental vacuum (every collector database before bounded history) is
 * switched once: the mode only takes effect through a full VACUUM, which rewrites the file and
 * holds the write lock meanwhile, so it is done at start and only while the file is small
 * (`maxBytes`). 'on': already incremental; 'switched': done now; 'too-big': left as it is
 * (pruned pages are still reused, the file just does not shrink); 'failed':
 * the VACUUM could not run (no room for the rewrite), tried again at the next start.
 */
export function enableIncrementalVacuum(db: Db, maxBytes = 256 * 2 ** 20): 'on' | 'switched' | 'too-big' | 'failed' {
  if (db.pragma('auto_vacuum', { simple: true }) === AUTO_VACUUM_INCREMENTAL) return 'on';
  const bytes = (db.pragma('page_count', { simple: true }) as number) * (db.pragma('page_size', { simple: true }) as number);
  if (bytes > maxBytes) return 'too-big';
  db.pragma('auto_vacuum = INCREMENTAL');
  try {
    db.exec('VACUUM');
  } catch {
    // No room for the rewrite (it needs about the file's size free), or busy: the next start tries again.
    return 'failed';
  }
  return 'switched';
}
