import { markdownText } from '../../shared/display-text';
import { PHASE_TEXT, type DrAssetPlan, type DrPlan } from '../view/dr-plan';
import { duration, time } from './format';
import { esc, escAttr } from './html';
import { layout, table } from './layout';

// A host's disaster-recovery plan (view/dr-plan.ts) as a page, and as Markdown for printing.
// Every gap is marked with a symbol and a word, never colour alone.

const where = (t: { media: string; location: string }) => `${t.media}, ${t.location === 'offsite' ? 'off-site' : 'on-site'}`;
const utc = (iso: string) => `${iso.slice(0, 16).replace('T', ' ')} UTC`;
const copyText = (p: DrAssetPlan) =>
  p.copy === null
    ? '✖ none'
    : `${p.copy.job} → ${p.copy.target.name} (${where(p.copy.target)}), ${utc(p.copy.at)}: ${duration(p.copy.ageMs)} old, ${p.copy.rpoOk ? '✔ within' : '✖ beyond'} the ${duration(p.rpoMs)} RPO`;
const expectedText = (p: DrAssetPlan) =>
  p.expectedMs === null ? `? unknown (RTO ${duration(p.rtoMs)})` : `${p.rtoOk ? '✔' : '✖'} ${duration(p.expectedMs)} ${p.rtoOk ? 'within' : 'beyond'} the ${duration(p.rtoMs)} RTO`;
const heading = (p: DrAssetPlan) => `Restore ${p.asset}${p.guestName ? ` (${p.guestName})` : ''}: tier ${p.tier}, ${PHASE_TEXT[p.phase]}`;
const summary = (v: DrPlan) =>
  `${v.assets.length} asset${v.assets.length === 1 ? '' : 's'} backed up from this host, ${v.withGaps} with a gap in the plan. ` +
  (v.expectedMs === null ? 'Expected time for everything: unknown (not every restore has a drill).' : `Expected time for everything, one after another: ${duration(v.expectedMs)} (from measured restore drills).`);
const ORDER = 'Order: the hypervisor host first, then tier by tier (tier 1 first) the guests, the databases and the application data; verify last.';

export function renderDrPlan(v: DrPlan): string {
  const name = encodeURIComponent(v.agent);
  const rows = v.assets.map(
    (p) =>
      `<tr${p.gaps.length ? ' class="risk"' : ''}><td>${p.step}</td><th scope="row"><a href="#step-${p.step}">${esc(p.asset)}</a> <small>tier ${p.tier}, ${PHASE_TEXT[p.phase]}</small></th>` +
      `<td class="${p.copy?.rpoOk && p.copy.target.location === 'offsite' ? 'ok' : 'bad'}">${esc(copyText(p))}</td>` +
      `<td class="${p.rtoOk ? 'ok' : p.rtoOk === false ? 'bad' : 'warn'}">${expectedText(p)}</td>` +
      `<td class="${p.gaps.length ? 'bad' : 'ok'}">${p.gaps.length ? `⚠ gap: ${esc(p.gaps.join('; '))}` : '✔ no gap'}</td></tr>`,
  );
  const steps = v.assets.map(
    (p) => `<section aria-labelledby="step-${p.step}-h" id="step-${p.step}"><h2 id="step-${p.step}-h">${p.step}. ${esc(heading(p))}${p.gaps.length ? ' <span class="bad">⚠ gap</span>' : ''}</h2>
<ul class="facts"><li>Copy: ${esc(copyText(p))}${p.copy?.chain ? `<br><small>${esc(p.copy.chain)}</small>` : ''}</li><li>Expected restore time: ${expectedText(p)}</li>
${p.gaps.map((g) => `<li class="bad">⚠ ${esc(g)}</li>`).join('')}</ul>
${p.restore.length ? `<ol class="steps">${p.restore.map((s) => `<li><h3>${esc(s.title)}</h3>${s.commands.length ? `<pre class="commands"><code>${esc(s.commands.join('\n'))}</code></pre>` : ''}${s.notes.length ? `<ul>${s.notes.map((n) => `<li>${esc(n)}</li>`).join('')}</ul>` : ''}</li>`).join('')}</ol>` : '<p>No runbook: no copy to restore from.</p>'}</section>`,
  );
  const main = `<h1>If ${esc(v.agent)} died now</h1>
<p>Disaster-recovery plan for ${esc(v.agent)}${v.hostname ? ` (${esc(v.hostname)})` : ''}, generated ${time(v.generatedAt)} from the copies, runbooks and restore drills Lifeline knows. ${esc(summary(v))}</p>
<p>${ORDER} <a href="/hosts/${escAttr(name)}/dr-plan.md">Markdown for printing</a></p>
${table('drPlan', `Disaster-recovery plan for ${v.agent}`, rows, 'No assets are backed up from this host.')}
${steps.join('\n')}
<section aria-labelledby="verify-h"><h2 id="verify-h">${v.assets.length + 1}. Verify</h2><ul>${v.verify.map((t) => `<li>${esc(t)}</li>`).join('')}</ul></section>`;
  return layout({ title: `DR plan: ${v.agent}`, section: null, generatedAt: v.generatedAt, json: `/api/v1/hosts/${name}/dr-plan`, main });
}

/** A fence longer than any run of backticks in the block, so no command can close it. */
function fenced(lines: readonly string[]): string[] {
  const longest = Math.max(2, ...lines.flatMap((l) => (l.match(/`+/g) ?? []).map((m) => m.length)));
  const fence = '`'.repeat(longest + 1);
  return [`${fence}sh`, ...lines, fence];
}

export function drPlanMarkdown(v: DrPlan): string {
  const md = markdownText;
  const out = [
    `# If ${md(v.agent)} died now: disaster-recovery plan`,
    '',
    `Host ${md(v.agent)}${v.hostname ? ` (${md(v.hostname)})` : ''}, generated ${utc(v.generatedAt)}. ${summary(v)}`,
    '',
    ORDER,
  ];
  for (const p of v.assets) {
    out.push('', `## ${p.step}. ${md(heading(p))}${p.gaps.length ? ' — ⚠ GAP' : ''}`, '', `- Copy: ${md(copyText(p))}`);
    if (p.copy?.chain) out.push(`- Chain: ${md(p.copy.chain)}`);
    out.push(`- Expected restore time: ${expectedText(p)}`, ...p.gaps.map((g) => `- ⚠ Gap: ${md(g)}`));
    p.restore.forEach((s, i) => {
      out.push('', `### ${p.step}.${i + 1} ${md(s.title)}`, '');
      if (s.commands.length) out.push(...fenced(s.commands), '');
      out.push(...s.notes.map((n) => `- ${md(n)}`));
    });
  }
  out.push('', `## ${v.assets.length + 1}. Verify`, '', ...v.verify.map((t) => `- ${md(t)}`), '');
  return out.join('\n');
}
