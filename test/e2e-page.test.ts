import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { chromium, type Browser, type Page } from 'playwright-core';
import { AGENT_BIN, cliAsync, enrollAgent, Proc, startCollector, tempDir, waitFor, writeAgentConfig, type Collector } from './helpers/processes';

// The status page in a real headless Chromium, over a collector fed by a real agent's runs:
// a command job and a real restic repository (the "cloud" copy, with a real restore drill).
// One job's output, error and runbook carry script-injection attempts: they must show as text.
// Every page is checked with axe-core (injected into the same Chromium) in light and dark mode
// at 375 and 1440 px, and captured as screenshots under test-artifacts/screenshots/.

const ARTIFACTS = 'test-artifacts';
const SCREENSHOTS = `${ARTIFACTS}/screenshots`;
const AXE_SOURCE = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');
const EVIL = `<script>alert(1)</script><img src=x onerror=alert(2)>`;
const ADMIN_TOKEN = 'e2e-admin-token-0123456789';
const cleanups: (() => Promise<unknown> | void)[] = [];
let repo: string;
let pass: string;
let collector: Collector;
let browser: Browser;

before(async () => {
  mkdirSync(SCREENSHOTS, { recursive: true });
  const dir = tempDir('lifeline-page-');
  const adminToken = join(dir, 'admin.token');
  writeFileSync(adminToken, `${ADMIN_TOKEN}\n`, { mode: 0o600 });
  collector = await startCollector(`adminTokenFile: ${adminToken}\nincidents: { evaluateEvery: 1s, flap: 0s }\n`);
  cleanups.push(() => collector.stop('SIGKILL'));
  let src: string;
  let cache: string;
  [repo, src, pass, cache] = ['repo', 'src', 'restic.pass', 'cache'].map((n) => join(dir, n));
  mkdirSync(src);
  writeFileSync(join(src, 'hosts'), '127.0.0.1 localhost\n');
  writeFileSync(pass, 'correct horse\n', { mode: 0o600 });
  execFileSync('restic', ['init', '--repo', repo, '--password-file', pass], { stdio: 'ignore' });
  const agent = writeAgentConfig({
    name: 'pve1',
    jobs: `  - name: etc-local
    asset: pve1-etc
    tier: 2
    target: local-disk
    schedule: "*/2 * * * * *"
    driver: command
    command: { argv: [sh, -c, "echo archived 42 files"], runbook: ["tar -xzf /backup/etc.tgz -C /"] }
  - name: etc-cloud
    asset: pve1-etc
    tier: 2
    target: cloud
    schedule: "0 3 * * *"
    driver: restic
    restic: { repository: ${repo}, passwordFile: ${pass}, paths: [${src}], cacheDir: ${cache} }
  - name: evil
    asset: pve1-evil
    tier: 2
    target: local-disk
    schedule: "*/2 * * * * *"
    retry: { attempts: 0 }  # fail for good at once: the incident is what this test needs
    driver: command
    command: { argv: [sh, -c, "echo '${EVIL}'; echo '${EVIL}' >&2; exit 3"], runbook: ["echo '${EVIL}'"] }
`,
  });
  enrollAgent(agent, collector);
  for (const op of ['run', 'restore-test']) {
    const r = await cliAsync(AGENT_BIN, [op, 'etc-cloud', '--config', agent.config]);
    assert.equal(r.code, 0, r.stderr + r.stdout);
  }
  const daemon = new Proc(AGENT_BIN, ['daemon', '--config', agent.config]);
  cleanups.push(() => daemon.stop('SIGKILL'));
  await waitFor('a finished run of every job', async () => {
    const s = await collector.status();
    const done = (name: string, status: string) => s.jobs.some((j) => j.name === name && j.lastRun?.status === status);
    return done('etc-local', 'success') && done('etc-cloud', 'success') && done('evil', 'failure');
  }, 60_000);
  await daemon.stop('SIGTERM'); // a stable page from here on
  browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--no-sandbox', '--disable-background-networking', '--disable-dev-shm-usage', '--disable-gpu'] });
  cleanups.push(() => browser.close());
});

after(async () => {
  for (const c of cleanups.reverse()) await c();
});

/** A page at the given size that records every dialog (an executed alert() would open one). */
async function open(width: number, height: number): Promise<{ page: Page; dialogs: string[] }> {
  const page = await browser.newPage({ viewport: { width, height } });
  const dialogs: string[] = [];
  page.on('dialog', async (d) => {
    dialogs.push(d.message());
    await d.dismiss();
  });
  return { page, dialogs };
}

const overflow = (page: Page) => page.evaluate(() => document.documentElement.scrollWidth);

test('the overview shows the verdict and 3-2-1 badges and fits 375 px', async () => {
  for (const [w, h] of [[375, 812], [1440, 900]]) {
    const { page, dialogs } = await open(w, h);
    await page.goto(`${collector.url}/`);
    const verdict = (await page.locator('#verdict').innerText()).trim();
    assert.equal(verdict, '✖ 1 of 2 assets at risk: pve1-evil (no good copy yet)');
    const etc = page.locator('tr', { has: page.locator('a[href="/assets/pve1-etc"]') });
    assert.equal((await etc.locator('td').nth(1).innerText()).trim(), '✔ 3/2/1');
    const evil = page.locator('tr', { has: page.locator('a[href="/assets/pve1-evil"]') });
    assert.equal((await evil.locator('td').nth(1).innerText()).trim(), '✖ 1/1/0');
    assert.match(await evil.locator('td').nth(2).innerText(), /^✖ failure/);
    if (w === 375) assert.ok((await overflow(page)) <= 375, 'no horizontal page scroll at 375 px');
    assert.deepEqual(dialogs, []);
    await page.close();
  }
});

test('the asset page shows every copy, the 3-2-1 badge and the runbook commands', async () => {
  for (const [w, h] of [[375, 812], [1440, 900]]) {
    const { page, dialogs } = await open(w, h);
    await page.goto(`${collector.url}/assets/pve1-etc`);
    assert.equal((await page.locator('#verdict').innerText()).trim(), '✔ Recoverable: a fresh off-site copy within RPO');
    assert.equal((await page.locator('#badge').innerText()).trim(), '3-2-1 ✔ met: 3 copies, 2 media (disk, cloud), 1 off-site');
    assert.equal(await page.locator('section[aria-labelledby="copies-h"] tbody tr').count(), 2);
    const commands = await page.locator('pre.commands').allInnerTexts();
    assert.ok(commands.some((c) => /^tar -xzf \/backup\/etc\.tgz -C \/$/m.test(c)), commands.join('\n'));
    // The newest snapshot from the inventory the agent sent after its backup (full or short id).
    const { snapshotId } = (await collector.status()).jobs.find((j) => j.name === 'etc-cloud')!.lastRun!;
    const restic = `RESTIC_REPOSITORY=${repo} RESTIC_PASSWORD_FILE=${pass} restic restore ${snapshotId}`;
    assert.ok(commands.some((c) => c.startsWith(restic) && c.includes(' --target /restore/etc-cloud')), commands.join('\n'));
    const drills = page.locator('section[aria-labelledby="drills-h"] tbody tr');
    assert.match(await drills.first().innerText(), /success/, 'the real restore drill is listed');
    assert.equal(await page.locator('svg[role="img"] title').first().textContent(), 'Backup duration');
    if (w === 375) assert.ok((await overflow(page)) <= 375, 'no horizontal page scroll at 375 px');
    assert.deepEqual(dialogs, []);
    await page.close();
  }
});

test('script injected through a run log, error text and runbook renders as text and never runs', async () => {
  const { page, dialogs } = await open(1440, 900);
  await page.goto(`${collector.url}/assets/pve1-evil`);
  await page.locator('a.log').first().click();
  const log = page.locator('pre.logbox');
  await log.waitFor();
  assert.ok((await log.innerText()).includes(EVIL), 'the log shows the markup literally');
  assert.ok((await page.locator('pre.commands').innerText()).includes(`echo '${EVIL}'`), 'the runbook shows it literally');
  const injected = await page.evaluate(() => ({ scripts: document.querySelectorAll('main script, main img').length }));
  assert.deepEqual(injected, { scripts: 0 });
  await page.screenshot({ path: `${ARTIFACTS}/asset-injection-1440x900.png`, fullPage: true });
  for (const url of ['/', '/incidents', '/reports']) await page.goto(`${collector.url}${url}`);
  assert.deepEqual(dialogs, [], 'no alert() ran');
  await page.close();
});

test('incidents are acknowledged and muted from the page with the typed admin token', async () => {
  const { page, dialogs } = await open(375, 812);
  const incident = await waitFor('the failed-run incident of pve1-evil', async () => {
    const body = (await (await fetch(`${collector.url}/api/v1/incidents`)).json()) as { incidents: { id: number; rule: string; asset: string | null }[] };
    return body.incidents.find((i) => i.rule === 'failed-run' && i.asset === 'pve1-evil');
  });
  await page.goto(`${collector.url}/incidents`);
  const row = page.locator(`#incident-${incident.id}`);
  assert.match(await row.innerText(), /evil on pve1 failed[\s\S]*● unacknowledged/);
  const result = page.locator('#action-result');
  await row.getByRole('button', { name: 'Acknowledge' }).click();
  assert.equal(await result.innerText(), 'Type the admin token first.');
  await page.getByLabel('Admin token').fill('wrong-token');
  await row.getByRole('button', { name: 'Acknowledge' }).click();
  await page.waitForFunction(() => document.getElementById('action-result')!.textContent!.startsWith('Refused'));
  await page.getByLabel('Admin token').fill(ADMIN_TOKEN);
  await row.getByRole('button', { name: 'Acknowledge' }).click();
  await page.waitForFunction(() => document.getElementById('action-result')!.textContent === 'Done: Acknowledge.');
  assert.match(await page.locator(`#incident-${incident.id}`).innerText(), /✔ acknowledged/);
  await page.locator(`#incident-${incident.id}`).getByRole('button', { name: 'Mute pve1-evil for 24 h' }).click();
  await page.waitForFunction(() => document.getElementById('action-result')!.textContent!.startsWith('Done: Mute'));
  assert.match(await page.locator('section[aria-labelledby="mutes-h"] tbody').innerText(), /pve1-evil/);
  const stored = (await (await fetch(`${collector.url}/api/v1/incidents`)).json()) as { incidents: { id: number; ackedAt: number | null }[] };
  assert.equal(typeof stored.incidents.find((i) => i.id === incident.id)!.ackedAt, 'number', 'the acknowledgement is stored');
  assert.ok((await overflow(page)) <= 375, 'no horizontal page scroll at 375 px');
  assert.deepEqual(dialogs, []);
  await page.close();
});

interface AxeResult { violations: { id: string; impact: string | null; help: string; nodes: { target: string[] }[] }[] }

test('every page, light and dark, at 375 and 1440 px: no axe violation, no sideways scroll, a screenshot kept', async () => {
  const pages: [string, string][] = [
    ['overview', '/'],
    // A filter shows the fleet view (at risk first, tiers counted, healthy paged, the filter form).
    ['overview-filtered', '/?tier=2&name=pve'],
    ['asset', '/assets/pve1-etc'],
    ['incidents', '/incidents'],
    ['reports', '/reports'],
    ['dr-plan', '/hosts/pve1/dr-plan'],
  ];
  const found: string[] = [];
  // One browser context per width, side by side; each page is loaded and axe injected once,
  // then checked and captured light, then dark (the scheme switched in place).
  await Promise.all(
    [[375, 812], [1440, 900]].map(async ([w, h]) => {
      const context = await browser.newContext({ viewport: { width: w, height: h } });
      const page = await context.newPage();
      for (const [name, url] of pages) {
        await page.emulateMedia({ colorScheme: 'light' });
        const res = await page.goto(`${collector.url}${url}`);
        assert.equal(res?.status(), 200, url);
        // Evaluated through DevTools, so the page's CSP (no inline script) does not stop it.
        await page.evaluate(AXE_SOURCE);
        for (const colorScheme of ['light', 'dark'] as const) {
          await page.emulateMedia({ colorScheme });
          const result = (await page.evaluate(() =>
            (globalThis as unknown as { axe: { run: (ctx: Document, o: object) => Promise<unknown> } }).axe.run(document, { resultTypes: ['violations'] }),
          )) as AxeResult;
          for (const v of result.violations) found.push(`${url} ${colorScheme} ${w}px: ${v.id} (${v.impact}) ${v.help} at ${v.nodes.map((n) => n.target.join(' ')).slice(0, 3).join(', ')}`);
          await page.screenshot({ path: `${SCREENSHOTS}/${name}-${w}x${h}-${colorScheme}.png`, fullPage: true });
        }
        if (w === 375) assert.ok((await overflow(page)) <= 375, `${url}: no horizontal page scroll at 375 px`);
      }
      await context.close();
    }),
  );
  assert.deepEqual(found, []);
  // The icon browsers ask for whatever the page links.
  const icon = await fetch(`${collector.url}/favicon.ico`);
  assert.equal(icon.status, 200);
  assert.equal(icon.headers.get('content-type'), 'image/svg+xml');
});
