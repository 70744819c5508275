import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { buildApp } from '../collector/app';
import { collectorConfig } from '../collector/config';
import { tempDb, tempDir } from './collector-helpers';

// POST /intake/proxmox/<id> and /intake/duplicati/<id> through the collector's app (fastify
// inject) over a real SQLite file. The bodies are the real-format recordings of
// test/fixtures/intake (shared/REFERENCE-INTEGRATIONS.md §§6 and 8), posted as the tools post them.

const PVE = '11111111-2222-4333-8444-555555555555';
const GC = '66666666-7777-4888-9999-aaaaaaaaaaaa';
const VERIFY = 'bbbbbbbb-cccc-4ddd-8eee-ffffffffffff';
const DUP = '0b1c2d3e-4f5a-4b6c-8d7e-9f0a1b2c3d4e';
const SECRET = 'pve-webhook-Secret-42';
const body = (name: string) => readFileSync(new URL(`./fixtures/intake/${name}`, import.meta.url));
const base = (id: string, name: string, extra: Record<string, unknown> = {}) => ({
  id, name, asset: name, tier: 2, target: { name: 'pbs1', location: 'onsite', media: 'pbs' }, schedule: '@daily', ...extra,
});

function setup(withSecret = true) {
  const { db } = tempDb();
  const dir = tempDir();
  writeFileSync(join(dir, 'pve.secret'), `${SECRET}\n`, { mode: 0o600 });
  const config = collectorConfig({
    checks: [
      base(PVE, 'pve1-vzdump', { target: { name: 'nas', location: 'onsite', media: 'nas' } }),
      base(GC, 'store1-gc', { proxmox: { type: 'gc', datastore: 'store1' } }),
      base(VERIFY, 'store1-verify', { proxmox: { type: 'verification', hostname: 'pbs1' } }),
      base(DUP, 'win-docs', { target: { name: 'b2', location: 'offsite', media: 'cloud' } }),
    ],
    ...(withSecret ? { intake: { proxmoxSecretFile: join(dir, 'pve.secret') } } : {}),
  });
  const app = buildApp({ config, db });
  const runs = (job: string) =>
    db
      .prepare<[string], { status: string; durationMs: number; bytesTotal: number | null; bytesAdded: number | null; files: number | null; log: string; error: string | null }>(
        `SELECT status, duration_ms AS durationMs, bytes_total AS bytesTotal, bytes_added AS bytesAdded, files, log_tail AS log, error
         FROM runs WHERE job = ? ORDER BY id`,
      )
      .all(job);
  const role = (job: string) => db.prepare<[string], string>(`SELECT role FROM jobs WHERE name = ?`).pluck().get(job);
  return { app, runs, role };
}

const proxmox = (app: ReturnType<typeof setup>['app'], id: string, fixture: string, secret: string | null = SECRET) =>
  // Proxmox adds no Content-Type of its own (§6); the README's header list sets one.
  app.inject({ method: 'POST', url: `/intake/proxmox/${id}`, payload: body(fixture), headers: secret === null ? {} : { 'x-lifeline-secret': secret, 'content-type': 'application/json' } });

test('Proxmox intake: the secret header first, then the body; a bad one changes nothing', async () => {
  const { app, runs } = setup();
  assert.equal((await proxmox(app, PVE, 'pve-vzdump-ok.json', null)).statusCode, 401);
  const wrong = await proxmox(app, PVE, 'pve-vzdump-ok.json', 'guess');
  assert.equal(wrong.statusCode, 401);
  assert.equal(wrong.json().error.code, 'E_INTAKE_SECRET');
  assert.equal((await proxmox(app, '99999999-2222-4333-8444-555555555555', 'pve-vzdump-ok.json')).statusCode, 404);
  const garbage = await app.inject({ method: 'POST', url: `/intake/proxmox/${PVE}`, payload: '{"fields": 3}', headers: { 'x-lifeline-secret': SECRET } });
  assert.equal(garbage.statusCode, 400);
  assert.equal(garbage.json().error.path, 'fields');
  assert.deepEqual(runs('pve1-vzdump'), []);

  const off = setup(false);
  const disabled = await proxmox(off.app, PVE, 'pve-vzdump-ok.json');
  assert.deepEqual([disabled.statusCode, disabled.json().error.code], [403, 'E_INTAKE_DISABLED']);
});

test('Proxmox notifications become runs of the matching checks, or of the URL check when it names no fields', async () => {
  const { app, runs, role } = setup();
  // The target's "Test" button: acknowledged (Proxmox shows success), no run.
  const probe = await proxmox(app, PVE, 'pve-test.json');
  assert.deepEqual(probe.json(), { runs: [], ignored: 'no fields.type: a test notification' });

  assert.deepEqual((await proxmox(app, PVE, 'pve-vzdump-ok.json')).json(), { runs: ['pve1-vzdump'] });
  assert.deepEqual((await proxmox(app, PVE, 'pve-vzdump-failed.json')).json(), { runs: ['pve1-vzdump'] });
  const [ok, failed] = runs('pve1-vzdump');
  assert.deepEqual({ status: ok.status, durationMs: ok.durationMs, bytesTotal: ok.bytesTotal }, { status: 'success', durationMs: 110_000, bytesTotal: Math.round(4.6 * 2 ** 30) });
  assert.match(ok.log, /Finished Backup of VM 101/);
  assert.equal(failed.status, 'failure');
  assert.match(failed.error!, /storage 'nas-nfs' is not online/);

  // One PBS target (any check's URL) feeds every check whose proxmox fields match.
  assert.deepEqual((await proxmox(app, GC, 'pbs-gc-ok.json')).json(), { runs: ['store1-gc'] });
  assert.deepEqual((await proxmox(app, GC, 'pbs-verify-error.json')).json(), { runs: ['store1-verify'] });
  assert.deepEqual((await proxmox(app, GC, 'pbs-sync-ok.json')).json(), { runs: [], ignored: 'no check matches type=sync' });
  assert.equal(runs('store1-gc')[0].status, 'success');
  assert.equal(runs('store1-verify')[0].status, 'failure');
  // A datastore's GC or verify keeps it healthy: no copy of anything (RPO, 3-2-1 skip it).
  assert.equal(role('store1-gc'), 'maintenance');
  assert.equal(role('pve1-vzdump'), 'backup');
});

test('Duplicati JSON reports become runs with result, duration, sizes and files; other operations are acknowledged', async () => {
  const { app, runs } = setup();
  const post = (payload: Buffer | string) => app.inject({ method: 'POST', url: `/intake/duplicati/${DUP}`, payload, headers: { 'content-type': 'application/json' } });
  for (const f of ['duplicati-success.json', 'duplicati-warning.json', 'duplicati-fatal.json']) assert.deepEqual((await post(body(f))).json(), { runs: ['win-docs'] }, f);
  const r = runs('win-docs');
  assert.deepEqual(r.map((x) => x.status), ['success', 'warning', 'failure']);
  assert.deepEqual({ durationMs: r[0].durationMs, bytesAdded: r[0].bytesAdded, bytesTotal: r[0].bytesTotal, files: r[0].files }, { durationMs: 123_333, bytesAdded: 1_392_640, bytesTotal: 987_654_321, files: 1284 });
  assert.match(r[2].error!, /Fatal/);

  const test = JSON.parse(body('duplicati-success.json').toString()) as { Data: { MainOperation: string } };
  test.Data.MainOperation = 'Test';
  assert.deepEqual((await post(JSON.stringify(test))).json(), { runs: [], ignored: 'operation Test: only backups are runs of a check' });
  const text = await app.inject({ method: 'POST', url: `/intake/duplicati/${DUP}`, payload: 'message=Duplicati+Backup+report', headers: { 'content-type': 'application/x-www-form-urlencoded' } });
  assert.equal(text.statusCode, 400);
  assert.equal((await app.inject({ method: 'POST', url: `/intake/duplicati/${PVE.replace('1', '0')}`, payload: body('duplicati-success.json') })).statusCode, 404);
  assert.equal(runs('win-docs').length, 3);
});
