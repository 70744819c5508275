import { esc, escAttr } from './html';

// Server-rendered SVG line charts: no library, no script. Series differ in dash pattern as
// well as colour, and the chart carries a text summary for screen readers.

export interface ChartSeries {
  label: string;
  /** Oldest first. */
  points: { t: number; v: number }[];
}

const W = 640;
const H = 220;
const PAD = { left: 72, right: 12, top: 12, bottom: 28 };
const STYLES = [
  { stroke: '#1d4ed8', dash: '' },
  { stroke: '#b45309', dash: '6 4' },
  { stroke: '#047857', dash: '2 3' },
  { stroke: '#7c3aed', dash: '10 3 2 3' },
];
const day = (t: number) => new Date(t).toISOString().slice(0, 10);
const num = (x: number) => x.toFixed(1);

const S = 1000;
const MIN = 60 * S;
const HOUR = 60 * MIN;
const DAY_MS = 24 * HOUR;
// Axis tops for durations: each one's half is a round value too ("30 s" under "1m").
const DURATION_STEPS = [
  2, 4, 10, 20, 40, 100, 200, 400, S, 2 * S, 4 * S, 10 * S, 20 * S, 40 * S, MIN, 2 * MIN, 4 * MIN, 10 * MIN, 20 * MIN, 40 * MIN,
  HOUR, 2 * HOUR, 4 * HOUR, 6 * HOUR, 12 * HOUR, DAY_MS, 2 * DAY_MS, 4 * DAY_MS, 10 * DAY_MS,
];

/** The axis top for durations: the smallest round value at or above the highest point. */
export function niceDurationMax(vmax: number): number {
  return DURATION_STEPS.find((s) => s >= vmax) ?? Math.ceil(vmax / (10 * DAY_MS)) * 10 * DAY_MS;
}

/** The axis top for sizes: the next power of two (its half and quarter read round in KiB/MiB/GiB). */
export function niceBytesMax(vmax: number): number {
  return vmax <= 1 ? 1 : 2 ** Math.ceil(Math.log2(vmax));
}

/** The y-axis labels at 0, half and top, without repeats (a flat series near zero once read "0.0s" three times). */
export function yTicks(top: number, format: (v: number) => string): { v: number; label: string }[] {
  const ticks: { v: number; label: string }[] = [];
  for (const v of [0, top / 2, top]) {
    const label = format(v);
    if (!ticks.some((t) => t.label === label)) ticks.push({ v, label });
  }
  return ticks;
}

/**
 * The x-axis labels of the oldest and newest point, precise enough to differ: dates for a
 * span of days, the time too within a few days, the date once and then the time within a
 * day. One label when there is one point in time.
 */
export function timeAxisLabels(t0: number, t1: number): string[] {
  const iso = (t: number) => new Date(t).toISOString();
  if (t0 === t1) return [iso(t0).slice(0, 16).replace('T', ' ')];
  if (t1 - t0 >= 3 * DAY_MS) return [day(t0), day(t1)];
  const sameDay = day(t0) === day(t1);
  const precise = iso(t0).slice(11, 16) === iso(t1).slice(11, 16) ? 19 : 16; // seconds only when the minute repeats
  const a = iso(t0).slice(0, precise).replace('T', ' ');
  const b = iso(t1).slice(sameDay ? 11 : 5, precise).replace('T', ' ');
  return [sameDay ? a : a.slice(5), b];
}

/** `id` must be unique within the page (it names the title and description). `nice` rounds the axis top up. */
export function lineChart(o: { id: string; title: string; series: ChartSeries[]; format: (v: number) => string; nice?: (vmax: number) => number; empty?: string }): string {
  const series = o.series.filter((s) => s.points.length > 0);
  if (series.length === 0) return `<figure class="chart"><figcaption>${esc(o.title)}</figcaption><p>${esc(o.empty ?? 'No finished runs yet.')}</p></figure>`;
  const all = series.flatMap((s) => s.points);
  const t0 = Math.min(...all.map((p) => p.t));
  const t1 = Math.max(...all.map((p) => p.t));
  const top = Math.max(...all.map((p) => p.v));
  const vmax = (o.nice ? o.nice(top) : top) || 1;
  const x = (t: number) => PAD.left + (t1 === t0 ? (W - PAD.left - PAD.right) / 2 : ((t - t0) / (t1 - t0)) * (W - PAD.left - PAD.right));
  const y = (v: number) => H - PAD.bottom - (v / vmax) * (H - PAD.top - PAD.bottom);
  const id = o.id;
  const lines = series
    .map((s, i) => {
      const st = STYLES[i % STYLES.length];
      const pts = s.points.map((p) => `${num(x(p.t))},${num(y(p.v))}`).join(' ');
      const dash = st.dash ? ` stroke-dasharray="${st.dash}"` : '';
      // A single run still shows: a dot instead of a line.
      return s.points.length === 1
        ? `<circle cx="${num(x(s.points[0].t))}" cy="${num(y(s.points[0].v))}" r="3" fill="${st.stroke}"/>`
        : `<polyline fill="none" stroke="${st.stroke}" stroke-width="2"${dash} points="${pts}"/>`;
    })
    .join('');
  const axes =
    `<line x1="${PAD.left}" y1="${PAD.top}" x2="${PAD.left}" y2="${H - PAD.bottom}" stroke="#555"/>` +
    `<line x1="${PAD.left}" y1="${H - PAD.bottom}" x2="${W - PAD.right}" y2="${H - PAD.bottom}" stroke="#555"/>` +
    yTicks(vmax, o.format)
      .map((t) => `<text x="${PAD.left - 6}" y="${num(y(t.v) + 4)}" text-anchor="end">${esc(t.label)}</text>`)
      .join('') +
    xLabels(timeAxisLabels(t0, t1));
  const latest = series.map((s) => `${s.label}: latest ${o.format(s.points[s.points.length - 1].v)}, highest ${o.format(Math.max(...s.points.map((p) => p.v)))}`);
  const span = timeAxisLabels(t0, t1);
  const desc = `${all.length} runs ${span.length === 1 ? `at ${span[0]}` : `from ${span[0]} to ${span[1]}`} UTC. ${latest.join('; ')}.`;
  const legend = series
    .map((s, i) => {
      const st = STYLES[i % STYLES.length];
      return `<li><svg width="28" height="10" aria-hidden="true"><line x1="0" y1="5" x2="28" y2="5" stroke="${st.stroke}" stroke-width="2"${st.dash ? ` stroke-dasharray="${st.dash}"` : ''}/></svg> ${esc(s.label)}</li>`;
    })
    .join('');
  return `<figure class="chart"><figcaption>${esc(o.title)}</figcaption><svg viewBox="0 0 ${W} ${H}" role="img" aria-labelledby="${id}t ${id}d"><title id="${id}t">${escAttr(o.title)}</title><desc id="${id}d">${escAttr(desc)}</desc>${axes}${lines}</svg><ul class="legend">${legend}</ul></figure>`;
}

function xLabels(labels: string[]): string {
  const y = H - 8;
  if (labels.length === 1) return `<text x="${num((PAD.left + W - PAD.right) / 2)}" y="${y}" text-anchor="middle">${esc(labels[0])}</text>`;
  return `<text x="${PAD.left}" y="${y}">${esc(labels[0])}</text><text x="${W - PAD.right}" y="${y}" text-anchor="end">${esc(labels[1])}</text>`;
}
