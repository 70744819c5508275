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

/** `id` must be unique within the page (it names the title and description). */
export function lineChart(o: { id: string; title: string; series: ChartSeries[]; format: (v: number) => string }): string {
  const series = o.series.filter((s) => s.points.length > 0);
  if (series.length === 0) return `<figure class="chart"><figcaption>${esc(o.title)}</figcaption><p>No finished runs yet.</p></figure>`;
  const all = series.flatMap((s) => s.points);
  const t0 = Math.min(...all.map((p) => p.t));
  const t1 = Math.max(...all.map((p) => p.t));
  const vmax = Math.max(...all.map((p) => p.v)) || 1;
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
    [0, 0.5, 1]
      .map((f) => `<text x="${PAD.left - 6}" y="${num(y(vmax * f) + 4)}" text-anchor="end">${esc(o.format(vmax * f))}</text>`)
      .join('') +
    `<text x="${PAD.left}" y="${H - 8}">${day(t0)}</text><text x="${W - PAD.right}" y="${H - 8}" text-anchor="end">${day(t1)}</text>`;
  const latest = series.map((s) => `${s.label}: latest ${o.format(s.points[s.points.length - 1].v)}, highest ${o.format(Math.max(...s.points.map((p) => p.v)))}`);
  const desc = `${all.length} runs from ${day(t0)} to ${day(t1)}. ${latest.join('; ')}.`;
  const legend = series
    .map((s, i) => {
      const st = STYLES[i % STYLES.length];
      return `<li><svg width="28" height="10" aria-hidden="true"><line x1="0" y1="5" x2="28" y2="5" stroke="${st.stroke}" stroke-width="2"${st.dash ? ` stroke-dasharray="${st.dash}"` : ''}/></svg> ${esc(s.label)}</li>`;
    })
    .join('');
  return `<figure class="chart"><figcaption>${esc(o.title)}</figcaption><svg viewBox="0 0 ${W} ${H}" role="img" aria-labelledby="${id}t ${id}d"><title id="${id}t">${escAttr(o.title)}</title><desc id="${id}d">${escAttr(desc)}</desc>${axes}${lines}</svg><ul class="legend">${legend}</ul></figure>`;
}
