import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { jobsWithOwnScript, withHookScript, wrapperScript } from '../agent/proxmox/install-hook';
import { AGENT_NODE_FLAGS } from '../agent/node-flags';
import { AGENT_BIN, cli, tempDir, writeAgentConfig } from './helpers/processes';
import { HOOK_BIN } from './helpers/vzdump-world';

// `lifeline-agent proxmox install-hook` on a sample /etc/vzdump.conf and /etc/pve/jobs.cfg (their
// formats: `key: value` lines with # comments; section config with tab-indented `key value`;
// ../shared/REFERENCE-INTEGRATIONS.md §1). vzdump is not run here: the wrapper is run the way
// vzdump runs a hook, with an emptied environment.

const SAMPLE_CONF = `# vzdump default settings

#tmpdir: DIR
#dumpdir: DIR
#storage: STORAGE_ID
#mode: snapshot|suspend|stop
#bwlimit: KBPS
#ionice: PRI
#lockwait: MINUTES
#stopwait: MINUTES
#stdexcludes: BOOLEAN
#mailto: ADDRESSLIST
#prune-backups: keep-INTERVAL=N[,...]
#script: FILENAME
#exclude-path: PATHLIST
#pigz: N
#notes-template: {{guestname}}
#pbs-change-detection-mode: legacy|data|metadata
bwlimit: 100000
`;

const JOBS_CFG = `vzdump: backup-6a5b6c2e-1234
\tschedule 21:00
\tall 1
\tenabled 1
\tmode snapshot
\tstorage local

vzdump: backup-offsite
\tschedule sun 03:00
\tvmid 100,101
\tstorage pbs1
\tscript /root/offsite-hook.pl

realm-sync: sync-ldap
\tschedule daily
\tscript /ignored/not-a-backup-job
`;

function setup() {
  const agent = writeAgentConfig({ name: 'pve1', jobs: '  []\n' });
  const dir = tempDir('lifeline-install-');
  const paths = { conf: join(dir, 'vzdump.conf'), jobs: join(dir, 'jobs.cfg'), wrapper: join(dir, 'usr-lib', 'vzdump-hook') };
  writeFileSync(paths.conf, SAMPLE_CONF, { mode: 0o644 });
  writeFileSync(paths.jobs, JOBS_CFG);
  const install = () => cli(AGENT_BIN, ['proxmox', 'install-hook', '--config', agent.config, '--wrapper', paths.wrapper, '--vzdump-conf', paths.conf, '--jobs-cfg', paths.jobs]);
  return { agent, paths, install };
}

test('install-hook writes the wrapper, adds script: to vzdump.conf keeping every other line, and says what changed', () => {
  const { agent, paths, install } = setup();
  const r = install();
  assert.equal(r.code, 0, r.stderr);
  const conf = readFileSync(paths.conf, 'utf8');
  assert.equal(conf, `${SAMPLE_CONF}script: ${paths.wrapper}\n`);
  assert.equal(statSync(paths.conf).mode & 0o777, 0o644);
  const out = r.stdout.split('\n');
  assert.ok(out.includes(`${paths.wrapper}: written (runs ${HOOK_BIN} with ${process.execPath}, config ${agent.config})`), r.stdout);
  assert.ok(out.includes(`${paths.conf}: added "script: ${paths.wrapper}"`), r.stdout);
  // The per-job script in jobs.cfg is named, and left alone.
  assert.match(r.stdout, /note: backup job backup-offsite in .*jobs\.cfg sets its own hook script \(\/root\/offsite-hook\.pl\), so vzdump does not run this one for it; .*pvesh set \/cluster\/backup\/backup-offsite --script /);
  assert.doesNotMatch(r.stdout, /sync-ldap|backup-6a5b6c2e/);
  assert.equal(readFileSync(paths.jobs, 'utf8'), JOBS_CFG);

  // The wrapper: absolute paths only, executable, and it runs with the empty environment vzdump gives.
  const wrapper = readFileSync(paths.wrapper, 'utf8');
  assert.match(wrapper, /^#!\/bin\/sh\n/);
  const flags = AGENT_NODE_FLAGS.map((f) => `'${f}' `).join('');
  assert.ok(wrapper.includes(`exec '${process.execPath}' ${flags}'${HOOK_BIN}' --config '${agent.config}' --cache '${join(agent.stateDir, 'vzdump', 'hook-settings.json')}' "$@"`), wrapper);
  assert.equal(statSync(paths.wrapper).mode & 0o111, 0o111);
  const run = spawnSync(paths.wrapper, ['backup-start', 'snapshot', '100'], { env: { STOREID: 'local', VMTYPE: 'qemu', LC_ALL: 'C' }, encoding: 'utf8' });
  assert.equal(run.status, 0, run.stderr);
  assert.equal(run.stdout, '');
});

test('install-hook run again changes nothing and says so', () => {
  const { paths, install } = setup();
  assert.equal(install().code, 0);
  const before = readFileSync(paths.conf, 'utf8');
  const mtime = statSync(paths.conf).mtimeMs;
  const again = install();
  assert.equal(again.code, 0, again.stderr);
  assert.match(again.stdout, /vzdump-hook: unchanged/);
  assert.match(again.stdout, /vzdump\.conf: unchanged \(already has "script: /);
  assert.equal(readFileSync(paths.conf, 'utf8'), before);
  assert.equal(statSync(paths.conf).mtimeMs, mtime);
});

test('an existing script: is replaced only after saying what it was, and kept as a comment', () => {
  const { paths, install } = setup();
  writeFileSync(paths.conf, `${SAMPLE_CONF}script: /usr/local/bin/my-hook.sh\nmailto: root\n`);
  const r = install();
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, new RegExp(`replaced "script: /usr/local/bin/my-hook\\.sh" with "script: ${paths.wrapper}"`));
  assert.match(r.stdout, /\/usr\/local\/bin\/my-hook\.sh is no longer called/);
  const lines = readFileSync(paths.conf, 'utf8').split('\n');
  const at = lines.indexOf(`script: ${paths.wrapper}`);
  assert.match(lines[at - 1], /^# script: \/usr\/local\/bin\/my-hook\.sh {3}\(replaced by lifeline-agent proxmox install-hook, \d{4}-\d{2}-\d{2}\)$/);
  assert.equal(lines[at + 1], 'mailto: root');
  assert.equal(lines.filter((l) => l.startsWith('script:')).length, 1);
});

test('withHookScript: appended, replaced, or left as it is', () => {
  const w = '/usr/lib/lifeline-agent/vzdump-hook';
  const cases: [string, string, string[], boolean][] = [
    ['', `script: ${w}\n`, [], true],
    ['bwlimit: 1000', `bwlimit: 1000\nscript: ${w}\n`, [], true],
    [`script: ${w}\n`, `script: ${w}\n`, [], false],
    [`#script: FILENAME\nscript: ${w}`, `#script: FILENAME\nscript: ${w}\n`, [], false],
    ['script: /old\n', `# script: /old   (replaced by lifeline-agent proxmox install-hook, D)\nscript: ${w}\n`, ['/old'], true],
  ];
  for (const [conf, text, previous, changed] of cases) assert.deepEqual(withHookScript(conf, w, 'D'), { text, previous, changed }, JSON.stringify(conf));
});

test('jobsWithOwnScript lists backup jobs with a script, and only those', () => {
  assert.deepEqual(jobsWithOwnScript(JOBS_CFG), [{ id: 'backup-offsite', script: '/root/offsite-hook.pl' }]);
  assert.deepEqual(jobsWithOwnScript(''), []);
});

test('install-hook uses the lifeline-agent package\'s wrapper as it is, and only for the config it runs', () => {
  const { agent, paths, install } = setup();
  // The packaged wrapper (scripts/package.mjs writes it with wrapperScript(…, true)), here for this config.
  const packaged = wrapperScript({ nodeBin: process.execPath, hookBundle: HOOK_BIN, configFile: agent.config, cacheFile: join(agent.stateDir, 'vzdump', 'hook-settings.json') }, true);
  mkdirSync(dirname(paths.wrapper), { recursive: true });
  writeFileSync(paths.wrapper, packaged, { mode: 0o755 });
  const r = install();
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, new RegExp(`${paths.wrapper}: the lifeline-agent package's wrapper, used as it is`));
  assert.equal(readFileSync(paths.wrapper, 'utf8'), packaged, 'dpkg owns it: never rewritten');
  assert.ok(readFileSync(paths.conf, 'utf8').includes(`script: ${paths.wrapper}\n`));

  const other = writeAgentConfig({ name: 'pve1', jobs: '  []\n' });
  const refused = cli(AGENT_BIN, ['proxmox', 'install-hook', '--config', other.config, '--wrapper', paths.wrapper, '--vzdump-conf', paths.conf, '--jobs-cfg', paths.jobs]);
  assert.equal(refused.code, 1);
  assert.match(refused.stderr, new RegExp(`from the lifeline-agent package\\) runs the config ${agent.config}, not ${other.config}; write a wrapper of your own with --wrapper`));
  assert.equal(readFileSync(paths.wrapper, 'utf8'), packaged);
});
