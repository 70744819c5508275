import type { Driver } from './types';

// Placeholder until the borgmatic driver lands.
export const borgmaticDriver: Driver<unknown> = {
  name: 'borgmatic',
  options: (z) => z.unknown(),
  async backup() {
    throw new Error('the borgmatic driver is not implemented yet');
  },
};
