import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { methodLabel, routePattern } from '../../src/api/routes.ts';
import { countingFetch, renderMetrics, slackMethodOf } from '../../src/metrics.ts';

describe('route patterns', () => {
  it.each([
    ['/v1/projects/payments/readiness', '/v1/projects/{project}/readiness'],
    ['/v1/projects/a%2Fb/readiness', '/v1/projects/{project}/readiness'],
    ['/v1/approvals', '/v1/approvals'],
    ['/v1/approvals/apr_0123', '/v1/approvals/{id}'],
    ['/v1/projects/payments/policies', '/v1/projects/{project}/policies'],
    ['/v1/policies', '/v1/policies'],
    ['/v1/policy-audit/events', '/v1/policy-audit/events'],
    ['/slack/events', '/slack/events'],
    ['/healthz', '/healthz'],
    ['/v1/approvals/apr_1/extra', 'unmatched'],
    [`/v1/keys/jj_${'a'.repeat(32)}`, 'unmatched'],
    ['/wp-login.php', 'unmatched'],
  ])('%s is counted as %s', (path, route) => {
    expect(routePattern(path)).toBe(route);
  });

  it('keeps odd methods out of the labels', () => {
    expect(methodLabel('GET')).toBe('GET');
    expect(methodLabel('PROPFIND')).toBe('other');
    expect(methodLabel(undefined)).toBe('other');
  });

  it('reads the Web API method from the request URL', () => {
    expect(slackMethodOf('https://slack.com/api/chat.postMessage')).toBe('chat.postMessage');
    expect(slackMethodOf('http://127.0.0.1:9/api/users.info?x=1')).toBe('users.info');
    expect(slackMethodOf('https://slack.com/api/<script>')).toBe('unknown');
  });
});

describe('counting fetch for the Web API client', () => {
  let server: Server;
  let base: string;
  beforeAll(async () => {
    server = createServer((req, res) => {
      const method = (req.url ?? '').split('/').pop();
      if (method === 'test.down') return void res.writeHead(503).end('down');
      if (method === 'test.html') return void res.writeHead(200, { 'content-type': 'text/html' }).end('<html>');
      if (method === 'test.odd') return void res.writeHead(200).end(JSON.stringify({ ok: false, error: 'Not A Code xoxb-1-2' }));
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ ok: false, error: 'channel_not_found' }));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/api`;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  it('counts each outcome and hands the response on unread', async () => {
    const fetch = countingFetch();
    const refused = await fetch(`${base}/test.refused`, { method: 'POST' });
    expect(await refused.json()).toEqual({ ok: false, error: 'channel_not_found' });
    expect((await fetch(`${base}/test.down`, { method: 'POST' })).status).toBe(503);
    expect(await (await fetch(`${base}/test.html`, { method: 'POST' })).text()).toBe('<html>');
    await fetch(`${base}/test.odd`, { method: 'POST' });
    await expect(fetch('http://127.0.0.1:1/api/test.unreachable', { method: 'POST' })).rejects.toThrow();
    const { text } = await renderMetrics();
    expect(text).toContain('jamjet_slack_api_calls_total{method="test.refused",outcome="channel_not_found"} 1');
    expect(text).toContain('jamjet_slack_api_calls_total{method="test.down",outcome="http_503"} 1');
    expect(text).toContain('jamjet_slack_api_calls_total{method="test.html",outcome="invalid_response"} 1');
    expect(text).toContain('jamjet_slack_api_calls_total{method="test.odd",outcome="error"} 1');
    expect(text).toContain('jamjet_slack_api_calls_total{method="test.unreachable",outcome="network_error"} 1');
    expect(text).not.toContain('xoxb');
  });
});
