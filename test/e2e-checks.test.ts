import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import Database from 'better-sqlite3';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { startCollector, tempDir, waitFor, type Collector } from './helpers/processes';

// Checks end to end: the bundled collector (`serve`, real HTTP on loopback) with checks in its
// collector.yaml, pinged by real borgmatic 1.7 (Debian; its healthchecks hook, which POSTs
// start, then finish or fail with its log) over real borg repositories, and by cron-style `curl`
// wrappers as Healthchecks documents them (shared/REFERENCE-INTEGRATIONS.md §9). The Proxmox and
// Duplicati bodies are the real-format recordings in test/fixtures/intake (no Proxmox or
// Duplicati can run here; §§6 and 8), posted as those tools post them.

const BORG = '3f2a9c1e-5b7d-4e21-9a0c-6d8e1f2b3c4d';
const CRON = '7d6c5b4a-3928-4716-a5b4-c3d2e1f0a9b8';
const MISSED = 'c0ffee00-1234-4abc-8def-0123456789ab';
const PVE = '9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d';
const DUP = '0b1c2d3e-4f5a-4b6c-8d7e-9f0a1b2c3d4e';
const SECRET = 'pve-webhook-secret-e2e';

let dir: string;
let collector: Collector;
// Keep clients off any proxy the environment names: everything here is loopback.
const env = { ...process.env, LANG: 'C.UTF-8', NO_PROXY: '127.0.0.1', no_proxy: '127.0.0.1' };

const check = (id: string, name: string, schedule: string, target = '{ name: nas, location: onsite, media: nas }') => `  - id: ${id}
    name: ${name}
    asset: ${name}-data
    tier: 2
    target: ${target}
    schedule: "${schedule}"
`;

before(async () => {
  dir = tempDir('lifeline-e2e-checks-');
  writeFileSync(join(dir, 'pve.secret'), `${SECRET}\n`, { mode: 0o600 });
  collector = await startCollector(
    // info: a line per request, to show the check ids never reach the log. A short grace and
    // evaluation period, so the every-2-seconds check is missed within the test.
    `logLevel: info
rules: { grace: 2s }
incidents: { evaluateEvery: 1s, flap: 0s }
intake: { proxmoxSecretFile: ${join(dir, 'pve.secret')} }
checks:
${check(BORG, 'borgmatic-home', '@daily')}${check(CRON, 'cron-dump', '@daily')}${check(MISSED, 'nas-rsync', '*/2 * * * * *')}${check(PVE, 'pve1-vzdump', '@daily')}${check(DUP, 'win-docs', '@daily', '{ name: b2, location: offsite, media: cloud }')}`,
  );
});

after(async () => {
  await collector?.stop();
});

interface CheckRun {
  status: string;
  durationMs: number | null;
  exitCode: number | null;
  logTail: string | null;
  error: string | null;
}

/** The check's runs, oldest first, as stored (the collector's database, read-only). */
function runs(name: string): CheckRun[] {
  const db = new Database(collector.db, { readonly: true });
  try {
    return db
      .prepare<[string], CheckRun>(`SELECT status, duration_ms AS durationMs, exit_code AS exitCode, log_tail AS logTail, error FROM runs WHERE job = ? ORDER BY id`)
      .all(name);
  } finally {
    db.close();
  }
}

function borgmatic(config: string): number | null {
  const r = spawnSync('borgmatic', ['--config', config, '--log-file', '/dev/null', '--no-color', '-v', '1', '--monitoring-verbosity', '1', 'create'], {
    env: { ...env, BORG_BASE_DIR: join(dir, 'borg-home') },
    encoding: 'utf8',
    timeout: 60_000,
  });
  return r.status;
}

test('borgmatic: its healthchecks hook reports start and finish as one run, then a failure once the repository is gone', async () => {
  const repo = join(dir, 'repo');
  const src = join(dir, 'src');
  mkdirSync(src);
  writeFileSync(join(src, 'notes.txt'), 'keep me\n');
  writeFileSync(join(dir, 'pass'), 'e2e-checks-passphrase\n', { mode: 0o600 });
  execFileSync('borg', ['init', '--encryption=repokey', repo], {
    env: { ...env, BORG_PASSCOMMAND: `cat ${join(dir, 'pass')}`, BORG_BASE_DIR: join(dir, 'borg-home') },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const config = join(dir, 'borgmatic.yaml');
  writeFileSync(
    config,
    `location:
    source_directories: [${src}]
    repositories: [${repo}]
    borgmatic_source_directory: ${join(dir, 'borgmatic-state')}
storage:
    encryption_passcommand: cat ${join(dir, 'pass')}
retention:
    keep_daily: 7
hooks:
    healthchecks:
        ping_url: ${collector.url}/ping/${BORG}
`,
  );
  assert.equal(borgmatic(config), 0);
  let r = await waitFor('the borgmatic run', () => (runs('borgmatic-home').some((x) => x.status !== 'running') ? runs('borgmatic-home') : null));
  assert.equal(r.length, 1, 'start and finish are one run');
  assert.equal(r[0].status, 'success');
  assert.ok(r[0].durationMs! > 0, 'the run time from start to finish');
  assert.match(r[0].logTail!, /Creating archive/);

  rmSync(repo, { recursive: true });
  assert.notEqual(borgmatic(config), 0);
  r = await waitFor('the failed run', () => (runs('borgmatic-home').length === 2 && runs('borgmatic-home')[1].status !== 'running' ? runs('borgmatic-home') : null));
  assert.equal(r[1].status, 'failure');
  assert.match(r[1].logTail!, /does not exist|Repository/);
  // A failed check opens the failed-run incident like an agent job.
  await waitFor('the failed-run incident', async () => {
    const s = (await collector.status()) as unknown as { incidents: { rule: string; agent: string; job: string }[] };
    return s.incidents.some((i) => i.rule === 'failed-run' && i.agent === 'checks' && i.job === 'borgmatic-home');
  });
});

test('cron-style curl wrappers: exit status and output as the log; rid pairs start and end for the run time', async () => {
  const url = `${collector.url}/ping/${CRON}`;
  // templates/docs/bash.md: the command's output posted to /$?.
  const wrapper = `m=$(sh -c 'echo "dumping db"; echo "pg_dump: error: connection refused" >&2; exit 3' 2>&1)
curl -fsS -m 10 --retry 5 -o /dev/null --data-raw "$m" ${url}/$?
RID=$(cat /proc/sys/kernel/random/uuid)
curl -fsS -m 10 --retry 5 -o /dev/null "${url}/start?rid=$RID"
sleep 1.2
curl -fsS -m 10 --retry 5 -o /dev/null "${url}?rid=$RID"
`;
  const sh = spawnSync('sh', ['-c', wrapper], { env, encoding: 'utf8', timeout: 30_000 });
  assert.equal(sh.status, 0, sh.stderr);
  const r = runs('cron-dump');
  assert.equal(r.length, 2);
  assert.deepEqual({ status: r[0].status, exitCode: r[0].exitCode }, { status: 'failure', exitCode: 3 });
  assert.equal(r[0].logTail, 'dumping db\npg_dump: error: connection refused');
  assert.equal(r[1].status, 'success');
  assert.ok(r[1].durationMs! >= 1200 && r[1].durationMs! < 10_000, `run time ${r[1].durationMs} ms`);

  // The answers clients see, as Healthchecks gives them.
  const unknown = await fetch(`${collector.url}/ping/00000000-0000-4000-8000-000000000000`);
  assert.deepEqual([unknown.status, await unknown.text()], [404, 'not found']);
  const ok = await fetch(url, { method: 'HEAD' });
  assert.equal(ok.status, 200);
  const status = await collector.status();
  const job = status.jobs.find((j) => j.agent === 'checks' && j.name === 'cron-dump');
  assert.equal(job?.lastRun?.status, 'success');
});

test('Proxmox and Duplicati notifications (real-format bodies) arrive as runs over HTTP', async () => {
  const fixture = (name: string) => readFileSync(new URL(`./fixtures/intake/${name}`, import.meta.url));
  const pve = await fetch(`${collector.url}/intake/proxmox/${PVE}`, { method: 'POST', body: fixture('pve-vzdump-ok.json'), headers: { 'X-Lifeline-Secret': SECRET } });
  assert.deepEqual(await pve.json(), { runs: ['pve1-vzdump'] });
  const dup = await fetch(`${collector.url}/intake/duplicati/${DUP}`, { method: 'POST', body: fixture('duplicati-warning.json'), headers: { 'content-type': 'application/json' } });
  assert.deepEqual(await dup.json(), { runs: ['win-docs'] });
  assert.equal(runs('pve1-vzdump')[0].status, 'success');
  assert.equal(runs('win-docs')[0].status, 'warning');
});

test('a check that never pings opens the missed-run incident like an agent job; no log line holds a check id', async () => {
  const incident = await waitFor(
    'the missed-run incident',
    async () => {
      const s = (await collector.status()) as unknown as { incidents: { rule: string; agent: string; job: string; title: string }[] };
      return s.incidents.find((i) => i.rule === 'missed-run' && i.agent === 'checks' && i.job === 'nas-rsync');
    },
    15_000,
  );
  assert.match(incident.title, /nas-rsync/);
  const log = collector.proc.output;
  assert.match(log, /\/ping\/7d6c5b4a-REDACTED/, 'request lines are logged, redacted');
  for (const id of [BORG, CRON, PVE, DUP]) assert.ok(!log.includes(id), `check id ${id.slice(0, 8)} in the collector log`);
});
