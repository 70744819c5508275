// Status page cost: server-side render time of the overview page, GET /api/v1/overview and
// GET /api/v1/status, and an asset page, for 1,000 assets / 3,000 jobs with 90 days of daily
// history (270,000 runs), through app.inject; page weight of the overview. Then a fleet:
// 20,000 agents with 3 assets each (60,000 assets and jobs, one off-site copy each, 3 days of
// runs, every 200th asset's copy failing for 3 days: 300 at risk), where the page leads with
// what is at risk and pages the rest, filtered too; and a homelab (30 assets) for the view
// tens of assets keep. Baseline in the same run: the same requests over an empty database.
// Run: npm run bench -- bench/render.ts [renders]
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildApp } from '../collector/app';
import { collectorConfig } from '../collector/config';
import { openDb, type Db } from '../collector/db';
import { refillJobStates } from '../collector/evaluate/job-state-store';
import { OVERVIEW_REUSE_MS } from '../collector/routes/pages';

const RENDERS = Number(process.argv[2]) || 50;
const AGENTS = 100;
const ASSETS_PER_AGENT = 10;
const TARGETS = [
  ['usb', 'onsite', 'usb'],
  ['nas', 'onsite', 'nas'],
  ['b2', 'offsite', 'cloud'],
] as const;
const DAYS = 90;
const DAY = 86_400_000;
const now = Date.parse('2026-11-23T12:00:00Z');
/** The apps' clock: `now`, moved on only to make the page rebuild its reused overview model. */
let clock = now;

interface Shape {
  agents: number;
  assetsPerAgent: number;
  targets: readonly (readonly [string, string, string])[];
  days: number;
  /** Every riskEvery-th asset's off-site job has been failing for three days. */
  riskEvery: number;
}
const THOUSAND: Shape = { agents: AGENTS, assetsPerAgent: ASSETS_PER_AGENT, targets: TARGETS, days: DAYS, riskEvery: 37 };
const FLEET: Shape = { agents: 20_000, assetsPerAgent: 3, targets: [['b2', 'offsite', 'cloud']], days: 3, riskEvery: 200 };
const HOMELAB: Shape = { agents: 3, assetsPerAgent: 10, targets: TARGETS, days: DAYS, riskEvery: 37 };

function seed(db: Db, shape: Shape): void {
  const { agents: AGENTS, assetsPerAgent: ASSETS_PER_AGENT, targets: TARGETS, days: DAYS, riskEvery } = shape;
  db.transaction(() => {
    const agent = db.prepare(`INSERT INTO agents (name, public_key, source, version, hostname, timezone, heartbeat_ms, last_seen, created_at) VALUES (?, 'x', 'enrolled', '0.1.0', ?, 'Europe/Berlin', 60000, ?, ?)`);
    const facts = db.prepare(`INSERT INTO host_facts (agent_id, facts, seq, updated_at) VALUES (?, ?, 1, ?)`);
    const job = db.prepare(`INSERT INTO jobs (agent_id, name, asset, tier, driver, target_name, target_location, target_media, schedule, timeout_ms, retention, restore, active, updated_at, created_at)
                            VALUES (?, ?, ?, ?, 'restic', ?, ?, ?, '0 2 * * *', 3600000, '{"daily":30}', '{"repository":"/srv/restic"}', 1, ?, ?)`);
    const run = db.prepare(`INSERT INTO runs (agent_id, run_id, job, operation, trigger, started_at, finished_at, status, exit_code, duration_ms, bytes_added, bytes_total, snapshot_id, log_tail)
                            VALUES (?, ?, ?, 'backup', 'schedule', ?, ?, ?, ?, ?, 1000000, ?, ?, 'done')`);
    const inventory = db.prepare(`INSERT INTO inventory (agent_id, job, target, snapshots, times, seq, updated_at) VALUES (?, ?, ?, ?, ?, 1, ?)`);
    const incident = db.prepare(`INSERT INTO incidents (key, rule, severity, agent, job, asset, target, tier, title, detail, opened_at, since, last_seen_failing_at)
                                 VALUES (?, 'failed-run', 'critical', ?, ?, ?, 'b2', 1, ?, 'repository locked', ?, ?, ?)`);
    for (let a = 1; a <= AGENTS; a++) {
      const agentId = Number(agent.run(`agent-${a}`, `host-${a}.lan`, now - 30_000, now - 200 * DAY).lastInsertRowid);
      const filesystems = ['/', '/srv'].map((mount, i) => ({ mount, fs: 'ext4', type: 'ext4', sizeBytes: 2e12, usedBytes: (0.4 + 0.1 * i + a / 500) * 2e12 }));
      facts.run(agentId, JSON.stringify({ filesystems }), now);
      for (let s = 0; s < ASSETS_PER_AGENT; s++) {
        const asset = `asset-${a}-${s}`;
        TARGETS.forEach(([target, location, media], t) => {
          const name = `${asset}-${target}`;
          job.run(agentId, name, asset, (s % 4) + 1, target, location, media, now - 200 * DAY, now - 200 * DAY);
          // Every riskEvery-th asset's off-site job has been failing for three days: those assets are at risk.
          const failing = location === 'offsite' && (a * ASSETS_PER_AGENT + s) % riskEvery === 0;
          for (let d = DAYS - 1; d >= 0; d--) {
            const started = Date.parse('2026-11-23T01:00:00Z') - d * DAY;
            const bad = failing && d < 3;
            run.run(agentId, randomUUID(), name, started, started + 60_000 + t * 1000, bad ? 'failure' : 'success', bad ? 1 : 0, 60_000 + t * 1000, 5e9 + d * 1e6, `snap-${d}`);
          }
          const snapshots = Array.from({ length: Math.min(30, DAYS) }, (_, k) => ({ id: `snap-${k}`, time: new Date(Date.parse('2026-11-23T01:01:00Z') - k * DAY).toISOString() }));
          inventory.run(agentId, name, target, JSON.stringify(snapshots), JSON.stringify(snapshots.map((s) => Date.parse(s.time))), now);
          if (failing) incident.run(`failed-run|agent-${a}|${name}`, `agent-${a}`, name, asset, `${name} failed`, now - 3 * DAY, now - 3 * DAY, now);
        });
      }
    }
  })();
  // Runs were inserted directly: fill job_state (kept at ingest) from them.
  refillJobStates(db);
}

const tempDirs: string[] = [];

function openSeeded(shape: Shape | null) {
  const dir = mkdtempSync(join(tmpdir(), 'lifeline-bench-render-'));
  tempDirs.push(dir);
  const file = join(dir, 'lifeline.db');
  const db = openDb(file);
  const t0 = performance.now();
  if (shape) seed(db, shape);
  const seconds = (performance.now() - t0) / 1000;
  return { app: buildApp({ config: collectorConfig({ database: file }), db, now: () => clock }), seconds };
}

const pct = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.ceil((p / 100) * xs.length) - 1)];

async function measure(app: ReturnType<typeof buildApp>, url: string, renders = RENDERS, before = () => {}) {
  const t0 = performance.now();
  const first = await app.inject({ method: 'GET', url }); // warm-up (prepared statements, JIT)
  const firstMs = performance.now() - t0;
  if (first.statusCode !== 200) throw new Error(`${url}: HTTP ${first.statusCode}`);
  // RENDER_DUMP=DIR keeps each seeded response for a look at what makes up the weight.
  if (process.env.RENDER_DUMP && app !== empty.app) writeFileSync(join(process.env.RENDER_DUMP, `${app === fleet?.app ? 'fleet' : 'k'}${url.replace(/\W+/g, '_')}.out`), first.rawPayload);
  const ms: number[] = [];
  for (let i = 0; i < renders; i++) {
    before();
    const t = performance.now();
    await app.inject({ method: 'GET', url });
    ms.push(performance.now() - t);
  }
  const zipped = await app.inject({ method: 'GET', url, headers: { 'accept-encoding': 'gzip' } });
  return { firstMs, p50: pct(ms, 50), p95: pct(ms, 95), kb: first.rawPayload.length / 1024, gzipKb: zipped.rawPayload.length / 1024 };
}

const empty = openSeeded(null);
const full = openSeeded(THOUSAND);
let fleet: ReturnType<typeof openSeeded> | null = null;
const URLS = ['/', '/api/v1/overview', '/api/v1/status', '/assets/asset-50-3'];
const line = (label: string, m: { firstMs: number; p50: number; p95: number; kb: number; gzipKb: number }) =>
  `  ${label.padEnd(26)} first ${m.firstMs.toFixed(0).padStart(5)} ms   p50 ${m.p50.toFixed(1).padStart(6)} ms   p95 ${m.p95.toFixed(1).padStart(6)} ms   ${m.kb.toFixed(1).padStart(7)} KB (gzip ${m.gzipKb.toFixed(1)} KB)`;

console.log(`render benchmark: ${AGENTS * ASSETS_PER_AGENT} assets, ${AGENTS * ASSETS_PER_AGENT * TARGETS.length} jobs, ${AGENTS * ASSETS_PER_AGENT * TARGETS.length * DAYS} runs over ${DAYS} days (seeded in ${full.seconds.toFixed(1)} s), ${RENDERS} renders each, ${process.version}`);
console.log('baseline, empty database:');
for (const url of URLS.slice(0, 3)) console.log(line(url, await measure(empty.app, url)));
console.log('seeded, 1,000 assets (past the fleet threshold: the page leads with what is at risk):');
for (const url of URLS) console.log(line(url, await measure(full.app, url)));
await full.app.close();

const homelab = openSeeded(HOMELAB);
console.log(`homelab, ${HOMELAB.agents * HOMELAB.assetsPerAgent} assets (the per-tier view, unchanged):`);
for (const url of ['/', '/assets/asset-2-3']) console.log(line(url, await measure(homelab.app, url)));
await homelab.app.close();

fleet = openSeeded(FLEET);
const FLEET_RENDERS = Math.max(10, Math.round(RENDERS / 2));
console.log(`fleet: ${FLEET.agents} agents, ${FLEET.agents * FLEET.assetsPerAgent} assets and jobs, ${FLEET.agents * FLEET.assetsPerAgent * FLEET.days} runs (seeded in ${fleet.seconds.toFixed(1)} s), ${FLEET_RENDERS} renders each:`);
for (const url of ['/', '/?page=50', '/?tier=1', '/?agent=agent-777', '/?name=asset-1234-', '/assets/asset-1234-1']) console.log(line(url, await measure(fleet.app, url, FLEET_RENDERS)));
// The model is reused for OVERVIEW_REUSE_MS (routes/pages.ts): once per that, a request pays for a new one.
console.log(line('/ (model rebuilt each)', await measure(fleet.app, '/', 5, () => (clock += OVERVIEW_REUSE_MS))));
console.log(`targets: overview page and JSON p95 ≤ 150 ms; overview page ≤ 200 KB, also at 60,000 assets, where the page reuses its overview model for ${OVERVIEW_REUSE_MS / 1000} s (times without compression: app.inject sends no Accept-Encoding)`);
await Promise.all([empty.app.close(), fleet.app.close()]);
for (const d of tempDirs) rmSync(d, { recursive: true, force: true }); // the fleet's database alone is ~100 MB
