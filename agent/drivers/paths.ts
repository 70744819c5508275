import type { Driver } from './types';

// Placeholder until the paths driver lands.
export const pathsDriver: Driver<unknown> = {
  name: 'paths',
  options: (z) => z.unknown(),
  async backup() {
    throw new Error('the paths driver is not implemented yet');
  },
};
