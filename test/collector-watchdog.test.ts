import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { createServer } from 'node:http';
import { after, test } from 'node:test';
import { AGENT_HEADER, SIGNATURE_HEADER } from '../shared/protocol';
import { sign } from '../shared/signing';
import { catalogJob, hello, run, TestAgent } from './collector-helpers';
import { startCollector, waitFor } from './helpers/processes';

// The collector watching itself, end to end on a real collector process (the outbox sender, the
// evaluator worker and the selfCheck timer run on their real clocks): a webhook that answers 500
// makes the outbox stuck (/healthz 503, /fail pings) and raises 'notify-channel-failing' through
// the working webhook only; once it answers again everything recovers.

const cleanups: (() => unknown)[] = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

interface Hit {
  path: string;
  body: string;
}

/** A loopback HTTP receiver that records each request and answers with `status()`. */
async function receiver(status: () => number, answer = 'OK'): Promise<{ url: string; hits: Hit[] }> {
  const hits: Hit[] = [];
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      hits.push({ path: req.url ?? '/', body });
      res.writeHead(status(), { 'content-type': 'text/plain' });
      res.end(answer);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  cleanups.push(() => new Promise((r) => server.close(r)));
  return { url: `http://127.0.0.1:${(server.address() as { port: number }).port}`, hits };
}

const titles = (hits: Hit[]) => hits.map((h) => JSON.parse(h.body) as { event: string; title: string });

test('a failing webhook: outbox stuck on /healthz and /metrics, an incident through the other channel only, selfCheck /fail pings; all recover when it answers again', async () => {
  let badStatus = 500;
  const good = await receiver(() => 200);
  const bad = await receiver(() => badStatus);
  // Healthchecks' ping endpoint answers 200 "OK" (REFERENCE-INTEGRATIONS.md §9).
  const hc = await receiver(() => 200);
  const check = randomUUID();
  const agent = new TestAgent('pve1');
  const collector = await startCollector(`incidents: { evaluateEvery: 1s, flap: 0s, reminder: 1d }
notifyRetry: { base: 300ms, max: 600ms, attempts: 1000 }
watchdog: { outboxStuckAfter: 4s, channelFailures: 3 }
selfCheck: { url: "${hc.url}/ping/${check}", every: 500ms }
agents:
  - { name: pve1, publicKey: "${agent.publicKey}" }
notify:
  - { name: good, type: webhook, url: "${good.url}/hook" }
  - { name: bad, type: webhook, url: "${bad.url}/hook" }
`);
  cleanups.push(() => collector.stop('SIGKILL'));

  await waitFor('an ok ping', () => hc.hits.some((h) => h.path === `/ping/${check}` && h.body === 'lifeline-collector ok'));

  // A failed backup: an incident for both channels.
  const now = Date.now();
  const body = Buffer.from(
    JSON.stringify({
      messages: [
        agent.msg(hello([catalogJob('db')])),
        agent.msg(run('db', randomUUID(), { status: 'failure', exitCode: 1, startedAt: new Date(now - 60_000).toISOString(), finishedAt: new Date(now).toISOString() })),
      ],
    }),
  );
  const res = await fetch(`${collector.url}/api/v1/reports`, {
    method: 'POST',
    body,
    headers: { 'content-type': 'application/json', [AGENT_HEADER]: 'pve1', [SIGNATURE_HEADER]: sign(body, agent.keys.secretKey) },
  });
  assert.equal(res.status, 200, await res.text());

  await waitFor('the failed run through good', () => titles(good.hits).some((m) => m.event === 'open' && /db/.test(m.title)));
  const failing = await waitFor('the failing-channel incident through good', () => titles(good.hits).find((m) => m.event === 'open' && m.title === 'Notifications through bad are failing'), 20_000);
  assert.ok(failing);
  assert.ok(bad.hits.length >= 3, 'bad was tried');
  assert.ok(!titles(bad.hits).some((m) => /through bad/.test(m.title)), 'the failing channel never gets its own incident');

  const stuck = await waitFor('/healthz 503', async () => {
    const r = await fetch(`${collector.url}/healthz`);
    return r.status === 503 ? ((await r.json()) as { reason: string }) : null;
  }, 20_000);
  assert.match(stuck.reason, /^outbox stuck: a notification has waited \d+s to be delivered \(watchdog\.outboxStuckAfter is 4s\)/);
  await waitFor('a /fail ping with the reason', () => hc.hits.some((h) => h.path === `/ping/${check}/fail` && h.body.startsWith('outbox stuck')));

  const text = await (await fetch(`${collector.url}/metrics`)).text();
  const value = (series: string) => {
    const line = text.split('\n').find((l) => l.startsWith(`${series} `));
    assert.ok(line, `${series} in /metrics`);
    return Number(line.slice(series.length + 1));
  };
  assert.ok(value('lifeline_outbox_pending{channel="bad"}') >= 1);
  assert.ok(value('lifeline_outbox_oldest_pending_age_seconds') > 4);
  assert.ok(value('lifeline_notify_deliveries_failed_total{channel="bad"}') >= 3);
  assert.ok(value('lifeline_notify_deliveries_sent_total{channel="good"}') >= 2);
  assert.ok(Math.abs(value('lifeline_evaluator_last_pass_timestamp_seconds') - Date.now() / 1000) < 5, 'a recent pass');
  assert.ok(value('lifeline_evaluator_findings') >= 2, 'the failed run and the failing channel');
  assert.ok(value('lifeline_database_size_bytes') > 4096);
  const promtool = spawnSync('/usr/bin/promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
  assert.equal(promtool.status, 0, `${promtool.stdout}${promtool.stderr}`);

  // The webhook answers again: the backlog is delivered, the incident resolves (through good), all is well.
  badStatus = 200;
  await waitFor('/healthz 200', async () => (await fetch(`${collector.url}/healthz`)).status === 200, 20_000);
  await waitFor('the failing-channel incident resolved through good', () => titles(good.hits).some((m) => m.event === 'resolved' && m.title.endsWith('Notifications through bad are failing')), 20_000);
  const failsBefore = hc.hits.length;
  await waitFor('ok pings again', () => hc.hits.slice(failsBefore).some((h) => h.path === `/ping/${check}`));
  assert.ok(!titles(bad.hits).some((m) => /through bad/.test(m.title)), 'nor its resolution');
  assert.equal((await fetch(`${collector.url}/api/v1/status`)).status, 200);
});

test('selfCheck failures are logged once per change and never stop the collector', async () => {
  let status = 500;
  const hc = await receiver(() => status, 'not found');
  const collector = await startCollector(`selfCheck: { url: "${hc.url}/ping/secret-key/collector", every: 300ms }\n`);
  cleanups.push(() => collector.stop('SIGKILL'));
  await waitFor('several failed pings', () => hc.hits.length >= 4);
  status = 200;
  const n = hc.hits.length;
  await waitFor('more pings', () => hc.hits.length >= n + 2);
  await waitFor('the recovery logged', () => collector.proc.output.includes('selfCheck ping delivered again'));
  const failed = collector.proc.output.split('\n').filter((l) => l.includes('selfCheck ping failed'));
  assert.equal(failed.length, 1, collector.proc.output);
  assert.match(failed[0], /HTTP 500/);
  assert.ok(!collector.proc.output.includes('secret-key'), 'the ping URL path (its secret) is not logged');
  assert.equal((await fetch(`${collector.url}/healthz`)).status, 200);
});
