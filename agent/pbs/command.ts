import type { PbsDatastore } from '../../shared/protocol';
import type { AgentConfig } from '../config';
import { readPbs } from './read';
import { planRuns } from './runs';
import { buildPbsScan } from './scan';
import { loadPbsJobs, loadPbsState } from './state';

// `lifeline-agent pbs scan`: one scan in the foreground, printed, nothing spooled — what the
// daemon would see and report: datastores with usage and forecast, server jobs with their last
// task, backup groups with their newest snapshot and its verification.

const GiB = 2 ** 30;
const size = (n: number | undefined) => (n === undefined ? '?' : n >= 1024 * GiB ? `${(n / 1024 / GiB).toFixed(1)} TiB` : `${(n / GiB).toFixed(1)} GiB`);
const when = (iso: string | null | undefined) => (iso ? iso.replace(/:\d\d(\.\d+)?Z$/, 'Z').replace('T', ' ') : '-');

function table(rows: string[][]): string {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  return rows.map((r) => `${r.map((c, i) => c.padEnd(widths[i])).join('  ').trimEnd()}\n`).join('');
}

function usageText(d: PbsDatastore): string {
  if (d.totalBytes === undefined || d.usedBytes === undefined || d.totalBytes === 0) return d.error ? `unknown (${d.error})` : 'unknown';
  return `${size(d.usedBytes)} of ${size(d.totalBytes)} (${Math.round((d.usedBytes / d.totalBytes) * 100)} %)`;
}

function gcText(d: PbsDatastore): string {
  if (!d.gc) return d.gc === null ? 'never' : '?';
  if (!d.gc.startedAt) return 'never';
  const parts = [`last ${when(d.gc.startedAt)}`];
  if (d.gc.removedBytes !== undefined) parts.push(`removed ${size(d.gc.removedBytes)}`);
  if (d.gc.pendingBytes !== undefined) parts.push(`pending ${size(d.gc.pendingBytes)}`);
  if (d.gc.stillBad) parts.push(`${d.gc.stillBad} bad chunk(s)`);
  return parts.join(', ');
}

export async function pbsScanCommand(config: AgentConfig, json: boolean, out: (s: string) => void = (s) => process.stdout.write(s)): Promise<number> {
  const pbs = config.pbs;
  if (!pbs) {
    process.stderr.write(`no pbs: section in ${config.file}\n`);
    return 2;
  }
  const now = Date.now();
  const notes: string[] = [];
  let inv;
  try {
    inv = await readPbs(pbs, notes, now);
  } catch (err) {
    process.stderr.write(`pbs scan failed: ${(err as Error).message}\n`);
    return 1;
  }
  const scan = buildPbsScan(inv, { targets: config.targets, pbs }, now, loadPbsJobs(config.stateDir));
  notes.push(...scan.notes);
  const plan = planRuns(inv, scan, loadPbsState(config.stateDir), config.name, now);
  if (json) {
    out(`${JSON.stringify({ pbs: scan.message, jobs: scan.jobs, inventories: scan.inventories, pendingRuns: plan.reports.map((r) => r.message), notes }, null, 2)}\n`);
    return 0;
  }
  out(`PBS ${pbs.source === 'api' ? pbs.url : `${pbs.tools.manager} (cli)`}: ${scan.message.datastores.length} datastore(s) watched\n\n`);
  out(
    table([
      ['DATASTORE', 'TARGET', 'USED', 'FULL BY', 'GC'],
      ...scan.message.datastores.map((d) => [d.name + (d.maintenance ? ` (${d.maintenance})` : ''), d.target, usageText(d), d.estimatedFullAt ? when(d.estimatedFullAt) : inv.source === 'cli' ? 'n/a (cli)' : '-', gcText(d)]),
    ]),
  );

  // The newest task of each server job.
  const last = new Map<string, { status: string; at: number }>();
  for (const t of inv.tasks) {
    const job = scan.jobOfTask(t);
    if (job && (last.get(job)?.at ?? -1) < t.starttime) last.set(job, { status: t.endtime === undefined ? 'running' : (t.status ?? 'unknown'), at: t.starttime });
  }
  const servers = scan.jobs.filter((j) => j.role === 'maintenance');
  out('\n');
  out(
    table([
      ['SERVER JOB', 'DATASTORE', 'TIER', 'SCHEDULE', 'LAST TASK'],
      ...servers.map((j) => {
        const l = last.get(j.name);
        return [j.name, j.restore?.store ?? '', String(j.tier), j.schedule || '(none)', l ? `${l.status} ${when(new Date(l.at * 1000).toISOString())}` : 'none in the last 7 days'];
      }),
    ]),
  );

  out('\n');
  const groups = scan.jobs.filter((j) => j.role !== 'maintenance');
  out(
    table([
      ['GROUP JOB', 'ASSET', 'TIER', 'TARGET', 'SNAPSHOTS', 'NEWEST', 'VERIFIED'],
      ...groups.map((j) => {
        const snaps = scan.groupSnapshots.get(j.name)?.snapshots ?? [];
        const newest = snaps.at(-1);
        return [
          j.name,
          j.asset,
          String(j.tier),
          j.target.name,
          String(snaps.length),
          newest ? when(new Date(newest['backup-time'] * 1000).toISOString()) : '-',
          newest ? (newest.verification?.state ?? 'not yet') : '-',
        ];
      }),
    ]),
  );
  out(`\n${plan.reports.length} run(s) not yet reported (the daemon reports them; this command spools nothing)\n`);
  for (const n of notes) out(`note: ${n}\n`);
  return 0;
}
