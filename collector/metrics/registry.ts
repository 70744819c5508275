import { performance } from 'node:perf_hooks';
import { collectDefaultMetrics, Counter, Gauge, Registry } from 'prom-client';
import { FAMILIES, FAMILY_NAMES, METRIC_PREFIX, type Sample, type Snapshot } from './families';
import type { IngestStats } from './ingest-stats';
import { metricsSnapshot, type MetricsInput } from './snapshot';

export interface MetricsOptions {
  /** Reads the stored state (a few SQLite queries over every job). */
  read: () => MetricsInput;
  /** Epoch ms the snapshot is computed at. */
  now: () => number;
  ingest: IngestStats;
  /** More families read at every scrape (the collector's self-watch). */
  live?: readonly LiveFamily[];
  /** How long a snapshot serves scrapes before the state is read again (default 5 s). */
  cacheMs?: number;
}

/**
 * Registries of our own (never prom-client's global one, so two apps in one process stay
 * apart): one for the state families, formatted once per snapshot, and one for what changes
 * by the second (process metrics, ingest counters), formatted at every scrape.
 */
export function createMetrics({ read, now, ingest, live: moreLive, cacheMs = 5000 }: MetricsOptions) {
  const state = new Registry();
  const live = new Registry();
  collectDefaultMetrics({ register: live, prefix: `${METRIC_PREFIX}collector_` });
  // prom-client names three gauges "…_total" (active handles, requests, resources), which
  // `promtool check metrics` rejects; their per-type gauges without the suffix stay.
  for (const m of live.getMetricsAsArray()) if (String(m.type) !== 'counter' && m.name.endsWith('_total')) live.removeSingleMetric(m.name);

  let snapshot: Snapshot | null = null;
  register(state, FAMILY_NAMES.map((family) => ({ name: family, ...FAMILIES[family], samples: () => snapshot?.[family] ?? [] })));
  register(live, [
    {
      name: 'ingest_messages_total',
      help: 'Messages in signed, valid reports since the collector started: stored (accepted) or already stored (duplicate).',
      counter: true,
      labels: ['outcome'],
      samples: () => [{ labels: { outcome: 'accepted' }, value: ingest.accepted }, { labels: { outcome: 'duplicate' }, value: ingest.duplicates }],
    },
    {
      name: 'ingest_rejected_requests_total',
      help: 'Report requests refused since the collector started, by error code (bad signature, unknown agent, invalid, rate limited, too large...).',
      counter: true,
      labels: ['reason'],
      samples: () => [...ingest.rejected].map(([reason, value]) => ({ labels: { reason }, value })),
    },
    ...(moreLive ?? []),
  ]);

  // A burst of scrapes (several Prometheus servers, a Grafana test query) reads SQLite and
  // formats thousands of series once; a report that changed the stored state makes the next
  // scrape read again. Concurrent scrapes share the one text being formatted.
  let cached: { text: Promise<string>; takenAt: number; changes: number } | null = null;
  const stateText = (): Promise<string> => {
    const t = performance.now();
    if (cached && t - cached.takenAt < cacheMs && cached.changes === ingest.changes) return cached.text;
    const changes = ingest.changes;
    snapshot = metricsSnapshot(read(), now());
    // Every collect() runs synchronously inside metrics(), so they all see this snapshot.
    const text = state.metrics();
    cached = { text, takenAt: t, changes };
    text.catch(() => (cached = null));
    return text;
  };

  return {
    contentType: state.contentType,
    /** The text exposition format of every family, from a snapshot at most cacheMs old. */
    async render() {
      const [families, process] = await Promise.all([stateText(), live.metrics()]);
      return `${families}\n${process}`;
    },
  };
}

/** A family whose samples are read at every collect. */
export interface LiveFamily {
  name: string;
  help: string;
  labels?: readonly string[];
  /** A counter (its name ends in _total); else a gauge. */
  counter?: boolean;
  samples: () => Iterable<Sample>;
}

function register(registry: Registry, families: readonly LiveFamily[]): void {
  for (const f of families) {
    const spec = { name: METRIC_PREFIX + f.name, help: f.help, labelNames: f.labels ?? [], registers: [registry] };
    // The source keeps the count: a counter is reset and raised to it.
    const collect = function (this: Counter | Gauge) {
      this.reset();
      for (const s of f.samples()) if (this instanceof Counter) this.inc(s.labels, s.value); else this.set(s.labels, s.value);
    };
    if (f.counter) new Counter({ ...spec, collect });
    else new Gauge({ ...spec, collect });
  }
}
