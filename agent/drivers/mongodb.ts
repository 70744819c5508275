import type { Driver } from './types';

// Placeholder until the mongodb driver lands.
export const mongodbDriver: Driver<unknown> = {
  name: 'mongodb',
  options: (z) => z.unknown(),
  async backup() {
    throw new Error('the mongodb driver is not implemented yet');
  },
};
