import { networkInterfaces } from 'node:os';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { StartupError } from '../../src/app.ts';
import type { SecretTarget } from '../../src/github/types.ts';
import { FakeGitHub } from '../github/fake-github.ts';
import { startTestApp, type TestApp } from '../helpers/app.ts';
import { FakeSlack } from '../helpers/slack.ts';
import { GITHUB_URL, readiness, reveal, run, serveCheck, waitForButton, waitForCall } from './keys-flow.ts';

const OWNER = 'U0OWNER';
const GITHUB_TOKEN = 'ghp_testtokentesttokentesttokentest0001';
const REPO: SecretTarget = { kind: 'repo', owner: 'acme', repo: 'api', secretName: 'JAMJET_API_KEY' };

let t: TestApp;
let clock: { now: number };
let github: FakeGitHub;

async function scrape(path = '/metrics') {
  const res = await fetch(`http://127.0.0.1:${t.app.metricsPort}${path}`);
  return { status: res.status, type: res.headers.get('content-type'), text: await res.text() };
}

/** The value of one series in Prometheus text, or undefined when it is not there. */
function value(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of text.split('\n')) {
    if (line.startsWith('#')) continue;
    const match = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!match || match[1] !== name) continue;
    const have = Object.fromEntries([...(match[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((m) => [m[1], m[2]]));
    if (Object.entries(labels).every(([k, v]) => have[k] === v)) return Number(match[3]);
  }
  return undefined;
}

describe('metrics on METRICS_PORT', () => {
  beforeEach(async () => {
    clock = { now: Date.UTC(2026, 10, 29, 9, 0, 0) };
    github = await new FakeGitHub(GITHUB_URL).init();
    const slack = new FakeSlack().addUser({ id: OWNER, email: 'owner@acme.test' });
    t = await startTestApp({
      slack,
      now: () => clock.now,
      env: {
        METRICS_PORT: '0',
        HOST: '127.0.0.1',
        JOBS_POLL_SECONDS: '3600',
        GITHUB_TOKEN,
        GITHUB_API_URL: GITHUB_URL,
        // Without GITHUB_CLIENT_ID only a JamJet admin may link a GitHub target.
        JAMJET_ADMIN_USERS: OWNER,
      },
    });
  });
  afterEach(async () => {
    await t.stop();
  });

  it('counts requests, key checks, Slack calls, jobs and GitHub writes, and shows the backlog, without a key or token', async () => {
    await run(t, OWNER, 'projects create payments');
    const key = await reveal(t, OWNER);

    // SDK traffic: one valid key, no key, a wrong key, another project, an unknown approval id.
    expect((await readiness(t, 'payments', key)).status).toBe(200);
    expect((await readiness(t, 'payments')).status).toBe(401);
    expect((await readiness(t, 'payments', `jj_${'0'.repeat(32)}`)).status).toBe(401);
    expect((await readiness(t, 'search', key)).status).toBe(403);
    const unknown = await fetch(`http://127.0.0.1:${t.port}/v1/approvals/apr_doesnotexist`, { headers: { authorization: `Bearer ${key}` } });
    expect(unknown.status).toBe(404);

    // A Slack error code and a rate limit.
    await run(t, OWNER, 'members invite payments nobody@acme.test');
    t.slack.on('chat.postMessage', () => [429, { ok: false, error: 'ratelimited' }, { 'retry-after': '30' }]);
    const created = await fetch(`http://127.0.0.1:${t.port}/v1/approvals`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ action: 'deploy payments', context: { token: 'xoxb-leaked-1-2-3' } }),
    });
    expect(created.status).toBe(201);
    await vi.waitFor(
      async () => {
        const row = (await t.app.db.raw("SELECT attempts, last_error FROM jobs WHERE kind = 'approval.post'"))[0] as { last_error: string | null };
        expect(row.last_error).toBeTruthy();
      },
      { timeout: 5000, interval: 20 },
    );

    // A GitHub write through a rotation.
    t.slack.on('chat.postMessage', (b) => ({ ok: true, channel: String(b.channel).replace(/^U/, 'D'), ts: `${clock.now}.000200` }));
    serveCheck(github, REPO);
    expect((await run(t, OWNER, 'github link payments acme/api')).text).toContain('as target 1');
    github.serve(REPO);
    const before = t.slack.calls.length;
    await run(t, OWNER, 'keys rotate payments --overlap 1h');
    await waitForButton(t, OWNER, 'key_reveal', before);
    await waitForCall(t, before, (c) => c.method === 'chat.postMessage' && JSON.stringify(c.body).includes('acme/api'));

    // The rate-limited card is now a minute overdue.
    clock.now += 90_000;
    const { status, type, text } = await scrape();
    expect(status).toBe(200);
    expect(type).toContain('text/plain');

    const requests = 'jamjet_http_request_duration_seconds_count';
    const readinessRoute = '/v1/projects/{project}/readiness';
    expect(value(text, requests, { route: readinessRoute, method: 'GET', status: '200' })).toBe(1);
    expect(value(text, requests, { route: readinessRoute, method: 'GET', status: '401' })).toBe(2);
    expect(value(text, requests, { route: readinessRoute, method: 'GET', status: '403' })).toBe(1);
    expect(value(text, requests, { route: '/v1/approvals/{id}', method: 'GET', status: '404' })).toBe(1);
    expect(value(text, requests, { route: '/v1/approvals', method: 'POST', status: '201' })).toBe(1);
    expect(value(text, 'jamjet_http_request_duration_seconds_bucket', { route: readinessRoute, status: '401', le: '+Inf' })).toBe(2);
    expect(value(text, 'jamjet_http_request_duration_seconds_sum', { route: readinessRoute, status: '401' })).toBeGreaterThan(0);
    expect(value(text, requests, { route: '/slack/events', method: 'POST', status: '200' })).toBeGreaterThanOrEqual(4);

    // Every authenticated request: readiness 200 and 403, the unknown approval, the new approval.
    expect(value(text, 'jamjet_key_checks_total', { result: 'valid' })).toBe(4);
    expect(value(text, 'jamjet_key_checks_total', { result: 'missing' })).toBe(1);
    expect(value(text, 'jamjet_key_checks_total', { result: 'invalid' })).toBe(1);

    const slackCalls = 'jamjet_slack_api_calls_total';
    expect(value(text, slackCalls, { method: 'auth.test', outcome: 'ok' })).toBe(1);
    expect(value(text, slackCalls, { method: 'chat.postMessage', outcome: 'ok' })).toBeGreaterThanOrEqual(2);
    expect(value(text, slackCalls, { method: 'chat.postMessage', outcome: 'rate_limited' })).toBe(1);
    expect(value(text, slackCalls, { method: 'users.lookupByEmail', outcome: 'users_not_found' })).toBe(1);
    expect(value(text, slackCalls, { method: 'views.open', outcome: 'ok' })).toBe(1);

    expect(value(text, 'jamjet_jobs_total', { kind: 'approval.post', outcome: 'deferred' })).toBe(1);
    expect(value(text, 'jamjet_jobs_queue_depth', { kind: 'approval.post' })).toBe(1);
    // The card, the approval's expiry, the reveal expiries and wipes, the rotation's reminder.
    expect(value(text, 'jamjet_jobs_pending')).toBeGreaterThanOrEqual(5);
    expect(value(text, 'jamjet_jobs_oldest_due_age_seconds')).toBe(60);
    expect(value(text, 'jamjet_approvals_pending')).toBe(1);
    expect(value(text, 'jamjet_github_secret_writes_total', { outcome: 'ok' })).toBe(1);
    expect(value(text, 'process_resident_memory_bytes')).toBeGreaterThan(0);

    // Labels are patterns and codes: no key, token, id, project name or address.
    for (const secret of [key, 'xoxb-test-token', 'xoxb-leaked', GITHUB_TOKEN, 'nobody@acme.test', '/v1/projects/payments', 'apr_', 'acme/api']) {
      expect(text).not.toContain(secret);
    }
    expect(text).not.toMatch(/jj_[0-9a-f]{32}/);
  });

  it('serves /metrics only on its own port, and nothing else there', async () => {
    expect((await fetch(`http://127.0.0.1:${t.port}/metrics`)).status).toBe(404);
    expect((await scrape('/')).status).toBe(404);
    expect((await scrape('/healthz')).status).toBe(404);
    expect(t.app.metricsPort).not.toBe(t.port);
    expect(value((await scrape()).text, 'jamjet_approvals_pending')).toBe(0);
  });

  it('logs each audit event as one line marked audit, with the hash the database holds', async () => {
    await run(t, OWNER, 'projects create payments');
    await run(t, OWNER, 'keys create payments --name ci-xoxb-1-2-secret');
    const rows = await t.app.db.raw('SELECT * FROM audit_events ORDER BY id') as {
      id: number; project_id: number; actor: string; action: string; details: string; created_at: number; prev_hash: string; hash: string;
    }[];
    expect(rows.length).toBeGreaterThan(0);
    const lines = t.logs.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l['audit'] === true);
    expect(lines.map((l) => l['event_id'])).toEqual(rows.map((r) => r.id));
    for (const [i, row] of rows.entries()) {
      expect(lines[i]).toMatchObject({
        level: 'info',
        msg: 'audit event',
        component: 'audit',
        event_id: row.id,
        project_id: row.project_id,
        actor: row.actor,
        action: row.action,
        details: row.details,
        at: row.created_at,
        prev_hash: row.prev_hash,
        hash: row.hash,
      });
    }
    expect(lines.map((l) => l['action'])).toContain('key.created');
    expect(t.logs.join('\n')).not.toContain('xoxb-1-2-secret');
    expect(t.logs.join('\n')).not.toMatch(/jj_[0-9a-f]{32}/);
  });
});

describe('HOST', () => {
  afterEach(async () => {
    await t?.stop();
  });

  it('binds the HTTP server and the metrics server to that address only', async () => {
    const other = Object.values(networkInterfaces())
      .flat()
      .find((a) => a && a.family === 'IPv4' && !a.internal)?.address;
    t = await startTestApp({ env: { HOST: '127.0.0.1', METRICS_PORT: '0' } });
    expect((await fetch(`http://127.0.0.1:${t.port}/healthz`)).status).toBe(200);
    expect((await fetch(`http://127.0.0.1:${t.app.metricsPort}/metrics`)).status).toBe(200);
    // Another address of this machine (or IPv6 loopback) is not listened on.
    const elsewhere = other ?? '[::1]';
    await expect(fetch(`http://${elsewhere}:${t.port}/healthz`)).rejects.toThrow();
    await expect(fetch(`http://${elsewhere}:${t.app.metricsPort}/metrics`)).rejects.toThrow();
  });

  it('serves no metrics endpoint without METRICS_PORT', async () => {
    t = await startTestApp({ env: { HOST: '127.0.0.1' } });
    expect(t.app.metricsPort).toBeNull();
    expect((await fetch(`http://127.0.0.1:${t.port}/metrics`)).status).toBe(404);
    expect(t.logs.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l['msg'] === 'jamjet is running')).toMatchObject({
      host: '127.0.0.1',
      metrics_port: null,
    });
  });

  it('stops start-up with one sentence naming HOST when it is not an address of this machine', async () => {
    await expect(startTestApp({ env: { HOST: '192.0.2.7' } })).rejects.toThrow(
      new StartupError('HOST 192.0.2.7 is not an address of this machine; set HOST to one of its addresses, or 0.0.0.0 for all.'),
    );
    t = undefined as unknown as TestApp;
  });

  it('stops start-up with one sentence naming METRICS_PORT when it is taken', async () => {
    t = await startTestApp({ env: { HOST: '127.0.0.1', METRICS_PORT: '0' } });
    const taken = t.app.metricsPort!;
    await expect(startTestApp({ env: { HOST: '127.0.0.1', METRICS_PORT: String(taken) } })).rejects.toThrow(
      `METRICS_PORT ${taken} is already in use; stop what uses it or set another METRICS_PORT.`,
    );
  });
});
