import type { Driver } from './types';

// Placeholder until the restic driver lands.
export const resticDriver: Driver<unknown> = {
  name: 'restic',
  options: (z) => z.unknown(),
  async backup() {
    throw new Error('the restic driver is not implemented yet');
  },
};
