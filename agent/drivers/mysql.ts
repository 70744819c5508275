import type { Driver } from './types';

// Placeholder until the mysql driver lands.
export const mysqlDriver: Driver<unknown> = {
  name: 'mysql',
  options: (z) => z.unknown(),
  async backup() {
    throw new Error('the mysql driver is not implemented yet');
  },
};
