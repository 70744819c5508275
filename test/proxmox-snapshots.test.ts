import assert from 'node:assert/strict';
import { appendFileSync, chmodSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { spawnSync } from 'node:child_process';
import { ageText, snapshotName } from '../agent/proxmox/snapshots';
import { editWorld, proxmoxYaml, pveTool, readWorld, sampleWorld, worldEnv, writeWorld } from './helpers/pve';
import { AGENT_BIN, cli, tempDir, writeAgentConfig } from './helpers/processes';

// `lifeline-agent snapshot` and `snapshots` through the built agent. qm, pct and pvesh cannot
// run here: they are stand-ins (test/fixtures/pve/bin) replaying PVE's documented behaviour
// (../shared/REFERENCE-INTEGRATIONS.md §4): snapshot names checked as pve-configid with
// `current`/`pending` reserved, lists in hash order with the `current` pseudo-entry, exit 255.

const DAY = 86_400;
const SNAPNAME = /^[a-z][a-z0-9_-]+$/i;

function setup(opts: { qm?: string } = {}) {
  const now = Math.floor(Date.now() / 1000);
  const world = writeWorld(sampleWorld(now));
  const agent = writeAgentConfig({ name: 'pve1', jobs: '  []\n' });
  let yaml = proxmoxYaml();
  if (opts.qm) yaml = yaml.replace(`qm: ${pveTool('qm')}`, `qm: ${opts.qm}`);
  appendFileSync(agent.config, yaml);
  const run = (...args: string[]) => cli(AGENT_BIN, [...args, '--config', agent.config], worldEnv(world));
  return { world, run, now };
}

test('snapshot VMID takes a qm snapshot of a VM with a valid generated name and the note as description', () => {
  const { world, run } = setup();
  const r = run('snapshot', '100', '--note', 'before the 9.1 upgrade');
  assert.equal(r.code, 0, r.stderr);
  const name = /took snapshot (\S+) of vm-100 \(web01\): qm snapshot 100 \1 --description "before the 9\.1 upgrade"/.exec(r.stdout)?.[1];
  assert.ok(name, r.stdout);
  assert.match(name, /^lifeline-\d{4}-\d{2}-\d{2}-\d{4}$/);
  assert.ok(SNAPNAME.test(name) && name.length <= 40);
  assert.match(r.stdout, new RegExp(`qm delsnapshot 100 ${name}`), 'it says how to remove it again');
  const w = readWorld(world);
  const snap = w.snapshots['100'].find((s) => s.name === name)!;
  assert.equal(snap.description, 'before the 9.1 upgrade');
  assert.equal(snap.parent, 'weekly-a', 'on top of the newest snapshot');
  const call = w.calls!.find((c) => c.tool === 'qm')!;
  assert.deepEqual(call.argv, ['snapshot', '100', name, '--description', 'before the 9.1 upgrade']);
});

test('snapshot of a container goes through pct; the type comes from /cluster/resources', () => {
  const { world, run } = setup();
  const r = run('snapshot', '105');
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /took snapshot lifeline-\S+ of ct-105 \(dns01\): pct snapshot 105 lifeline-\S+ --description "taken with lifeline-agent snapshot"/);
  const w = readWorld(world);
  assert.deepEqual(w.calls!.filter((c) => c.tool !== 'pvesh').map((c) => c.tool), ['pct']);
  assert.equal(w.snapshots['105'].length, 2);
});

test('snapshot refuses what PVE would not do, before calling qm: unknown guest, another node, a template, a bad VMID, no proxmox section', () => {
  const { world, run } = setup();
  const table: [string[], RegExp][] = [
    [['snapshot', '999'], /no guest 999 in this cluster/],
    [['snapshot', '106'], /ct-106 runs on node pve2, not pve1: take its snapshot there/],
    [['snapshot', '103'], /vm-103 \(debian-tmpl\) is a template/],
    [['snapshot', '12'], /snapshot needs a VMID \(100 to 999999999\), not "12"/],
    [['snapshot', 'web01'], /snapshot needs a VMID/],
    [['snapshot'], /snapshot needs the VMID of one guest/],
  ];
  for (const [args, message] of table) {
    const r = run(...args);
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stdout}${r.stderr}`);
    assert.match(r.stderr, message, args.join(' '));
  }
  assert.deepEqual(readWorld(world).calls!.filter((c) => c.tool !== 'pvesh'), [], 'qm and pct were never called');
  const plain = writeAgentConfig({ name: 'docker1', jobs: '  []\n' });
  const r = cli(AGENT_BIN, ['snapshots', '--config', plain.config]);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /snapshots works on a Proxmox VE node: add a proxmox: section/);
});

test('a snapshot qm refuses fails with exit 1, naming the command, its exit code and what qm said', () => {
  const dir = tempDir('lifeline-pve-qm-');
  const qm = join(dir, 'qm');
  // A VM busy with its backup: qm dies like PVE does.
  writeFileSync(qm, "#!/bin/sh\necho \"VM 100 is locked (backup)\" >&2\nexit 255\n");
  chmodSync(qm, 0o755);
  const { run } = setup({ qm });
  const r = run('snapshot', '100');
  assert.equal(r.code, 1);
  assert.match(r.stderr, /snapshot of guest 100 failed: qm snapshot 100 lifeline-\S+ --description "taken with lifeline-agent snapshot" failed \(exit code 255\): VM 100 is locked \(backup\)/);
});

test('the qm stand-in validates snapshot names as PVE does (pve-configid, at most 40, current and pending reserved)', () => {
  const world = writeWorld(sampleWorld());
  const qm = (...args: string[]) => spawnSync(pveTool('qm'), args, { encoding: 'utf8', env: { ...process.env, ...worldEnv(world) } });
  const table: [string, RegExp | null][] = [
    ['bad:name', /snapname: invalid format - invalid configuration ID 'bad:name'/],
    ['autosnap_2024-01-31_02:00:03', /invalid configuration ID/],
    ['1starts-with-digit', /invalid configuration ID/],
    ['a', /invalid configuration ID/],
    ['x'.repeat(41), /value may only be 40 characters long/],
    ['current', /unable to use snapshot name 'current' \(reserved name\)/],
    ['pending', /unable to use snapshot name 'pending' \(reserved name\)/],
    ['before-upgrade', /snapshot name 'before-upgrade' already used/],
    ['x'.repeat(40), null],
    ['Ok_name-2', null],
  ];
  for (const [name, refusal] of table) {
    const r = qm('snapshot', '100', name);
    if (refusal) {
      assert.equal(r.status, 255, name);
      assert.match(r.stderr, refusal, name);
    } else assert.equal(r.status, 0, `${name}: ${r.stderr}`);
  }
});

test('generated names are valid and unique within the minute; ages read in two units', () => {
  const table: [Date, string[], string][] = [
    [new Date(2026, 10, 29, 2, 0), [], 'lifeline-2026-11-29-0200'],
    [new Date(2026, 0, 5, 9, 7), [], 'lifeline-2026-01-05-0907'],
    [new Date(2026, 11, 31, 23, 59), ['lifeline-2026-12-31-2359'], 'lifeline-2026-12-31-2359-2'],
    [new Date(2026, 11, 31, 23, 59), ['lifeline-2026-12-31-2359', 'lifeline-2026-12-31-2359-2'], 'lifeline-2026-12-31-2359-3'],
  ];
  for (const [at, taken, expected] of table) {
    const name = snapshotName(at, new Set(taken));
    assert.equal(name, expected);
    assert.ok(SNAPNAME.test(name) && name.length <= 40, name);
  }
  assert.deepEqual([ageText(0), ageText(59), ageText(60), ageText(3599), ageText(3600), ageText(DAY - 1), ageText(DAY), ageText(30 * DAY + 7200)], ['0m', '0m', '1m', '59m', '1h 0m', '23h 59m', '1d 0h', '30d 2h']);
});

test('snapshots lists every guest snapshot of this node oldest first with its age, without `current`', () => {
  const { world, run, now } = setup();
  // A description is whatever was typed into Proxmox: an escape sequence is shown, not obeyed.
  editWorld(world, (w) => (w.snapshots['105'][0].description = 'bind\u001b[2J 9.20'));
  const r = run('snapshots');
  assert.equal(r.code, 0, r.stderr);
  const lines = r.stdout.trim().split('\n');
  assert.match(lines[0], /^GUEST\s+NAME\s+SNAPSHOT\s+TAKEN\s+AGE\s+DESCRIPTION$/);
  assert.deepEqual(
    lines.slice(1, 6).map((l) => l.split(/\s{2,}/).slice(0, 5)),
    [
      ['vm-100', 'web01', 'ancient', 'unknown', '?'],
      ['vm-100', 'web01', 'zz-first', lines[2].split(/\s{2,}/)[3], '60d 0h'],
      ['vm-100', 'web01', 'before-upgrade', lines[3].split(/\s{2,}/)[3], '30d 0h'],
      ['vm-100', 'web01', 'weekly-a', lines[4].split(/\s{2,}/)[3], '7d 0h'],
      ['ct-105', 'dns01', 'pre-dns-change', lines[5].split(/\s{2,}/)[3], '2d 0h'],
    ],
  );
  assert.ok(!r.stdout.includes('current') && !r.stdout.includes('You are here'));
  assert.ok(!r.stdout.includes('\u001b') && lines[5].endsWith('bind\u241b[2J 9.20'), lines[5]);
  assert.match(lines[6], /^5 snapshot\(s\) on pve1/);

  const json = run('snapshots', '--json');
  assert.equal(json.code, 0, json.stderr);
  const rows = JSON.parse(json.stdout) as { asset: string; snapshot: string; time: string | null; ageSeconds: number | null; description: string }[];
  assert.deepEqual(rows.map((x) => `${x.asset}/${x.snapshot}`), ['vm-100/ancient', 'vm-100/zz-first', 'vm-100/before-upgrade', 'vm-100/weekly-a', 'ct-105/pre-dns-change']);
  assert.equal(rows[0].time, null);
  assert.equal(rows[1].time, new Date((now - 60 * DAY) * 1000).toISOString());
  assert.ok(Math.abs(rows[1].ageSeconds! - 60 * DAY) < 120);
  assert.equal(rows[2].description, 'before the 8.2 upgrade');
});
