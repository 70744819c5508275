import type { CollectorConfig } from './config';
import type { Db } from './db';

/** What every route needs: validated config, the open database and the clock. */
export interface AppContext {
  config: CollectorConfig;
  db: Db;
  /** Epoch milliseconds; tests pass a fixed clock. */
  now: () => number;
}
