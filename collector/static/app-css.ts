// The pages' stylesheet, served as /static/app.css (the Content-Security-Policy allows no
// inline style). Colours keep at least 4.5:1 contrast on their backgrounds.
import { cardCss } from '../page/tables';

export const APP_CSS = `:root{color-scheme:light dark}
*{box-sizing:border-box}
body{font:16px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;color:#1a1a1a;background:#fff;overflow-wrap:anywhere}
header{display:flex;flex-wrap:wrap;gap:.5rem 1.5rem;align-items:center;padding:.6rem 1rem;background:#14213d;color:#fff}
header a{color:#fff}
.brand{font-weight:700}
nav a{margin-right:1rem}
nav a[aria-current=page]{font-weight:700;text-decoration-thickness:3px}
main,footer{display:block;padding:0 1rem;max-width:84rem}
main:focus{outline:none}
a{color:#0b4fc4}
:focus-visible{outline:3px solid #f59e0b;outline-offset:2px}
.skip{position:absolute;left:-999px}
.skip:focus{left:1rem;top:.5rem;background:#fff;color:#000;padding:.4rem;z-index:1}
.verdict{font-size:1.15rem;padding:.75rem 1rem;border-left:6px solid;color:#1a1a1a}
.verdict.ok{background:#e8f5ec;border-color:#0a6b2d}
.verdict.bad{background:#fdecec;border-color:#a4141b}
.ok{color:#0a6b2d}.bad{color:#a4141b}.warn{color:#7a4d00}
.counts{display:flex;flex-wrap:wrap;gap:.25rem 1.25rem;padding:0;list-style:none}
.facts{padding-left:1.2rem}
.scroll{overflow-x:auto;max-width:100%;margin-bottom:1.5rem}
table{border-collapse:collapse;width:100%}
.scroll table{min-width:40rem}
th,td{overflow-wrap:normal}
caption{position:absolute;width:1px;height:1px;overflow:hidden;clip-path:inset(50%);white-space:nowrap}
th,td{text-align:left;vertical-align:top;padding:.4rem .5rem;border-bottom:1px solid #d0d0d0}
thead th{border-bottom:2px solid #555}
tr.risk th{border-left:4px solid #a4141b}
small{color:#444}
h2 small{font-weight:400;font-size:.8em}
.disks{list-style:none;margin:0;padding:0}
meter{width:5rem}
pre{overflow-x:auto;white-space:pre-wrap;overflow-wrap:anywhere;background:#f4f4f4;padding:.6rem;border:1px solid #d0d0d0;max-width:100%}
.logbox{max-height:24rem;overflow:auto;white-space:pre-wrap}
.charts{display:grid;gap:1rem;grid-template-columns:repeat(auto-fit,minmax(min(100%,22rem),1fr))}
.chart{margin:0}
.chart>svg{width:100%;height:auto;font:12px system-ui,sans-serif}
.chart text{fill:#333}
.legend{list-style:none;padding:0;margin:.25rem 0;display:flex;flex-wrap:wrap;gap:.25rem 1rem}
button{font:inherit;padding:.35rem .7rem;margin:.1rem 0;border:1px solid #14213d;background:#fff;color:#14213d;border-radius:4px;cursor:pointer}
button:hover{background:#eef2ff}
input{font:inherit;padding:.35rem;border:1px solid #555;border-radius:4px;max-width:100%}
footer{color:#444;font-size:.9rem;margin:2rem 0}
@media (max-width:600px){body{font-size:15px}th,td{padding:.3rem}}
.nowrap{white-space:nowrap}
.strip{display:inline-flex;flex-wrap:wrap;gap:2px;margin-top:.2rem}
.strip i{font-style:normal;display:inline-block;min-width:1.3em;text-align:center;border-radius:3px;color:#fff;font-size:.8rem;line-height:1.4}
.m-ok{background:#0a6b2d}.m-bad{background:#a4141b}.m-warn{background:#7a4d00}.m-skip{background:#555}
.no-assets{color:#444}
.filter{display:flex;flex-wrap:wrap;gap:.5rem 1rem;align-items:flex-end;margin:1rem 0}
.filter label{display:flex;flex-direction:column;font-size:.9rem}
select{font:inherit;padding:.3rem;border:1px solid #555;border-radius:4px;background:#fff;color:inherit}
.pager{margin:0 0 1.5rem}
${cardCss()}
@media (prefers-color-scheme:dark){
:root{color-scheme:dark}
body{color:#e6e6e6;background:#121417}
header{background:#0b1220}
a{color:#8ab4ff}
.skip:focus{background:#121417;color:#fff}
.verdict{color:#e6e6e6}
.verdict.ok{background:#0f2a1a;border-color:#5fd38a}
.verdict.bad{background:#3a1114;border-color:#ff8a8a}
.ok{color:#5fd38a}.bad{color:#ff9b9b}.warn{color:#f0b44c}
small,.no-assets,footer{color:#b8b8b8}
th,td{border-bottom-color:#3a3f47}
thead th{border-bottom-color:#9aa0a6}
tr.risk th{border-left-color:#ff8a8a}
pre{background:#1e2228;border-color:#3a3f47}
.chart text{fill:#d0d0d0}
button,input,select{background:#1e2228;color:#e6e6e6;border-color:#9aa0a6}
button:hover{background:#2a3140}
mark{background:#f0b44c;color:#121417}
}
@media (prefers-color-scheme:dark) and (max-width:600px){.cards tr{border-bottom-color:#3a3f47}.cards tr.risk{border-left-color:#ff8a8a}}
`;
