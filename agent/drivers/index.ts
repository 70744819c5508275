import type { Driver } from './types';
import { commandDriver } from './command';

// The registry: one line per driver.
export const DRIVERS: Readonly<Record<string, Driver>> = Object.freeze({
  [commandDriver.name]: commandDriver,
});
