import assert from 'node:assert/strict';
import { test } from 'node:test';
import { afterEnroll, type AfterEnroll } from '../agent/service-restart';

// After `lifeline-agent enroll`: the packaged unit is restarted only where systemd runs it with
// this config; elsewhere enroll says how to start the daemon (test/package-deb.test.ts runs the
// no-systemd case for real).
test('afterEnroll: restart the unit, or say what to run', () => {
  const cases: [systemdRunning: boolean, unitInstalled: boolean, unitConfig: boolean, want: AfterEnroll['action'], says?: RegExp][] = [
    [true, true, true, 'restart'],
    [false, true, true, 'say', /systemd is not running here: start the agent with: lifeline-agent daemon/],
    [true, true, false, 'say', /runs \/etc\/lifeline\/agent\.yaml, not this config/],
    [true, false, true, 'say', /lifeline-agent daemon \(or its systemd unit/],
    [false, false, false, 'say', /lifeline-agent daemon \(or its systemd unit/],
  ];
  for (const [systemdRunning, unitInstalled, unitConfig, want, says] of cases) {
    const got = afterEnroll({ systemdRunning, unitInstalled, unitConfig });
    const label = JSON.stringify({ systemdRunning, unitInstalled, unitConfig });
    assert.equal(got.action, want, label);
    if (got.action === 'say') assert.match(got.text, says!, label);
  }
});
