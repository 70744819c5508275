// `zpool list` and `zpool status` output, pure (REFERENCE-INTEGRATIONS §7). `zpool list -H -p -o
// name,size,alloc,free,cap,health`: tab-separated, exact bytes, capacity without "%". `zpool
// status` exits 0 whatever the pools' state (status_callback always returns 0), so health and
// errors are read from the text: the `state:` line, the READ/WRITE/CKSUM columns of the config
// tree and the `errors:` line.

export const POOL_COLUMNS = 'name,size,alloc,free,cap,health';
export const POOL_HEALTH = ['ONLINE', 'DEGRADED', 'FAULTED', 'OFFLINE', 'REMOVED', 'UNAVAIL', 'SUSPENDED'] as const;

export interface PoolListEntry {
  name: string;
  sizeBytes: number;
  allocBytes: number;
  freeBytes: number;
  /** Percent, as ZFS rounds it. */
  capacityPct: number;
  health: string;
}

/** `zpool list -H -p -o name,size,alloc,free,cap,health` lines; an unexpected line is an error naming it. */
export function parsePoolList(text: string): PoolListEntry[] {
  const out: PoolListEntry[] = [];
  text.split('\n').forEach((raw, i) => {
    const line = raw.replace(/\r$/, '');
    if (line === '') return;
    const f = line.split('\t');
    const numbers = f.slice(1, 5);
    if (f.length !== 6 || !f[0] || numbers.some((n) => !/^\d+$/.test(n))) {
      throw new Error(`zpool list: line ${i + 1} is not "name size alloc free cap health" with -p numbers: ${JSON.stringify(line.slice(0, 200))}`);
    }
    const [size, alloc, free, cap] = numbers.map(Number);
    out.push({ name: f[0], sizeBytes: size, allocBytes: alloc, freeBytes: free, capacityPct: cap, health: f[5] });
  });
  return out;
}

export interface PoolStatus {
  name: string;
  /** The `state:` line (ONLINE, DEGRADED, FAULTED…). */
  state: string;
  /** The `status:` paragraph, when ZFS printed one (it does only when something needs attention). */
  status?: string;
  /** Largest READ, WRITE and CKSUM counts of any vdev or device in the pool's tree. */
  errors: { read: number; write: number; checksum: number };
  /** Devices not ONLINE or with errors: `sdb UNAVAIL`, `sda ONLINE 0 0 12`. */
  devices: string[];
  /** The `errors:` line when it is not "No known data errors". */
  dataErrors?: string;
}

// Counts are exact with -p; without it ZFS shortens them (1.2K): read both.
function count(field: string): number {
  const m = /^(\d+(?:\.\d+)?)([KMGTPE]?)$/.exec(field);
  if (!m) return 0;
  const power = m[2] ? 'KMGTPE'.indexOf(m[2]) + 1 : 0;
  return Math.round(Number(m[1]) * 1000 ** power);
}

const MAX_DEVICES = 20;

/** Every pool in `zpool status [-p]` output. */
export function parsePoolStatus(text: string): PoolStatus[] {
  const pools: PoolStatus[] = [];
  let pool: PoolStatus | null = null;
  let section = '';
  let inConfig = false;
  for (const raw of text.split('\n')) {
    const line = raw.replace(/\r$/, '');
    const key = /^\s{0,3}([a-z]+):(?: (.*))?$/.exec(line);
    if (key) {
      const [, name, value = ''] = key;
      section = name;
      inConfig = false;
      if (name === 'pool') {
        pool = { name: value.trim(), state: 'UNKNOWN', errors: { read: 0, write: 0, checksum: 0 }, devices: [] };
        pools.push(pool);
      } else if (!pool) continue;
      else if (name === 'state') pool.state = value.trim();
      else if (name === 'status') pool.status = value.trim();
      else if (name === 'errors') {
        if (value.trim() && !/^No known data errors/.test(value.trim())) pool.dataErrors = value.trim().slice(0, 512);
      }
      continue;
    }
    if (!pool) continue;
    // A continuation line of a paragraph (status:, action:) is indented by a tab or spaces.
    if (section === 'status' && pool.status !== undefined && /^\s+\S/.test(line) && !inConfig) {
      pool.status = `${pool.status} ${line.trim()}`.slice(0, 1024);
      continue;
    }
    if (section !== 'config') continue;
    const fields = line.trim().split(/\s+/);
    if (fields[0] === 'NAME' && fields[1] === 'STATE') {
      inConfig = true;
      continue;
    }
    if (!inConfig || fields.length < 2 || fields[0] === '') continue;
    const [device, state, read = '0', write = '0', cksum = '0'] = fields;
    // Spares and cache devices list AVAIL/INUSE states and no counts for the headers.
    if (['spares', 'cache', 'logs', 'special', 'dedup'].includes(device) && fields.length === 1) continue;
    const r = count(read);
    const w = count(write);
    const c = count(cksum);
    pool.errors.read = Math.max(pool.errors.read, r);
    pool.errors.write = Math.max(pool.errors.write, w);
    pool.errors.checksum = Math.max(pool.errors.checksum, c);
    const healthy = state === 'ONLINE' || state === 'AVAIL' || state === 'INUSE';
    if (device !== pool.name && (!healthy || r + w + c > 0) && pool.devices.length < MAX_DEVICES) {
      pool.devices.push(healthy ? `${device} ${state} ${read} ${write} ${cksum}` : `${device} ${state}`);
    }
  }
  return pools;
}
