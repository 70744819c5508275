import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it, test } from 'node:test';
import { countKept, EMPTY_POLICY_REASON, hasKeepRule, planRetention, auditTimes, type RetentionSemantics } from '../shared/retention';
import type { Retention } from '../shared/retention-policy';
import { tempDir } from './helpers/temp';

const BERLIN = 'Europe/Berlin';

/** Snapshots named by their UTC instant, so a table row reads as what it tests. */
const snaps = (...isos: string[]) => isos.map((iso) => ({ id: iso, time: new Date(iso) }));

function kept(isos: string[], policy: Retention, semantics: RetentionSemantics = 'restic', timeZone = BERLIN): string[] {
  return planRetention(snaps(...isos), policy, { semantics, timeZone }).keep.map((k) => k.id);
}

test('calendar buckets follow local time at exact boundaries, DST changes included', () => {
  // Each rule's count equals the buckets it should keep, so no rule runs short and borg (which
  // then also keeps the oldest) must agree with restic.
  const table: { name: string; rule: keyof Retention; snaps: string[]; keep: string[]; zone?: string }[] = [
    {
      name: '23:59 and 00:00 Berlin are different days; the newest of a day is kept',
      rule: 'daily',
      snaps: ['2026-11-23T21:00:00Z', '2026-11-23T22:59:00Z', '2026-11-23T23:00:00Z'],
      keep: ['2026-11-23T23:00:00Z', '2026-11-23T22:59:00Z'],
    },
    {
      name: 'the same instants are one day in UTC',
      rule: 'daily',
      snaps: ['2026-11-23T21:00:00Z', '2026-11-23T22:59:00Z', '2026-11-23T23:00:00Z'],
      keep: ['2026-11-23T23:00:00Z'],
      zone: 'UTC',
    },
    {
      name: 'Sunday 23:59 and Monday 00:00 are different ISO weeks',
      rule: 'weekly',
      // Sun 2026-11-22 12:00, Sun 23:59, Mon 2026-11-23 00:00 (Berlin)
      snaps: ['2026-11-22T11:00:00Z', '2026-11-22T22:59:00Z', '2026-11-22T23:00:00Z'],
      keep: ['2026-11-22T23:00:00Z', '2026-11-22T22:59:00Z'],
    },
    {
      name: 'ISO week 53 spans the year end: one week, two years',
      rule: 'weekly',
      // Mon 2020-12-28 (2020-W53), Thu 12-31 23:59, Fri 2021-01-01 00:00, Sun 01-03 23:59, Mon 01-04 (2021-W01)
      snaps: ['2020-12-27T23:00:00Z', '2020-12-31T22:59:00Z', '2020-12-31T23:00:00Z', '2021-01-03T22:59:00Z', '2021-01-03T23:00:00Z'],
      keep: ['2021-01-03T23:00:00Z', '2021-01-03T22:59:00Z'],
    },
    {
      name: 'the year changes at local midnight inside ISO week 53',
      rule: 'yearly',
      snaps: ['2020-12-27T23:00:00Z', '2020-12-31T22:59:00Z', '2020-12-31T23:00:00Z', '2021-01-03T22:59:00Z'],
      keep: ['2021-01-03T22:59:00Z', '2020-12-31T22:59:00Z'],
    },
    {
      name: 'month ends: Feb 28 23:59 vs Mar 1 00:00, leap day vs Mar 1',
      rule: 'monthly',
      snaps: ['2021-02-28T22:59:00Z', '2021-02-28T23:00:00Z', '2024-02-29T22:59:59Z', '2024-02-29T23:00:00Z'],
      keep: ['2024-02-29T23:00:00Z', '2024-02-29T22:59:59Z', '2021-02-28T23:00:00Z', '2021-02-28T22:59:00Z'],
    },
    {
      name: 'spring forward (Berlin 2026-03-29): 01:59 CET and 03:00 CEST are different hours',
      rule: 'hourly',
      snaps: ['2026-03-29T00:30:00Z', '2026-03-29T00:59:00Z', '2026-03-29T01:00:00Z'],
      keep: ['2026-03-29T01:00:00Z', '2026-03-29T00:59:00Z'],
    },
    {
      name: 'spring forward: the day still ends at local midnight (22:00 UTC in summer time)',
      rule: 'daily',
      snaps: ['2026-03-28T23:00:00Z', '2026-03-29T01:00:00Z', '2026-03-29T21:59:00Z', '2026-03-29T22:00:00Z'],
      keep: ['2026-03-29T22:00:00Z', '2026-03-29T21:59:00Z'],
    },
    {
      name: 'fall back (Berlin 2026-10-25): 02:30 CEST and 02:30 CET are one local hour',
      rule: 'hourly',
      snaps: ['2026-10-25T00:30:00Z', '2026-10-25T01:30:00Z', '2026-10-25T02:30:00Z'],
      keep: ['2026-10-25T02:30:00Z', '2026-10-25T01:30:00Z'],
    },
    {
      name: 'fall back: a 25-hour day is one day, and ends at 23:00 UTC',
      rule: 'daily',
      snaps: ['2026-10-24T22:00:00Z', '2026-10-25T12:00:00Z', '2026-10-25T22:59:00Z', '2026-10-25T23:00:00Z'],
      keep: ['2026-10-25T23:00:00Z', '2026-10-25T22:59:00Z'],
    },
    {
      name: 'several snapshots in one bucket: only the newest counts',
      rule: 'daily',
      snaps: ['2026-05-01T06:00:00Z', '2026-05-01T12:00:00Z', '2026-05-02T06:00:00Z', '2026-05-02T12:00:00Z', '2026-05-03T06:00:00Z'],
      keep: ['2026-05-03T06:00:00Z', '2026-05-02T12:00:00Z'],
    },
  ];
  for (const semantics of ['restic', 'borg'] as const) {
    for (const row of table) {
      assert.deepEqual(kept(row.snaps, { [row.rule]: row.keep.length }, semantics, row.zone ?? BERLIN), row.keep, `${semantics}: ${row.name}`);
    }
  }
});

test('buckets before 1970 and in zones whose offsets are not whole hours', () => {
  const table: { name: string; rule: keyof Retention; snaps: string[]; keep: string[]; zone: string }[] = [
    {
      name: 'Sunday 1969-12-28 and Monday 1969-12-29 are different ISO weeks; that Monday and 1970-01-01 are one',
      rule: 'weekly',
      snaps: ['1969-12-28T23:59:00Z', '1969-12-29T00:00:00Z', '1970-01-01T12:00:00Z'],
      keep: ['1970-01-01T12:00:00Z', '1969-12-28T23:59:00Z'],
      zone: 'UTC',
    },
    {
      name: 'January 31 23:59:59 and February 1 00:00 1969 are different months',
      rule: 'monthly',
      snaps: ['1969-01-31T23:59:59Z', '1969-02-01T00:00:00Z', '1969-02-28T12:00:00Z'],
      keep: ['1969-02-28T12:00:00Z', '1969-01-31T23:59:59Z'],
      zone: 'UTC',
    },
    {
      name: 'Kathmandu (+05:45): the day ends at 18:15 UTC',
      rule: 'daily',
      snaps: ['2026-06-01T18:14:00Z', '2026-06-01T18:15:00Z', '2026-06-02T06:00:00Z'],
      keep: ['2026-06-02T06:00:00Z', '2026-06-01T18:14:00Z'],
      zone: 'Asia/Kathmandu',
    },
    {
      name: "St. John's summer time (-02:30): the hour turns at half past in UTC",
      rule: 'hourly',
      snaps: ['2026-07-01T12:29:00Z', '2026-07-01T12:30:00Z', '2026-07-01T12:45:00Z'],
      keep: ['2026-07-01T12:45:00Z', '2026-07-01T12:29:00Z'],
      zone: 'America/St_Johns',
    },
  ];
  for (const semantics of ['restic', 'borg'] as const) {
    for (const row of table) {
      assert.deepEqual(kept(row.snaps, { [row.rule]: row.keep.length }, semantics, row.zone), row.keep, `${semantics}: ${row.name}`);
    }
  }
});

test('countKept is the number of snapshots planRetention keeps', () => {
  const times = CROSS_TIMES.map((iso) => Date.parse(iso));
  for (const semantics of ['restic', 'borg'] as const) {
    for (const policy of [...CROSS_POLICIES, {}]) {
      const plan = planRetention(snaps(...CROSS_TIMES), policy, { semantics, timeZone: BERLIN });
      assert.equal(countKept(times, policy, { semantics, timeZone: BERLIN }), plan.keep.length, `${semantics} ${JSON.stringify(policy)}`);
    }
  }
});

test('auditTimes: the newest, what the policy keeps, and what it removes of the rest, as planRetention says', () => {
  // Shuffled, with a duplicated time: equal times keep their input order in both.
  const isos = [...CROSS_TIMES.slice(5), CROSS_TIMES[3], ...CROSS_TIMES.slice(0, 5)];
  const times = isos.map((iso) => Date.parse(iso));
  const named = isos.map((iso, i) => ({ id: String(i), time: new Date(iso) }));
  for (const semantics of ['restic', 'borg'] as const) {
    for (const policy of [...CROSS_POLICIES, {}]) {
      const opts = { semantics, timeZone: BERLIN };
      const audit = auditTimes(times, policy, opts);
      const all = planRetention(named, policy, opts);
      const newest = [...all.keep, ...all.remove].sort((a, b) => times[+b.id] - times[+a.id] || +a.id - +b.id)[0].id;
      const rest = planRetention(named.filter((s) => s.id !== newest), policy, opts);
      const what = `${semantics} ${JSON.stringify(policy)}`;
      assert.equal(String(audit.newest), newest, what);
      assert.equal(audit.kept, all.keep.length, what);
      assert.deepEqual(audit.removeAfterNewest.map(String), rest.remove.map((r) => r.id), what);
    }
  }
  assert.deepEqual(auditTimes([], { daily: 1 }), { newest: -1, kept: 0, removeAfterNewest: [] });
});

test('an empty policy keeps everything and says so; hasKeepRule rejects it', () => {
  const s = snaps('2026-01-01T00:00:00Z', '2026-01-02T00:00:00Z');
  for (const policy of [{}, { last: 0, daily: 0 }] as Retention[]) {
    assert.equal(hasKeepRule(policy), false);
    for (const semantics of ['restic', 'borg'] as const) {
      const d = planRetention(s, policy, { semantics, timeZone: BERLIN });
      assert.deepEqual(d.remove, []);
      assert.deepEqual(d.keep, [
        { id: '2026-01-02T00:00:00Z', reasons: [EMPTY_POLICY_REASON] },
        { id: '2026-01-01T00:00:00Z', reasons: [EMPTY_POLICY_REASON] },
      ]);
    }
  }
  assert.equal(hasKeepRule({ yearly: 1 }), true);
  assert.equal(hasKeepRule({ last: 0, monthly: 2 }), true);
});

test('keep-last alone keeps the newest n, whatever order the input is in', () => {
  const isos = ['2026-01-03T00:00:00Z', '2026-01-01T00:00:00Z', '2026-01-05T00:00:00Z', '2026-01-02T00:00:00Z', '2026-01-04T00:00:00Z'];
  for (const semantics of ['restic', 'borg'] as const) {
    const d = planRetention(snaps(...isos), { last: 3 }, { semantics, timeZone: BERLIN });
    assert.deepEqual(d.keep, [
      { id: '2026-01-05T00:00:00Z', reasons: ['last snapshot'] },
      { id: '2026-01-04T00:00:00Z', reasons: ['last snapshot'] },
      { id: '2026-01-03T00:00:00Z', reasons: ['last snapshot'] },
    ]);
    assert.deepEqual(d.remove, [{ id: '2026-01-02T00:00:00Z' }, { id: '2026-01-01T00:00:00Z' }]);
  }
  assert.deepEqual(planRetention([], { last: 3 }), { keep: [], remove: [] });
});

test('restic counts every rule independently: one snapshot can use up several rules', () => {
  const s = snaps('2026-01-10T10:00:00Z', '2026-01-10T09:00:00Z', '2026-01-09T10:00:00Z', '2026-01-02T10:00:00Z', '2025-12-20T10:00:00Z', '2025-11-01T10:00:00Z');
  const d = planRetention(s, { last: 2, daily: 2, weekly: 2, monthly: 2, yearly: 1 }, { timeZone: BERLIN });
  assert.deepEqual(d.keep, [
    { id: '2026-01-10T10:00:00Z', reasons: ['last snapshot', 'daily snapshot', 'weekly snapshot', 'monthly snapshot', 'yearly snapshot'] },
    { id: '2026-01-10T09:00:00Z', reasons: ['last snapshot'] },
    { id: '2026-01-09T10:00:00Z', reasons: ['daily snapshot'] },
    { id: '2026-01-02T10:00:00Z', reasons: ['weekly snapshot'] },
    { id: '2025-12-20T10:00:00Z', reasons: ['monthly snapshot'] },
  ]);
  assert.deepEqual(d.remove, [{ id: '2025-11-01T10:00:00Z' }]);
});

test('borg and restic decide differently when rules overlap and when a rule runs short', () => {
  // Three days, one backup each, --keep-last 1 --keep-daily 2.
  const isos = ['2026-06-03T10:00:00Z', '2026-06-02T10:00:00Z', '2026-06-01T10:00:00Z'];
  const policy = { last: 1, daily: 2 };
  // restic: the newest is both the last and the first daily; the second daily is June 2.
  assert.deepEqual(planRetention(snaps(...isos), policy, { timeZone: BERLIN }).keep, [
    { id: '2026-06-03T10:00:00Z', reasons: ['last snapshot', 'daily snapshot'] },
    { id: '2026-06-02T10:00:00Z', reasons: ['daily snapshot'] },
  ]);
  // borg: June 3 is already kept by keep-last, so its day uses up the period but not the count.
  assert.deepEqual(planRetention(snaps(...isos), policy, { semantics: 'borg', timeZone: BERLIN }).keep, [
    { id: '2026-06-03T10:00:00Z', reasons: ['last snapshot'] },
    { id: '2026-06-02T10:00:00Z', reasons: ['daily snapshot'] },
    { id: '2026-06-01T10:00:00Z', reasons: ['daily snapshot'] },
  ]);

  // A rule with count left: borg keeps the oldest archive as well, restic 0.14 does not.
  const short = ['2026-06-02T12:00:00Z', '2026-06-01T12:00:00Z', '2026-06-01T08:00:00Z'];
  assert.deepEqual(kept(short, { daily: 7 }, 'restic'), ['2026-06-02T12:00:00Z', '2026-06-01T12:00:00Z']);
  assert.deepEqual(planRetention(snaps(...short), { daily: 7 }, { semantics: 'borg', timeZone: BERLIN }).keep, [
    { id: '2026-06-02T12:00:00Z', reasons: ['daily snapshot'] },
    { id: '2026-06-01T12:00:00Z', reasons: ['daily snapshot'] },
    { id: '2026-06-01T08:00:00Z', reasons: ['oldest daily snapshot'] },
  ]);
});

test("borg's keep-last is keep-secondly: two archives in the same second count once", () => {
  const s = [
    { id: 'a', time: new Date('2026-06-01T10:00:00.700Z') },
    { id: 'b', time: new Date('2026-06-01T10:00:00.200Z') },
    { id: 'c', time: new Date('2026-06-01T09:59:59.900Z') },
  ];
  assert.deepEqual(planRetention(s, { last: 2 }, { semantics: 'borg', timeZone: BERLIN }).keep.map((k) => k.id), ['a', 'c']);
  assert.deepEqual(planRetention(s, { last: 2 }, { timeZone: BERLIN }).keep.map((k) => k.id), ['a', 'b']);
});

test('snapshots with equal times keep their input order', () => {
  const t = new Date('2026-06-01T10:00:00Z');
  const s = [{ id: 'x', time: t }, { id: 'y', time: t }, { id: 'z', time: new Date('2026-05-01T10:00:00Z') }];
  assert.deepEqual(planRetention(s, { daily: 5 }, { timeZone: BERLIN }).keep.map((k) => k.id), ['x', 'z']);
  assert.deepEqual(planRetention(s, { last: 1 }, { timeZone: BERLIN }).keep.map((k) => k.id), ['x']);
});

test('without a time zone the host zone is used; bad input is refused', () => {
  const s = snaps('2026-11-23T22:59:00Z', '2026-11-23T23:00:00Z', '2026-11-24T11:00:00Z');
  const hostZone = Intl.DateTimeFormat().resolvedOptions().timeZone;
  assert.deepEqual(planRetention(s, { daily: 2 }), planRetention(s, { daily: 2 }, { timeZone: hostZone }));
  assert.throws(() => planRetention(s, { daily: 2 }, { timeZone: 'Mars/Olympus' }), RangeError);
  assert.throws(() => planRetention([{ id: 'bad', time: new Date('nope') }], { daily: 2 }), /snapshot bad has an invalid time/);
  assert.throws(() => planRetention(s, { daily: 2 }, { semantics: 'zfs' as RetentionSemantics }), /unknown retention semantics/);
});

// ---------------------------------------------------------------------------------------------
// Cross-check against the real tools. Times are UTC instants; both tools bucket in Europe/Berlin.

// Boundaries of every kind: the oldest day twice (restic 0.14 drops the older one even when a
// rule has count left, borg keeps it as "[oldest]"), fall-back hour twice, 23:59/00:00, ISO week 53 over the year end,
// month ends, several on one day, spring forward.
const CROSS_TIMES = [
  '2020-10-24T10:00:00Z', '2020-10-24T21:59:00Z', '2020-10-24T22:00:00Z', '2020-10-25T00:30:00Z',
  '2020-10-25T01:30:00Z', '2020-10-25T22:59:00Z', '2020-10-25T23:00:00Z', '2020-10-31T22:59:59Z',
  '2020-10-31T23:00:00Z', '2020-11-15T11:00:00Z', '2020-11-30T22:59:00Z', '2020-12-20T12:00:00Z',
  '2020-12-27T22:59:00Z', '2020-12-27T23:00:00Z', '2020-12-31T22:59:00Z', '2020-12-31T23:00:00Z',
  '2021-01-03T22:59:00Z', '2021-01-03T23:00:00Z', '2021-01-20T06:00:00Z', '2021-01-20T12:00:00Z',
  '2021-01-20T18:00:00Z', '2021-02-28T22:59:00Z', '2021-02-28T23:00:00Z', '2021-03-27T23:00:00Z',
  '2021-03-28T00:59:00Z', '2021-03-28T01:00:00Z', '2021-03-28T21:59:00Z', '2021-03-28T22:00:00Z',
];

const CROSS_POLICIES: Retention[] = [
  { last: 3 },
  { last: 40 },
  { hourly: 10 },
  { hourly: 40 },
  { daily: 7 },
  { daily: 40 },
  { weekly: 5 },
  { weekly: 40 },
  { monthly: 3 },
  { monthly: 12 },
  { yearly: 5 },
  { last: 2, daily: 3, weekly: 3, monthly: 3, yearly: 2 },
  { last: 1, hourly: 4, daily: 4, weekly: 4, monthly: 10 },
  { daily: 5, weekly: 8, monthly: 24 },
];

const FLAG: Record<keyof Retention, string> = {
  last: '--keep-last', hourly: '--keep-hourly', daily: '--keep-daily',
  weekly: '--keep-weekly', monthly: '--keep-monthly', yearly: '--keep-yearly',
};
const keepFlags = (p: Retention) => Object.entries(p).flatMap(([k, v]) => [FLAG[k as keyof Retention], String(v)]);

function run(cmd: string, args: string[], env: NodeJS.ProcessEnv): Promise<{ stdout: string; stderr: string }> {
  return new Promise((res, rej) => {
    const child = spawn(cmd, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', rej);
    child.on('close', (code) =>
      code === 0 ? res({ stdout, stderr }) : rej(new Error(`${cmd} ${args.join(' ')} exited ${code}: ${stderr}`)),
    );
  });
}

/** Runs fns at most `width` at a time. */
async function pool<T>(width: number, fns: (() => Promise<T>)[]): Promise<T[]> {
  const out: T[] = new Array(fns.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: width }, async () => {
      while (next < fns.length) {
        const i = next++;
        out[i] = await fns[i]();
      }
    }),
  );
  return out;
}

/** "2020-10-25 02:30:00" in a fixed UTC offset, and the Etc zone that has it (Etc signs are inverted). */
function berlinWallClock(iso: string): { time: string; tz: string } {
  const t = new Date(iso);
  const parts = Object.fromEntries(
    new Intl.DateTimeFormat('en-US', { timeZone: BERLIN, timeZoneName: 'longOffset' }).formatToParts(t).map((p) => [p.type, p.value]),
  );
  const offsetHours = Number(/GMT([+-]\d\d)/.exec(parts.timeZoneName!)![1]);
  const local = new Date(t.getTime() + offsetHours * 3_600_000).toISOString();
  return { time: `${local.slice(0, 10)} ${local.slice(11, 19)}`, tz: `Etc/GMT${offsetHours > 0 ? '-' : '+'}${Math.abs(offsetHours)}` };
}

// The two tools run side by side: each spends most of its time starting up (restic derives its
// key with scrypt on every command), not in the decision itself.
describe('agrees with the real tools', { concurrency: 2 }, () => {
  it('matches restic forget --dry-run on the same snapshots', { timeout: 300_000 }, async () => {
    const dir = tempDir('lifeline-retention-restic-');
    try {
      writeFileSync(join(dir, 'pw'), 'lifeline-test\n');
      mkdirSync(join(dir, 'data'));
      writeFileSync(join(dir, 'data', 'file'), 'hello\n');
      const env = { RESTIC_PASSWORD_FILE: join(dir, 'pw'), RESTIC_REPOSITORY: join(dir, 'repo'), RESTIC_CACHE_DIR: join(dir, 'cache'), TZ: BERLIN };
      await run('restic', ['init', '-q'], env);
      // restic 0.14 parses --time in the local zone, which cannot name the second 02:30 of a
      // fall-back night; a fixed-offset zone can, and the stored offset is Berlin's either way.
      await pool(
        2,
        CROSS_TIMES.map((iso) => () => {
          const { time, tz } = berlinWallClock(iso);
          return run('restic', ['backup', '-q', '--host', 'lifeline-test', '--time', time, join(dir, 'data')], { ...env, TZ: tz });
        }),
      );
      const listed = JSON.parse((await run('restic', ['snapshots', '--json'], env)).stdout) as { id: string; time: string }[];
      const snapshots = listed.map((s) => ({ id: s.id, time: new Date(s.time) }));
      assert.deepEqual(snapshots.map((s) => s.time.toISOString().replace('.000', '')).sort(), [...CROSS_TIMES].sort());

      const outputs = await pool(
        2,
        CROSS_POLICIES.map((p) => () => run('restic', ['--no-lock', 'forget', '--dry-run', '--json', ...keepFlags(p)], env)),
      );
      CROSS_POLICIES.forEach((policy, i) => {
        const groups = JSON.parse(outputs[i].stdout) as {
          keep: { id: string }[];
          remove: { id: string }[] | null;
          reasons: { matches: string[] }[];
        }[];
        assert.equal(groups.length, 1);
        const g = groups[0];
        const ours = planRetention(snapshots, policy, { timeZone: BERLIN });
        const label = JSON.stringify(policy);
        assert.deepEqual(ours.remove.map((r) => r.id).sort(), (g.remove ?? []).map((s) => s.id).sort(), `remove ${label}`);
        // restic lists reasons in the order of keep, without the snapshot ids
        assert.deepEqual(ours.keep, g.keep.map((s, j) => ({ id: s.id, reasons: g.reasons[j].matches })), `keep ${label}`);
      });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('matches borg prune --dry-run --list on the same archives', { timeout: 300_000 }, async () => {
    const dir = tempDir('lifeline-retention-borg-');
    try {
      mkdirSync(join(dir, 'data'));
      writeFileSync(join(dir, 'data', 'file'), 'hello\n');
      const env = {
        BORG_REPO: join(dir, 'repo'),
        BORG_BASE_DIR: join(dir, 'base'),
        BORG_UNKNOWN_UNENCRYPTED_REPO_ACCESS_IS_OK: 'yes',
        BORG_RELOCATED_REPO_ACCESS_IS_OK: 'yes',
        LANG: 'C.UTF-8',
        TZ: BERLIN, // prune buckets in the local zone of the host running it
      };
      await run('borg', ['init', '-e', 'none'], env);
      const archives = CROSS_TIMES.map((iso, i) => ({ id: `a${String(i).padStart(2, '0')}`, time: new Date(iso) }));
      for (const a of archives) {
        // --timestamp is UTC
        await run('borg', ['create', '--timestamp', a.time.toISOString().slice(0, 19), `::${a.id}`, join(dir, 'data')], env);
      }
      const outputs = await pool(
        1, // borg holds an exclusive lock even for a dry run
        CROSS_POLICIES.map((p) => () => run('borg', ['prune', '--dry-run', '--list', ...keepFlags(p)], env)),
      );
      CROSS_POLICIES.forEach((policy, i) => {
        const theirs = new Map<string, string | null>();
        for (const line of outputs[i].stderr.split('\n')) {
          const k = /^Keeping archive \(rule: (\w+)(\[oldest\])? #\d+\):\s+(\S+)/.exec(line);
          if (k) {
            const rule = k[1] === 'secondly' ? 'last' : k[1];
            theirs.set(k[3], `${k[2] ? 'oldest ' : ''}${rule} snapshot`);
          }
          const p = /^Would prune:\s+(\S+)/.exec(line);
          if (p) theirs.set(p[1], null);
        }
        assert.equal(theirs.size, archives.length, outputs[i].stderr);
        const ours = planRetention(archives, policy, { semantics: 'borg', timeZone: BERLIN });
        const label = JSON.stringify(policy);
        for (const k of ours.keep) assert.deepEqual(k.reasons, [theirs.get(k.id)], `keep ${label} ${k.id}`);
        for (const r of ours.remove) assert.equal(theirs.get(r.id), null, `remove ${label} ${r.id}`);
      });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
