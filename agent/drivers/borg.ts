import type { Driver } from './types';

// Placeholder until the borg driver lands.
export const borgDriver: Driver<unknown> = {
  name: 'borg',
  options: (z) => z.unknown(),
  async backup() {
    throw new Error('the borg driver is not implemented yet');
  },
};
