import type { Driver } from './types';

// Placeholder until the postgres driver lands.
export const postgresDriver: Driver<unknown> = {
  name: 'postgres',
  options: (z) => z.unknown(),
  async backup() {
    throw new Error('the postgres driver is not implemented yet');
  },
};
