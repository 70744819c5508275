import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { duplicatiReport, duplicatiStatus, parseTimeSpan } from '../collector/intake/duplicati';
import { parseProxmoxDuration, parseProxmoxSize, proxmoxBodySchema, proxmoxMatches, proxmoxOutcome } from '../collector/intake/proxmox';

// Notification bodies → runs. The bodies are real-format recordings written from the tools'
// sources (test/fixtures/intake/README.md; shared/REFERENCE-INTEGRATIONS.md §§6 and 8), not
// captured from live Proxmox or Duplicati, which cannot run here.

const fixture = (name: string): unknown => JSON.parse(readFileSync(new URL(`./fixtures/intake/${name}`, import.meta.url), 'utf8'));
const proxmox = (name: string) => proxmoxBodySchema.parse(fixture(name));

test('proxmox-time durations and HumanByte sizes read as ms and bytes', () => {
  const durations: [string, number | null][] = [
    ['1m 50s', 110_000],
    ['3s', 3000],
    ['1h 1m 3s', 3_663_000],
    ['2d 4h', 52 * 3_600_000],
    ['<0.1s', 100],
    ['0.4s', 400],
    ['soon', null],
  ];
  for (const [text, ms] of durations) assert.equal(parseProxmoxDuration(text), ms, text);
  const sizes: [string, number | null][] = [
    ['4.6 GiB', Math.round(4.6 * 2 ** 30)],
    ['0 B', 0],
    ['512 KiB', 512 * 1024],
    ['1.5 TB', 1.5e12],
    ['lots', null],
  ];
  for (const [text, bytes] of sizes) assert.equal(parseProxmoxSize(text), bytes, text);
});

test('Proxmox notifications: severity gives the status, vzdump totals give duration and size, the text is the log', () => {
  const ok = proxmoxOutcome(proxmox('pve-vzdump-ok.json'))!;
  assert.equal(ok.status, 'success');
  assert.equal(ok.durationMs, 110_000);
  assert.equal(ok.bytesTotal, Math.round(4.6 * 2 ** 30));
  assert.match(ok.log, /^vzdump backup status \(pve1\.lan\): backup successful \(pve1, backup-8f1e2a3b-7c4d\)\n/);
  assert.equal(ok.error, undefined);

  const failed = proxmoxOutcome(proxmox('pve-vzdump-failed.json'))!;
  assert.equal(failed.status, 'failure');
  assert.match(failed.error!, /storage 'nas-nfs' is not online/);

  const table: [string, string][] = [
    ['pbs-gc-ok.json', 'success'],
    ['pbs-verify-error.json', 'failure'],
    ['pbs-prune-ok.json', 'success'],
    ['pbs-sync-ok.json', 'success'],
  ];
  for (const [name, status] of table) assert.equal(proxmoxOutcome(proxmox(name))?.status, status, name);
  // The target's "Test" button carries no type: acknowledged, no run. A notice is not a job's end.
  assert.equal(proxmoxOutcome(proxmox('pve-test.json')), null);
  assert.equal(proxmoxOutcome(proxmoxBodySchema.parse({ severity: 'notice', fields: { type: 'tape-load' } })), null);
});

test("a check's proxmox fields select notifications; absent fields match anything", () => {
  const gc = proxmox('pbs-gc-ok.json');
  const verify = proxmox('pbs-verify-error.json');
  const vzdump = proxmox('pve-vzdump-ok.json');
  const cases: [Parameters<typeof proxmoxMatches>[0], typeof gc, boolean][] = [
    [{ type: 'gc' }, gc, true],
    [{ type: 'gc', datastore: 'store1', hostname: 'pbs1' }, gc, true],
    [{ type: 'gc', datastore: 'store2' }, gc, false],
    [{ type: 'verification', jobId: 'v-3c1a9b0e-ffd2' }, verify, true],
    [{ type: 'verification', jobId: 'v-other' }, verify, false],
    [{ type: 'vzdump', hostname: 'pve1' }, vzdump, true],
    [{ type: 'vzdump', hostname: 'pve2' }, vzdump, false],
    [{ type: 'gc' }, vzdump, false],
  ];
  for (const [match, n, want] of cases) assert.equal(proxmoxMatches(match, n), want, JSON.stringify(match));
});

test('.NET TimeSpan text reads as ms; Duplicati results map to run statuses', () => {
  const spans: [string, number | null][] = [
    ['00:02:03.3333324', 123_333],
    ['00:00:05.5', 5500],
    ['1.02:03:04', ((24 + 2) * 60 + 3) * 60_000 + 4000],
    ['-00:00:01', null],
    ['2 minutes', null],
  ];
  for (const [text, ms] of spans) assert.equal(parseTimeSpan(text), ms, text);
  const results: [string | undefined, unknown, string][] = [
    ['Success', null, 'success'],
    ['Warning', null, 'warning'],
    ['Error', null, 'failure'],
    ['Fatal', null, 'failure'],
    ['Unknown', null, 'failure'],
    [undefined, null, 'failure'],
    ['Success', 'System.Exception: boom', 'failure'],
  ];
  for (const [parsed, exception, status] of results) assert.equal(duplicatiStatus(parsed, exception), status, String(parsed));
});

test('Duplicati JSON reports become runs with duration, sizes, file counts and the log lines', () => {
  const now = Date.parse('2026-11-30T01:02:05Z');
  const ok = duplicatiReport(fixture('duplicati-success.json'), now);
  assert.ok(!('refusal' in ok));
  assert.equal(ok.operation, 'Backup');
  assert.deepEqual(
    { status: ok.outcome.status, durationMs: ok.outcome.durationMs, bytesAdded: ok.outcome.bytesAdded, bytesTotal: ok.outcome.bytesTotal, files: ok.outcome.files },
    { status: 'success', durationMs: 123_333, bytesAdded: 1_392_640, bytesTotal: 987_654_321, files: 1284 },
  );
  assert.equal(ok.outcome.startedAt, Date.parse('2026-11-30T01:00:00.1234567Z'));
  assert.match(ok.outcome.log, /^Duplicati Backup "Documents to B2": Success\n.*StartingOperation/);

  const warning = duplicatiReport(fixture('duplicati-warning.json'), now);
  assert.ok(!('refusal' in warning));
  assert.equal(warning.outcome.status, 'warning');
  assert.match(warning.outcome.log, /1 warning\(s\)\n.*locked\.pst/);

  const fatal = duplicatiReport(fixture('duplicati-fatal.json'), now);
  assert.ok(!('refusal' in fatal));
  assert.equal(fatal.outcome.status, 'failure');
  assert.equal(fatal.outcome.bytesAdded, 0);
  assert.match(fatal.outcome.error!, /^Duplicati Backup "Documents to B2": Fatal, 1 error\(s\): .*FatalError/);
  assert.match(fatal.outcome.log, /please run repair/);

  // A report from a clock ahead never starts in the future.
  const ahead = duplicatiReport(fixture('duplicati-success.json'), Date.parse('2026-11-30T00:00:00Z'));
  assert.ok(!('refusal' in ahead) && ahead.outcome.startedAt! <= Date.parse('2026-11-30T00:00:00Z'));

  const text = duplicatiReport('Duplicati Backup report for Documents', now);
  assert.ok('refusal' in text && /--send-http-json-urls/.test(text.refusal));
});
