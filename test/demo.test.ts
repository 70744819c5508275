import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, test } from 'node:test';
import { chromium } from 'playwright-core';
import { freePort, tempDir, waitFor } from './helpers/processes';

// `npm run demo` as a new user starts it (scripts/demo.mjs), in a temp dir with fast timings
// (LIFELINE_DEMO_FAST=1: schedules every few seconds, RPOs under a minute): real tar, restic and
// borg backups through the agent, a real collector, and its loopback ntfy receiver. Within its
// first minute it must show an open incident, a successful restore drill with its measured
// time, restore commands in the runbook, and a notification the "phone" received; then its
// pages are kept as screenshots (test-artifacts/screenshots/demo/).

const dir = tempDir('lifeline-demo-');
let demo: ReturnType<typeof spawn> | null = null;
let output = '';

after(async () => {
  if (demo && demo.exitCode === null) {
    const exited = new Promise((ok) => demo!.once('exit', ok));
    demo.kill('SIGTERM'); // the demo stops its collector, agent and PostgreSQL server
    await exited;
  }
  rmSync(dir, { recursive: true, force: true });
});

/**
 * What a new user sees, kept as artifacts: the demo's overview, an asset page, incidents and
 * reports at a phone's and a desktop's size, light and dark (headless Chromium, Debian's).
 */
async function screenshots(base: string): Promise<void> {
  const out = 'test-artifacts/screenshots/demo';
  mkdirSync(out, { recursive: true });
  const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--no-sandbox', '--disable-background-networking', '--disable-dev-shm-usage', '--disable-gpu'] });
  try {
    for (const [w, h] of [[375, 812], [1440, 900]]) {
      for (const colorScheme of ['light', 'dark'] as const) {
        const context = await browser.newContext({ viewport: { width: w, height: h }, colorScheme });
        const page = await context.newPage();
        for (const [name, path] of [['overview', '/'], ['asset', '/assets/documents'], ['incidents', '/incidents'], ['reports', '/reports']]) {
          const res = await page.goto(`${base}${path}`);
          assert.equal(res?.status(), 200, path);
          await page.screenshot({ path: `${out}/${name}-${w}x${h}-${colorScheme}.png`, fullPage: true });
        }
        await context.close();
      }
    }
  } finally {
    await browser.close();
  }
  assert.equal(readdirSync(out).filter((f) => f.endsWith('.png')).length, 16);
}

interface Incident { rule: string; asset: string | null; title: string }
interface Drill { status: string; durationMs: number | null; rtoOk: boolean | null }
interface AssetBody { drills: Drill[]; runbooks: { commands: string[]; steps?: { commands: string[] }[] }[]; rtoMs: number }

test('the demo shows within its first minute an open incident, a timed restore drill, runbook commands and a phone notification', async () => {
  const [port, ntfyPort] = [await freePort(), await freePort()];
  demo = spawn(process.execPath, ['scripts/demo.mjs'], {
    cwd: fileURLToPath(new URL('..', import.meta.url)),
    env: { ...process.env, LIFELINE_DEMO_DIR: join(dir, 'demo'), LIFELINE_DEMO_PORT: String(port), LIFELINE_DEMO_NTFY_PORT: String(ntfyPort), LIFELINE_DEMO_FAST: '1', LIFELINE_DEMO_SKIP_BUILD: '1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  demo.stdout!.on('data', (d) => (output += d));
  demo.stderr!.on('data', (d) => (output += d));
  const base = `http://127.0.0.1:${port}`;
  const json = async <T>(url: string) => {
    const r = await fetch(url);
    if (!r.ok) throw new Error(`${url}: HTTP ${r.status}`);
    return (await r.json()) as T;
  };
  const context = () => `\n--- demo output ---\n${output.slice(-4000)}`;
  try {
    const page = await waitFor('the first page', async () => (await fetch(`${base}/`)).ok, 30_000, 250);
    assert.ok(page);
    const documents = await waitFor(
      'a successful restore drill of documents with its measured time',
      async () => {
        const a = await json<AssetBody>(`${base}/api/v1/assets/documents`);
        return a.drills.some((d) => d.status === 'success' && d.durationMs !== null) ? a : null;
      },
      45_000,
      500,
    );
    const drill = documents.drills.find((d) => d.status === 'success')!;
    assert.equal(drill.rtoOk, true, 'a drill of a few archives is well within the demo RTO');
    const commands = documents.runbooks.flatMap((r) => [...r.commands, ...(r.steps ?? []).flatMap((s) => s.commands)]);
    assert.ok(commands.some((c) => /^tar .*--extract/.test(c) || /\btar -x/.test(c)), `a tar restore command:\n${commands.join('\n')}`);
    const html = await (await fetch(`${base}/assets/documents`)).text();
    assert.match(html, /<pre class="commands"><code>/);
    assert.match(html, /✔ \d+ ms \/ 1m|✔ [\d.]+ s \/ 1m/, 'the measured drill time against the RTO');

    const incidents = await waitFor(
      'an open incident for mail',
      async () => {
        const open = (await json<{ incidents: Incident[] }>(`${base}/api/v1/incidents`)).incidents.filter((i) => i.asset === 'mail');
        return open.some((i) => i.rule === 'failed-run') ? open : null;
      },
      45_000,
      500,
    );
    assert.match(incidents.find((i) => i.rule === 'failed-run')!.title, /^mail-(local|offsite) on homelab failed/);
    const phone = await waitFor('the phone told of the failure', async () => {
      const got = await json<{ title: string }[]>(`http://127.0.0.1:${ntfyPort}/messages`);
      return got.find((m) => /mail-(local|offsite) on homelab failed/.test(m.title));
    }, 15_000, 500);
    assert.match(phone.title, /^\[mail\] /);
    assert.match(output, /\[phone\] 🔔 \[mail\] mail-(local|offsite) on homelab failed/, 'printed on the console too');
    assert.match(output, /"offsite-stand-in" is a folder in .*offsite, standing in for a disk kept elsewhere/);
    await screenshots(base);
  } catch (err) {
    (err as Error).message += context();
    throw err;
  }
});
