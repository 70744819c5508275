import assert from 'node:assert/strict';
import { test } from 'node:test';
import { planIncidents, type IncidentPlan, type LifecyclePolicy } from '../collector/incidents/lifecycle';
import type { Finding, IncidentRow } from '../collector/incidents/types';
import { HOUR, MIN, T0, finding, incident } from './fixtures/notify-helpers';

const policy = (over: Partial<LifecyclePolicy> = {}): LifecyclePolicy => ({
  reminderMs: 6 * HOUR,
  flapMs: 10 * MIN,
  muted: () => false,
  inMaintenance: () => false,
  tierOf: () => 1,
  ...over,
});

/** A plan reduced to what a reader checks: which keys open/resolve/remind and whether they notify. */
function summary(p: IncidentPlan) {
  return {
    open: p.open.map((o) => `${o.finding.key}${o.notify ? '' : ' (silent)'}`),
    update: p.update.map((u) => u.id),
    resolve: p.resolve.map((r) => `${r.incident.id}${r.notify ? '' : ' (silent)'}`),
    remind: p.remind.map((r) => `${r.incident.id}:${r.event}`),
  };
}

const none = { open: [], update: [], resolve: [], remind: [] };

test('opening: a finding opens an incident exactly when it has lasted flapMs', () => {
  const table: [string, number, string[]][] = [
    ['one ms before flapMs', T0 + 10 * MIN - 1, []],
    ['at flapMs', T0 + 10 * MIN, ['missed:nas:restic-home']],
    ['long after', T0 + 5 * HOUR, ['missed:nas:restic-home']],
  ];
  for (const [name, now, open] of table) {
    assert.deepEqual(summary(planIncidents([], [finding()], now, policy())).open, open, name);
  }
});

test('opens immediately when flapMs is 0', () => {
  assert.deepEqual(summary(planIncidents([], [finding()], T0, policy({ flapMs: 0 }))).open, ['missed:nas:restic-home']);
});

test('does not open a second incident for a key that is already open', () => {
  const plan = planIncidents([incident()], [finding()], T0 + HOUR, policy());
  assert.deepEqual(summary(plan), { ...none, update: [1] });
});

test('opens one incident when rules repeat a key, keeping the most severe finding', () => {
  const plan = planIncidents([], [finding({ severity: 'warning' }), finding({ severity: 'critical' })], T0 + HOUR, policy());
  assert.equal(plan.open.length, 1);
  assert.equal(plan.open[0].finding.severity, 'critical');
});

test('reminders: due exactly reminderMs after the last notification, while the finding lasts', () => {
  const open = [incident({ lastNotifiedAt: T0 })];
  const table: [string, number, string[]][] = [
    ['one ms before', T0 + 6 * HOUR - 1, []],
    ['at the cadence', T0 + 6 * HOUR, ['1:reminder']],
    ['later', T0 + 7 * HOUR, ['1:reminder']],
  ];
  for (const [name, now, remind] of table) {
    assert.deepEqual(summary(planIncidents(open, [finding()], now, policy())).remind, remind, name);
  }
});

test('never reminds when reminderMs is 0', () => {
  assert.deepEqual(summary(planIncidents([incident()], [finding()], T0 + 100 * HOUR, policy({ reminderMs: 0 }))).remind, []);
});

test('does not remind an acknowledged incident', () => {
  const plan = planIncidents([incident({ ackedAt: T0 + MIN, ackedBy: 'ana' })], [finding()], T0 + 24 * HOUR, policy());
  assert.deepEqual(summary(plan), { ...none, update: [1] });
});

test('an escalation from warning to critical clears the acknowledgement and notifies at once', () => {
  const open = [incident({ severity: 'warning', ackedAt: T0 + MIN, ackedBy: 'ana', lastNotifiedAt: T0 })];
  const plan = planIncidents(open, [finding({ severity: 'critical' })], T0 + HOUR, policy());
  assert.deepEqual(summary(plan).remind, ['1:reminder']);
  assert.equal(plan.update[0].severity, 'critical');
  assert.equal(plan.update[0].clearAck, true);
});

test('a severity drop keeps the incident at its highest severity', () => {
  const plan = planIncidents([incident({ severity: 'critical' })], [finding({ severity: 'warning' })], T0 + HOUR, policy());
  assert.equal(plan.update[0].severity, 'critical');
  assert.deepEqual(plan.remind, []);
});

test('an update records now as the last time the finding was seen failing', () => {
  const plan = planIncidents([incident()], [finding({ detail: 'still nothing' })], T0 + 2 * HOUR, policy());
  assert.equal(plan.update[0].lastSeenFailingAt, T0 + 2 * HOUR);
  assert.equal(plan.update[0].detail, 'still nothing');
});

test('resolving: resolves exactly flapMs after the finding was last seen failing', () => {
  const open = [incident({ lastSeenFailingAt: T0 + HOUR })];
  const table: [string, number, string[]][] = [
    ['one ms before', T0 + HOUR + 10 * MIN - 1, []],
    ['at flapMs', T0 + HOUR + 10 * MIN, ['1']],
  ];
  for (const [name, now, resolve] of table) {
    assert.deepEqual(summary(planIncidents(open, [], now, policy())).resolve, resolve, name);
  }
});

test('does not remind while a vanished finding waits out its flap window', () => {
  const plan = planIncidents([incident({ lastNotifiedAt: T0, lastSeenFailingAt: T0 + 6 * HOUR })], [], T0 + 6 * HOUR + MIN, policy());
  assert.deepEqual(summary(plan), none);
});

test('a key flipping on every evaluation keeps one incident and sends no extra notification', () => {
  // Evaluations every minute; the finding is present on even minutes only.
  let open: IncidentRow[] = [];
  const events: string[] = [];
  let nextId = 1;
  for (let m = 0; m <= 60; m++) {
    const now = T0 + m * MIN;
    const findings: Finding[] = m % 2 === 0 ? [finding({ since: now })] : [];
    const plan = planIncidents(open, findings, now, policy({ flapMs: 5 * MIN }));
    // Apply the plan the way the store does.
    for (const o of plan.open) {
      events.push(`open@${m}`);
      open.push(incident({ id: nextId++, since: o.finding.since, lastSeenFailingAt: now, lastNotifiedAt: now }));
    }
    for (const u of plan.update) open = open.map((i) => (i.id === u.id ? { ...i, lastSeenFailingAt: u.lastSeenFailingAt } : i));
    for (const r of plan.resolve) {
      events.push(`resolved@${m}`);
      open = open.filter((i) => i.id !== r.incident.id);
    }
    for (const r of plan.remind) events.push(`${r.event}@${m}`);
  }
  // `since` restarts at every appearance, so it never lasts the 5 minutes needed to open.
  assert.deepEqual(events, []);
});

test('a flapping finding with a stable since opens once and never resolves inside the flap window', () => {
  let open: IncidentRow[] = [];
  const events: string[] = [];
  for (let m = 0; m <= 60; m++) {
    const now = T0 + m * MIN;
    const plan = planIncidents(open, m % 2 === 0 ? [finding({ since: T0 })] : [], now, policy({ flapMs: 5 * MIN, reminderMs: 0 }));
    for (const o of plan.open) {
      events.push(`open@${m}`);
      open.push(incident({ since: o.finding.since, lastSeenFailingAt: now, lastNotifiedAt: now }));
    }
    for (const u of plan.update) open = open.map((i) => (i.id === u.id ? { ...i, lastSeenFailingAt: u.lastSeenFailingAt } : i));
    for (const r of plan.resolve) {
      events.push(`resolved@${m}`);
      open = open.filter((i) => i.id !== r.incident.id);
    }
  }
  assert.deepEqual(events, ['open@6']);
});

test('muted: opens the incident without notifying', () => {
  const plan = planIncidents([], [finding()], T0 + HOUR, policy({ muted: (a) => a === 'home' }));
  assert.deepEqual(summary(plan).open, ['missed:nas:restic-home (silent)']);
});

test('in maintenance: opens the incident without notifying', () => {
  const plan = planIncidents([], [finding()], T0 + HOUR, policy({ inMaintenance: () => true }));
  assert.deepEqual(summary(plan).open, ['missed:nas:restic-home (silent)']);
});

test('muted: no reminder for an open incident', () => {
  const plan = planIncidents([incident()], [finding()], T0 + 24 * HOUR, policy({ muted: () => true }));
  assert.deepEqual(summary(plan), { ...none, update: [1] });
});

test('an incident that opened silenced is announced as open once the silence ends', () => {
  const plan = planIncidents([incident({ lastNotifiedAt: null })], [finding()], T0 + HOUR, policy());
  assert.deepEqual(summary(plan).remind, ['1:open']);
});

test('an incident never announced resolves without a notification', () => {
  const plan = planIncidents([incident({ lastNotifiedAt: null })], [], T0 + HOUR, policy());
  assert.deepEqual(summary(plan).resolve, ['1 (silent)']);
});

test('an incident resolving during a mute resolves without a notification', () => {
  const plan = planIncidents([incident()], [], T0 + HOUR, policy({ muted: () => true }));
  assert.deepEqual(summary(plan).resolve, ['1 (silent)']);
});

test('a mute of one asset does not silence another', () => {
  const plan = planIncidents([], [finding({ asset: 'photos', key: 'k2' })], T0 + HOUR, policy({ muted: (a) => a === 'home' }));
  assert.deepEqual(summary(plan).open, ['k2']);
});

test('uses tierOf for new incidents and updates', () => {
  const plan = planIncidents([incident({ key: 'a' })], [finding({ key: 'a' }), finding({ key: 'b' })], T0 + HOUR, policy({ tierOf: () => 3 }));
  assert.equal(plan.open[0].tier, 3);
  assert.equal(plan.update[0].tier, 3);
});
