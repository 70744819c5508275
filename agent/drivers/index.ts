import type { Driver } from './types';
import { borgDriver } from './borg';
import { borgmaticDriver } from './borgmatic';
import { commandDriver } from './command';
import { mongodbDriver } from './mongodb';
import { mysqlDriver } from './mysql';
import { pathsDriver } from './paths';
import { pbsDriver } from './pbs';
import { postgresDriver } from './postgres';
import { rcloneDriver } from './rclone';
import { resticDriver } from './restic';
import { vzdumpDriver } from './vzdump';
import { zfsDriver } from './zfs';

// The registry: one line per driver. `any`: each job's options were parsed by its own driver's
// schema when the config was loaded, so they have the type that driver's methods expect.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export const DRIVERS: Readonly<Record<string, Driver<any>>> = Object.freeze(
  Object.fromEntries(
    [commandDriver, resticDriver, borgDriver, borgmaticDriver, postgresDriver, mysqlDriver, mongodbDriver, pathsDriver, rcloneDriver, vzdumpDriver, pbsDriver, zfsDriver].map((d) => [d.name, d]),
  ),
);
