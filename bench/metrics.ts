// /metrics cost at 1,000 assets / 3,000 jobs (30 agents x 100 jobs, 3 jobs per asset), 90 days of daily runs.
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { collectorConfig } from '../collector/config';
import { openDb } from '../collector/db';
import { createMetricsReader } from '../collector/metrics/read';
import { createMetrics } from '../collector/metrics/registry';
import { metricsSnapshot } from '../collector/metrics/snapshot';
import { IngestStats } from '../collector/metrics/ingest-stats';
import { refillJobStates } from '../collector/evaluate/job-state-store';

const DAY = 86_400_000;
const now = Date.parse('2026-11-23T12:00:00Z');
const dir = mkdtempSync(join(tmpdir(), 'lifeline-bench-metrics-'));
const db = openDb(join(dir, 'lifeline.db'));
db.transaction(() => {
  const agent = db.prepare(`INSERT INTO agents (name, public_key, source, version, timezone, heartbeat_ms, last_seen, created_at) VALUES (?, 'x', 'config', '0.1.0', 'Europe/Berlin', 60000, ?, ?)`);
  const job = db.prepare(`INSERT INTO jobs (agent_id, name, asset, tier, driver, target_name, target_location, target_media, schedule, timeout_ms, retention, active, updated_at, created_at)
                          VALUES (?, ?, ?, ?, 'restic', ?, ?, ?, '0 2 * * *', 3600000, '{"daily":30}', 1, ?, ?)`);
  const run = db.prepare(`INSERT INTO runs (agent_id, run_id, job, operation, trigger, started_at, finished_at, status, exit_code, duration_ms, bytes_added, bytes_total)
                          VALUES (?, ?, ?, ?, 'schedule', ?, ?, ?, 0, 60000, 1000000, ?)`);
  const facts = db.prepare(`INSERT INTO host_facts (agent_id, facts, seq, updated_at) VALUES (?, ?, 1, ?)`);
  for (let a = 1; a <= 30; a++) {
    const agentId = Number(agent.run(`agent-${a}`, now - 30_000, now - 200 * DAY).lastInsertRowid);
    facts.run(agentId, JSON.stringify({ filesystems: Array.from({ length: 5 }, (_, k) => ({ mount: `/mnt/disk${k}`, sizeBytes: 1e12, usedBytes: 4e11 })) }), now);
    for (let j = 0; j < 100; j++) {
      const name = `job-${j}`;
      const t = j % 3;
      job.run(agentId, name, `asset-${a}-${Math.floor(j / 3)}`, (Math.floor(j / 3) % 4) + 1, ['usb', 'nas', 'cloud'][t], t === 2 ? 'offsite' : 'onsite', ['usb', 'nas', 'cloud'][t], now - 200 * DAY, now - 200 * DAY);
      for (let r = 90; r >= 1; r--) {
        const started = Date.parse('2026-11-23T01:00:00Z') - (r - 1) * DAY;
        run.run(agentId, randomUUID(), name, 'backup', started, started + 60_000, r % 37 === 0 ? 'failure' : 'success', 5_000_000_000 + r);
        if (r % 7 === 0) run.run(agentId, randomUUID(), name, 'verify', started + 3_600_000, started + 3_700_000, 'success', null);
      }
    }
  }
})();
// Runs were inserted directly: fill job_state (kept at ingest) from them.
refillJobStates(db);
const config = collectorConfig({});
const ctx = { config, db, now: () => now };
const read = createMetricsReader(ctx);
const cold = createMetrics({ read, now: ctx.now, ingest: new IngestStats(), cacheMs: 0 });
const warm = createMetrics({ read, now: ctx.now, ingest: new IngestStats() });
const pct = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))];
async function measure(label: string, fn: () => unknown, n = 30) {
  for (let i = 0; i < 3; i++) await fn();
  const xs: number[] = [];
  for (let i = 0; i < n; i++) {
    const s = performance.now();
    await fn();
    xs.push(performance.now() - s);
  }
  console.log(`${label.padEnd(44)} p50 ${pct(xs, 50).toFixed(1)} ms  p95 ${pct(xs, 95).toFixed(1)} ms`);
}
const input = read();
console.log(`jobs ${input.evaluation.jobs.length}, agents ${input.evaluation.agents.length}, assets ${new Set(input.evaluation.jobs.map((j) => j.asset)).size}`);
await measure('read (gather + incidents + last verify)', () => read());
await measure('snapshot (pure, from read input)', () => metricsSnapshot(input, now));
await measure('/metrics render, cold (read+snapshot+format)', () => cold.render());
await measure('/metrics render, cached snapshot', () => warm.render());
const text = await cold.render();
console.log(`exposition ${(Buffer.byteLength(text) / 1024).toFixed(0)} KiB, ${text.split('\n').filter((l) => l && !l.startsWith('#')).length} samples`);
db.close();
rmSync(dir, { recursive: true, force: true });
