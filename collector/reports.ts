import { markdownText } from '../shared/display-text';
import type { CollectorConfig } from './config';
import type { Db } from './db';
import { memoByObject } from './memo';
import type { NotificationMessage } from './notify/types';
import { bytes, duration } from './page/format';
import { shownFilesystems } from './view/overview';
import { reportView, type AssetReport, type CapacityRow, type Report, type ReportPeriod } from './view/report';
import type { FailureGroup } from './view/report-period';
import { createReportSource } from './view/report-source';

// Weekly and monthly reports (view/report.ts) as JSON, Markdown and the notification the report
// schedule sends. Sizes nobody reported read "unknown", never "0 B".

export type { AssetReport, CapacityRow, Report, ReportPeriod, TierReport } from './view/report';

// Statements prepared once per connection and config (the tiers' RPO and RTO come from the config).
const sourceOf = memoByObject((db: Db) => memoByObject((config: CollectorConfig) => createReportSource(db, config)));

/** The report for the period ending at `now`. */
export const buildReport = (db: Db, config: CollectorConfig, period: ReportPeriod, now: number): Report =>
  reportView(sourceOf(db)(config).read(period, now), shownFilesystems);

/** Failure causes listed (the most frequent first); the JSON lists them all. */
export const CAUSES_SHOWN = { markdown: 20, page: 100 };
/** Assets listed in a notification; the page and the JSON list them all. */
const MESSAGE_ASSETS = 40;

export const pct = (x: number | null): string => (x === null ? '–' : `${(x * 100).toFixed(1)} %`);
/** " (+25.0 %)" against the period before; nothing when either side is unknown or zero. */
export const trend = (now: number | null, before: number | null): string =>
  now === null || before === null || before === 0 ? '' : ` (${now >= before ? '+' : ''}${(((now - before) / before) * 100).toFixed(1)} %)`;
const yesNo = (ok: boolean | null) => (ok === null ? '? unknown' : ok ? '✔ yes' : '✖ no');
const day = (iso: string | null) => (iso === null ? '–' : iso.slice(0, 10));
const utc = (iso: string) => `${iso.slice(0, 16).replace('T', ' ')} UTC`;

/** "85.7 % of the time (RPO 1d)". */
export const rpoText = (a: AssetReport): string => (a.rpo.metShare === null ? 'newer than the period' : `${pct(a.rpo.metShare)} of the time`);
export const retentionText = (a: AssetReport): string => (a.retention.state === 'gaps' ? `✖ ${a.retention.findings.length} finding${a.retention.findings.length === 1 ? '' : 's'}` : a.retention.state === 'ok' ? '✔ ok' : '– not audited');
/** Everything held: RPO all period, retention not short, 3-2-1 now and all period, the newest drill within the RTO. */
export const assetHeld = (a: AssetReport): boolean =>
  a.rpo.metShare !== null && a.rpo.metShare >= 1 && a.retention.state !== 'gaps' && a.threeTwoOne.now && a.threeTwoOne.throughPeriod !== false && a.drills.last?.rtoOk === true;
export function drillText(a: AssetReport): string {
  const d = a.drills.last;
  const measured =
    d === null
      ? '✖ no restore drill yet'
      : d.status !== 'success' && d.status !== 'warning'
        ? `✖ ${d.status} (${d.job})`
        : d.rtoOk === null
          ? `? ${d.job}: no time measured`
          : `${d.rtoOk ? '✔' : '✖'} ${duration(d.durationMs)} ${d.rtoOk ? 'within' : 'beyond'} the ${duration(a.rtoMs)} RTO`;
  return `${measured}; ${a.drills.passed} passed, ${a.drills.failed} failed in the period`;
}
export function verifyText(a: AssetReport): string {
  const v = a.verifications.last;
  const last = v === null ? 'none yet' : `last ${v.status} ${day(v.at)}`;
  return `${a.verifications.passed} passed, ${a.verifications.failed} failed (${last})`;
}
export const failureJobs = (g: FailureGroup): string => g.jobs.slice(0, 5).join(', ') + (g.jobs.length > 5 ? ` and ${g.jobs.length - 5} more` : '');
export const growthText = (c: CapacityRow): string => (c.growthPerDayBytes === null ? '–' : `${c.growthPerDayBytes >= 0 ? '+' : '−'}${bytes(Math.abs(c.growthPerDayBytes))}/day`);
export const usageText = (c: CapacityRow): string =>
  c.usedBytes === null ? 'unknown' : `${bytes(c.usedBytes)} of ${bytes(c.sizeBytes)}${c.sizeBytes ? ` (${pct(c.usedBytes / c.sizeBytes)})` : ''}`;

export function reportMarkdown(r: Report, maxAssets = Infinity): string {
  const md = markdownText;
  const tiers = r.tiers.map(
    (t) =>
      `| ${t.tier} | ${pct(t.successRate)} (${t.succeeded}/${t.runs}) | ${bytes(t.storageBytes)}${trend(t.storageBytes, t.storageBytesBefore)} | ${duration(t.avgDurationMs)} (before: ${duration(t.avgDurationMsBefore)}) |`,
  );
  // Cut short (a notification), what did not hold comes first.
  const shown = r.assets.length > maxAssets ? [...r.assets.filter((a) => !assetHeld(a)), ...r.assets.filter(assetHeld)].slice(0, maxAssets) : r.assets;
  const assets = shown.map(
      (a) =>
        `| ${md(a.asset)} | ${a.tier} | ${rpoText(a)} (RPO ${duration(a.rpoMs)}), now ${a.rpo.okNow ? '✔' : '✖'} | ${duration(a.rpo.worstGapMs)} | ${retentionText(a)} | ${yesNo(a.threeTwoOne.now)}${a.threeTwoOne.missing.length ? ` (${md(a.threeTwoOne.missing.join(', '))})` : ''} / ${yesNo(a.threeTwoOne.throughPeriod)} | ${drillText(a)} | ${verifyText(a)} |`,
    );
  const more = r.assets.length > assets.length ? [`… and ${r.assets.length - assets.length} more assets: see the reports page.`] : [];
  const findings = shown.flatMap((a) => a.retention.findings.map((f) => `- ${md(f)}`));
  const failures = r.failures.slice(0, CAUSES_SHOWN.markdown).map((g) => `- ${g.count}× ${md(g.cause)} — ${md(failureJobs(g))} (${g.operations.join(', ')}); last ${utc(new Date(g.lastAt).toISOString())}`);
  const capacity = r.capacity.map(
    (c) => `| ${md(c.agent)} | ${md(c.name)} | ${usageText(c)} | ${c.changeBytes === null ? '–' : `${c.changeBytes >= 0 ? '+' : '−'}${bytes(Math.abs(c.changeBytes))}`}, ${growthText(c)} | ${day(c.projectedFullAt)} |`,
  );
  const advice = r.capacity.flatMap((c) => (c.recommendation ? [`- ⚠ ${md(c.recommendation)}`] : []));
  const o = r.openIncidents;
  return [
    `**Backups, ${r.period === 'week' ? 'weekly' : 'monthly'} report** (${r.from.slice(0, 10)} – ${r.to.slice(0, 10)})`,
    '',
    '| tier | success rate | storage (trend) | average duration |',
    '|---|---|---|---|',
    ...tiers,
    '',
    '**Assets**',
    '',
    ...(r.assets.length
      ? ['| asset | tier | RPO met | worst gap | retention | 3-2-1 now / all period | last restore drill vs RTO | verifications |', '|---|---|---|---|---|---|---|---|', ...assets, ...more]
      : ['No assets.']),
    ...(findings.length ? ['', 'Retention findings:', ...findings] : []),
    '',
    `**Failed runs by cause** (${r.failures.reduce((n, g) => n + g.count, 0)})`,
    '',
    ...(failures.length ? failures : ['None.']),
    ...(r.failures.length > failures.length ? [`… and ${r.failures.length - failures.length} more causes: see the reports page.`] : []),
    '',
    '**Capacity**',
    '',
    ...(capacity.length ? ['| agent | filesystem / datastore | used | change, trend | projected full |', '|---|---|---|---|---|', ...capacity] : ['No usage reported.']),
    ...(advice.length ? ['', ...advice] : []),
    '',
    `Verifications: ${r.verifications.passed} passed, ${r.verifications.failed} failed. Restore drills: ${r.restoreDrills.passed} passed, ${r.restoreDrills.failed} failed${r.restoreDrills.slowestMs !== null ? `, slowest ${duration(r.restoreDrills.slowestMs)}` : ''}.`,
    `Open incidents: ${o.critical} critical, ${o.warning} warning, ${o.info} info.`,
    // Incident titles quote agent text (mounts, devices, errors): escaped for Markdown.
    ...o.titles.map((t) => `- ${md(t)}`),
  ].join('\n');
}

export function reportMessage(r: Report, publicUrl?: string): NotificationMessage {
  const worst = r.openIncidents.critical > 0 ? 'critical' : r.openIncidents.warning > 0 ? 'warning' : 'info';
  return {
    event: 'report',
    severity: worst,
    title: `Lifeline ${r.period === 'week' ? 'weekly' : 'monthly'} backup report`,
    body: reportMarkdown(r, MESSAGE_ASSETS),
    tags: ['bar_chart'],
    ...(publicUrl ? { clickUrl: publicUrl } : {}),
  };
}
