// `npm run demo`: a small, honest homelab under .demo/. A collector on http://localhost:9470,
// one agent ("homelab") enrolled with it, real backups through real drivers (tar archives with
// the `paths` driver; restic, borg and PostgreSQL too when installed), a restore drill measured against the
// RTO, and a loopback ntfy-compatible receiver printing what a phone would be told. Within the
// first minutes, problems Lifeline exists to catch happen for real:
//   - the mail spool moves away from where mail-local and mail-offsite read it: they fail;
//   - photos' only off-site copy is made once at start and never again: it goes stale against
//     the demo's short tier 2 RPO;
//   - a "cleanup script" deletes photos-local archives behind the retention policy's back: the
//     inventory audit reports the gap.
// The off-site target is a folder (.demo/offsite) standing in for a disk kept elsewhere, and is
// named so. Each start begins afresh (the previous run's .demo/ is replaced).
//
// Knobs (for tests): LIFELINE_DEMO_DIR (instead of .demo), LIFELINE_DEMO_PORT (9470),
// LIFELINE_DEMO_NTFY_PORT (9471; 0: any free port), LIFELINE_DEMO_FAST=1 (schedules every few
// seconds, RPOs of a minute or less), LIFELINE_DEMO_SKIP_BUILD=1 (dist/ is already built).
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { chownSync, existsSync, mkdirSync, mkdtempSync, readdirSync, renameSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createServer } from 'node:http';
import { join, resolve } from 'node:path';
import { build, ensureNodeModules, root } from './setup.mjs';

const FAST = process.env.LIFELINE_DEMO_FAST === '1';
if (process.env.LIFELINE_DEMO_SKIP_BUILD !== '1') {
  ensureNodeModules();
  build();
}

const demo = resolve(process.env.LIFELINE_DEMO_DIR ?? join(root, '.demo'));
rmSync(demo, { recursive: true, force: true });
const dirs = { data: join(demo, 'data'), backups: join(demo, 'backups'), offsite: join(demo, 'offsite'), agent: join(demo, 'agent'), collector: join(demo, 'collector') };
for (const d of Object.values(dirs)) mkdirSync(d, { recursive: true, mode: 0o700 });

// The homelab's data: documents and photos (text files; real archives of them are made).
for (const [folder, count, text] of [['documents', 20, 'demo document'], ['photos', 12, 'not really a photo']]) {
  mkdirSync(join(dirs.data, folder), { recursive: true });
  for (let i = 1; i <= count; i++) writeFileSync(join(dirs.data, folder, `${folder}-${i}.txt`), `${text} ${i}\n`.repeat(400 + i * 50));
}
for (const d of ['documents', 'photos', 'mail', 'wiki']) for (const at of [dirs.backups, dirs.offsite]) mkdirSync(join(at, d), { recursive: true, mode: 0o700 });
mkdirSync(join(dirs.data, 'mail'), { recursive: true });
for (let i = 1; i <= 30; i++) writeFileSync(join(dirs.data, 'mail', `${1700000000 + i}.eml`), `Subject: demo mail ${i}\n\n${'hello '.repeat(200)}\n`);
mkdirSync(join(dirs.data, 'wiki'), { recursive: true });
for (let i = 1; i <= 8; i++) writeFileSync(join(dirs.data, 'wiki', `page-${i}.md`), `# Page ${i}\n${'wiki text '.repeat(300)}\n`);

/** Run at shutdown, after the agent and collector stopped (the PostgreSQL server). */
const cleanups = [];
const has = (tool) => spawnSync(tool, [tool === 'restic' ? 'version' : '--version'], { stdio: 'ignore' }).status === 0;
const say = (line) => console.log(`[demo] ${line}`);

// Timings: every minute normally; every few seconds for tests (LIFELINE_DEMO_FAST=1), where
// restic and borg (slower to start) run every 15 s.
const T = FAST
  ? { every: '*/5 * * * * *', rare: '0 0 4 * * *', drill: '*/20 * * * * *', heartbeat: '5s', evaluate: '1s', grace: '15s', cleanupMs: 15_000, failMs: 3_000, slow: '*/15 * * * * *', tiers: { 1: ['1m', '1m'], 2: ['30s', '5m'], 3: ['2m', '1h'] } }
  : { every: '* * * * *', rare: '0 4 * * *', drill: '*/3 * * * *', heartbeat: '30s', evaluate: '5s', grace: '30s', cleanupMs: 150_000, failMs: 50_000, slow: '* * * * *', tiers: { 1: ['10m', '2m'], 2: ['3m', '30m'], 3: ['15m', '4h'] } };

const port = Number(process.env.LIFELINE_DEMO_PORT ?? 9470);
const base = `http://127.0.0.1:${port}`;

// The phone: an ntfy-compatible receiver on loopback that prints each notification.
const received = [];
const decodeHeader = (v) => (v ?? '').replace(/=\?UTF-8\?B\?([^?]*)\?=/gi, (_, b64) => Buffer.from(b64, 'base64').toString('utf8'));
const phone = createServer((req, res) => {
  if (req.method === 'GET' && req.url === '/messages') {
    res.writeHead(200, { 'content-type': 'application/json' });
    return res.end(JSON.stringify(received));
  }
  let body = '';
  req.setEncoding('utf8');
  req.on('data', (d) => (body += d));
  req.on('end', () => {
    const m = { at: new Date().toISOString(), topic: req.url, title: decodeHeader(req.headers['x-title']), priority: req.headers['x-priority'] ?? null, body };
    received.push(m);
    console.log(`[phone] 🔔 ${m.title}${m.priority ? ` (priority ${m.priority})` : ''}\n[phone]    ${body.split('\n').find((l) => l.trim()) ?? ''}`);
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ id: String(received.length), event: 'message' }));
  });
});
await new Promise((ok) => phone.listen(Number(process.env.LIFELINE_DEMO_NTFY_PORT ?? port + 1), '127.0.0.1', ok));
const phoneUrl = `http://127.0.0.1:${phone.address().port}/lifeline-demo`;

const tiers = Object.entries(T.tiers).map(([t, [rpo, rto]]) => `  ${t}: { rpo: ${rpo}, rto: ${rto} }`).join('\n');
const collectorConfig = join(demo, 'collector.yaml');
writeFileSync(collectorConfig, `# demo collector (npm run demo)
listen: 127.0.0.1:${port}
database: ${join(dirs.collector, 'lifeline.db')}
# Short objectives, so what goes wrong shows within minutes, not days.
tiers:
${tiers}
rules: { grace: ${T.grace} }
# Re-evaluate often and open incidents at once: the demo is about seeing them.
incidents: { evaluateEvery: ${T.evaluate}, flap: 0s }
# The "phone": the demo's loopback ntfy receiver.
notify:
  - { name: phone, type: ntfy, url: ${phoneUrl} }
`);

// Jobs. Each paths job writes real tar archives; restic and borg join when installed.
const paths = (name, asset, tier, target, folder, dir, extra = '') => `  - name: ${name}
    asset: ${asset}
    tier: ${tier}
    target: ${target}
    schedule: "${T.every}"
    timeout: 5m
    retention: { last: 5 }
    retry: { attempts: 0 }
    driver: paths
    paths: { paths: [${join(dirs.data, folder)}], dir: ${dir}, compress: gzip }
${extra}`;
const jobs = [];
const firstRuns = [];
jobs.push(
  paths('documents-local', 'documents', 1, 'local-disk', 'documents', join(dirs.backups, 'documents'), `    verify: { schedule: "${T.drill}" }\n    restoreTest: { schedule: "${T.drill}" }\n`),
);
firstRuns.push(['run', 'documents-local'], ['restore-test', 'documents-local'], ['verify', 'documents-local']);
if (has('restic')) {
  const repo = join(dirs.offsite, 'documents-restic');
  const pass = join(demo, 'restic.pass');
  writeFileSync(pass, 'demo only: not a real secret\n', { mode: 0o600 });
  execFileSync('restic', ['init', '--repo', repo, '--password-file', pass], { stdio: 'ignore' });
  jobs.push(`  - name: documents-offsite
    asset: documents
    tier: 1
    target: offsite-stand-in
    schedule: "${T.slow}"
    timeout: 5m
    retention: { last: 5 }
    driver: restic
    restic: { repository: ${repo}, passwordFile: ${pass}, paths: [${join(dirs.data, 'documents')}], cacheDir: ${join(demo, 'restic-cache')} }
`);
  say('restic found: documents-offsite is a real restic repository (in the off-site stand-in folder)');
} else {
  jobs.push(paths('documents-offsite', 'documents', 1, 'offsite-stand-in', 'documents', join(dirs.offsite, 'documents')));
  say('restic not installed: skipped the restic job (documents-offsite writes tar archives instead)');
}
firstRuns.push(['run', 'documents-offsite']);
jobs.push(paths('photos-local', 'photos', 2, 'local-disk', 'photos', join(dirs.backups, 'photos')));
// photos' only off-site copy: made once now, scheduled daily at 04:00, stale in minutes.
jobs.push(paths('photos-offsite', 'photos', 2, 'offsite-stand-in', 'photos', join(dirs.offsite, 'photos')).replace(`schedule: "${T.every}"`, `schedule: "${T.rare}"`));
firstRuns.push(['run', 'photos-local'], ['run', 'photos-offsite']);
// mail: both copies read .demo/data/mail, which the demo moves away after a while (the spool
// moved to a new disk, the jobs still name the old path): from then on every run fails.
jobs.push(paths('mail-local', 'mail', 3, 'local-disk', 'mail', join(dirs.backups, 'mail')), paths('mail-offsite', 'mail', 3, 'offsite-stand-in', 'mail', join(dirs.offsite, 'mail')));
firstRuns.push(['run', 'mail-local'], ['run', 'mail-offsite']);
if (has('borg')) {
  const repo = join(dirs.backups, 'wiki-borg');
  const pass = join(demo, 'borg.pass');
  writeFileSync(pass, 'demo only: not a real secret\n', { mode: 0o600 });
  const env = { ...process.env, BORG_PASSPHRASE: 'demo only: not a real secret', BORG_BASE_DIR: join(demo, 'borg-home') };
  execFileSync('borg', ['init', '--encryption=repokey', repo], { stdio: 'ignore', env });
  jobs.push(`  - name: wiki-borg
    asset: wiki
    tier: 3
    target: local-disk
    schedule: "${T.slow}"
    timeout: 5m
    retention: { last: 5 }
    env: { BORG_BASE_DIR: ${join(demo, 'borg-home')} }
    driver: borg
    borg: { repository: ${repo}, passphraseFile: ${pass}, paths: [${join(dirs.data, 'wiki')}] }
`);
  say('borg found: wiki-borg is a real borg repository');
} else {
  jobs.push(paths('wiki-local', 'wiki', 3, 'local-disk', 'wiki', join(dirs.backups, 'wiki')));
  say('borg not installed: skipped the borg job (wiki-local writes tar archives instead)');
}
jobs.push(paths('wiki-offsite', 'wiki', 3, 'offsite-stand-in', 'wiki', join(dirs.offsite, 'wiki')));
firstRuns.push(['run', has('borg') ? 'wiki-borg' : 'wiki-local'], ['run', 'wiki-offsite']);
const pg = await startPostgres();
if (pg) {
  jobs.push(`  - name: notes-db
    asset: notes-db
    tier: 2
    target: local-disk
    schedule: "${T.slow}"
    timeout: 5m
    retention: { last: 5 }
    driver: postgres
    postgres: { database: notes, host: ${pg.socketDir}, port: ${pg.port}, user: postgres, pgBin: ${pg.bin}, dir: ${join(dirs.backups, 'notes-db')}, sanityQuery: "SELECT count(*) FROM notes" }
  - name: notes-db-offsite
    asset: notes-db
    tier: 2
    target: offsite-stand-in
    schedule: "${T.slow}"
    timeout: 5m
    retention: { last: 5 }
    driver: postgres
    postgres: { database: notes, host: ${pg.socketDir}, port: ${pg.port}, user: postgres, pgBin: ${pg.bin}, dir: ${join(dirs.offsite, 'notes-db')} }
`);
  for (const at of [dirs.backups, dirs.offsite]) mkdirSync(join(at, 'notes-db'), { recursive: true, mode: 0o700 });
  firstRuns.push(['run', 'notes-db'], ['run', 'notes-db-offsite']);
  say(`PostgreSQL found: notes-db dumps a real database (a server on ${pg.socketDir}, port ${pg.port}, stopped with the demo)`);
}

/**
 * A throwaway PostgreSQL server for the notes-db job when its binaries are installed (as root
 * it runs as the `postgres` user, which refuses root): initdb in a temp dir, a unix socket, a
 * small table. null, with one line saying why, when it cannot be had.
 */
async function startPostgres() {
  const versions = existsSync('/usr/lib/postgresql') ? readdirSync('/usr/lib/postgresql').sort((a, b) => Number(b) - Number(a)) : [];
  const bin = versions.map((v) => `/usr/lib/postgresql/${v}/bin`).find((d) => existsSync(join(d, 'initdb')) && existsSync(join(d, 'pg_dump')));
  if (!bin) {
    say('PostgreSQL not installed: skipped the postgres job');
    return null;
  }
  const root = process.getuid?.() === 0;
  const as = (argv) => (root ? ['runuser', '-u', 'postgres', '--', ...argv] : argv);
  const dir = mkdtempSync(join(tmpdir(), 'lifeline-demo-pg-'));
  try {
    if (root) {
      const ids = spawnSync('id', ['-u', 'postgres'], { encoding: 'utf8' });
      if (ids.status !== 0) throw new Error('no postgres user to run the server as');
      chownSync(dir, Number(ids.stdout), Number(spawnSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).stdout));
    }
    const port = await new Promise((ok, fail) => {
      const srv = createServer().listen(0, '127.0.0.1', () => {
        const p = srv.address().port;
        srv.close(() => ok(p));
      });
      srv.on('error', fail);
    });
    const run = (argv, input) => {
      const [cmd, ...args] = as(argv);
      const r = spawnSync(cmd, args, { encoding: 'utf8', input, timeout: 60_000 });
      if (r.status !== 0) throw new Error(`${argv[0]} failed: ${(r.stderr || r.stdout).trim().split('\n').pop()}`);
    };
    run([join(bin, 'initdb'), '-D', join(dir, 'data'), '-U', 'postgres', '--auth-local=trust', '-E', 'UTF8', '--no-sync']);
    run([join(bin, 'pg_ctl'), '-D', join(dir, 'data'), '-l', join(dir, 'server.log'), '-w', '-o', `-p ${port} -k ${dir} -c listen_addresses='' -c fsync=off -c shared_buffers=16MB`, 'start']);
    const stop = () => spawnSync(as([join(bin, 'pg_ctl'), '-D', join(dir, 'data'), '-m', 'fast', '-w', 'stop'])[0], as([join(bin, 'pg_ctl'), '-D', join(dir, 'data'), '-m', 'fast', '-w', 'stop']).slice(1), { stdio: 'ignore' });
    cleanups.push(() => {
      stop();
      rmSync(dir, { recursive: true, force: true });
    });
    const psql = [join(bin, 'psql'), '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-h', dir, '-p', String(port), '-U', 'postgres'];
    run([...psql, '-d', 'postgres', '-c', 'CREATE DATABASE notes']);
    run([...psql, '-d', 'notes'], `CREATE TABLE notes (id int PRIMARY KEY, body text NOT NULL);
INSERT INTO notes SELECT g, 'note ' || g || ' ' || repeat(md5(g::text), 8) FROM generate_series(1, 3000) g;`);
    return { bin, port, socketDir: dir };
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    say(`PostgreSQL skipped: ${err.message}`);
    return null;
  }
}

const agentConfig = join(demo, 'agent.yaml');
writeFileSync(agentConfig, `# demo agent (npm run demo)
agent:
  name: homelab
  stateDir: ${dirs.agent}
  heartbeat: ${T.heartbeat}
targets:
  - { name: local-disk, location: onsite, media: disk }
  # A folder on this same disk standing in for a disk kept elsewhere: labelled off-site for the demo only.
  - { name: offsite-stand-in, location: offsite, media: usb }
jobs:
${jobs.join('')}`);

const agentBin = join(root, 'dist', 'lifeline-agent.js');
const collectorBin = join(root, 'dist', 'lifeline-collector.js');
const children = [];
const prefix = (name, stream) => {
  let buf = '';
  stream.on('data', (d) => {
    buf += d;
    const lines = buf.split('\n');
    buf = lines.pop();
    for (const l of lines) process.stdout.write(`[${name}] ${l}\n`);
  });
};
const start = (name, bin, args) => {
  // Its own process group: Ctrl-C reaches the demo only, which stops each child with one
  // SIGTERM and waits (a second signal must not cut the collector's database close short).
  const child = spawn(process.execPath, [bin, ...args], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  prefix(name, child.stdout);
  prefix(name, child.stderr);
  child.on('exit', (code, sig) => {
    if (!stopping) {
      console.error(`[${name}] exited (${code ?? sig}); stopping the demo`);
      shutdown(1);
    }
  });
  children.push(child);
  return child;
};

let stopping = false;
const timers = [];
async function shutdown(code = 0) {
  if (stopping) return;
  stopping = true;
  for (const t of timers) clearTimeout(t);
  console.log('stopping the demo (the collector closes its database)…');
  await Promise.all(
    children.map(
      (c) =>
        new Promise((ok) => {
          if (c.exitCode !== null || c.signalCode !== null) return ok();
          c.once('exit', ok);
          c.kill('SIGTERM');
        }),
    ),
  );
  for (const c of cleanups) c();
  phone.close();
  process.exit(code);
}
process.on('SIGINT', () => shutdown(0));
process.on('SIGTERM', () => shutdown(0));

start('collector', collectorBin, ['serve', '--config', collectorConfig]);
for (let i = 0; ; i++) {
  try {
    if ((await fetch(`${base}/healthz`)).ok) break;
  } catch {}
  if (i > 150) {
    console.error(`the collector did not come up on ${base}`);
    await shutdown(1);
  }
  await new Promise((r) => setTimeout(r, 100));
}

// The token on stdout; its advice for a new host (stderr) is not for the demo.
const token = execFileSync(process.execPath, [collectorBin, 'token', 'create', 'homelab', '--config', collectorConfig], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();
// enroll's own advice (enable the service…) is for a real host: the demo does it all.
execFileSync(process.execPath, [agentBin, 'enroll', base, token, '--config', agentConfig], { stdio: ['ignore', 'ignore', 'inherit'] });
say('agent homelab enrolled with the collector');

// The first backups, a verification and a restore drill right away, so the page has real sizes, snapshots and a measured restore time at once, and
// every asset starts with a fresh off-site copy: the verdict starts green.
const runOnce = ([op, job]) =>
  new Promise((ok) => {
    const child = spawn(process.execPath, [agentBin, op, job, '--config', agentConfig], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    child.on('exit', (code) => ok(say(`${op} ${job}: ${code === 0 ? 'done' : `exit ${code}: ${out.trim().split('\n').pop()}`}`)));
  });
// The daemon first: its schedule never waits on these (one of them may find its job busy with
// a scheduled run, and says so). A drill and a verification need an archive: backups first,
// then the two of them one after the other (one job takes one operation at a time).
start('agent', agentBin, ['daemon', '--config', agentConfig]);
await Promise.all(firstRuns.filter(([op]) => op === 'run').map(runOnce));
for (const check of firstRuns.filter(([op]) => op !== 'run')) await runOnce(check);

// The failing job: the mail spool moves away.
timers.push(
  setTimeout(() => {
    renameSync(join(dirs.data, 'mail'), join(dirs.data, 'mail-moved'));
    say(`the mail spool moved to ${join(dirs.data, 'mail-moved')}; mail-local and mail-offsite still read ${join(dirs.data, 'mail')}: they fail from now on`);
  }, T.failMs),
);
// The retention gap: an over-eager cleanup deletes photos-local archives behind the policy.
timers.push(
  setTimeout(() => {
    const dir = join(dirs.backups, 'photos');
    const archives = readdirSync(dir).filter((f) => f.startsWith('photos-local-')).sort();
    for (const f of archives.slice(0, -1)) unlinkSync(join(dir, f));
    say(`a cleanup script deleted ${archives.length - 1} photos-local archives outside the retention policy (keep last 5): the next inventory shows the gap`);
  }, T.cleanupMs),
);

const tierText = Object.entries(T.tiers).map(([t, [rpo, rto]]) => `tier ${t}: RPO ${rpo}, RTO ${rto}`).join('; ');
console.log(`
Lifeline demo is running.
  status page:  http://localhost:${port}/
  JSON status:  curl http://localhost:${port}/api/v1/status
  agent status: node dist/lifeline-agent.js status --config ${agentConfig}
  the "phone":  notifications print here as [phone] lines (ntfy-compatible receiver at ${phoneUrl})
Demo objectives (short on purpose): ${tierText}.
Watch for, within the first minutes:
  - mail's jobs failing (its spool moves away)                 → failed-run incidents
  - photos' only off-site copy going stale (made once at start) → an RPO / 3-2-1 incident
  - photos-local archives deleted behind the policy             → a retention gap
"offsite-stand-in" is a folder in ${dirs.offsite}, standing in for a disk kept elsewhere.
Ctrl-C stops everything; the data stays in ${demo} until the next start.
`);
