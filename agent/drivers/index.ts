import type { Driver } from './types';
import { commandDriver } from './command';

// The registry: one line per driver. `any`: each job's options were parsed by its own driver's
// schema when the config was loaded, so they have the type that driver's backup expects.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export const DRIVERS: Readonly<Record<string, Driver<any>>> = Object.freeze({
  [commandDriver.name]: commandDriver,
});
