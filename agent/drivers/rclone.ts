import type { Driver } from './types';

// Placeholder until the rclone driver lands.
export const rcloneDriver: Driver<unknown> = {
  name: 'rclone',
  options: (z) => z.unknown(),
  async backup() {
    throw new Error('the rclone driver is not implemented yet');
  },
};
