/**
 * Prometheus metrics (prom-client), served on their own port by
 * `createMetricsServer` when `METRICS_PORT` is set. The counters below are
 * bumped by one-line calls where the work happens; the state gauges (job
 * queue, pending approvals) are read from the database when Prometheus
 * scrapes, through the source that `setStateSource` installs.
 *
 * Labels hold only bounded, non-secret values: route patterns (never a raw
 * path with ids), Web API method names, Slack error codes, job kinds and
 * fixed outcome words. The series and what they mean are listed in
 * docs/OPERATIONS.md, "Monitoring and alerts".
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { collectDefaultMetrics, Counter, Gauge, Registry } from 'prom-client';
import { methodLabel, routePattern } from './api/routes.ts';

/** Every series of this process; only the metrics server reads it. */
export const registry = new Registry();

const REQUEST_METRIC = 'jamjet_http_request_duration_seconds';
const REQUEST_HELP = 'HTTP requests on PORT by route pattern (/v1/approvals/{id}, ...), method and status code, in seconds.';
/** Upper bounds (seconds) of the request duration buckets. */
const REQUEST_BUCKETS = [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5] as const;

interface RequestSeries {
  readonly labels: { readonly route: string; readonly method: string; readonly status: string };
  count: number;
  sum: number;
  /** Requests per bucket, not cumulative; the last slot is past the largest bound. */
  readonly buckets: number[];
}

/**
 * Requests by `route method status`. Counted in plain numbers on the hot
 * path (a prom-client histogram costs about a microsecond per observation,
 * measurable on the key check) and written as a Prometheus histogram only
 * when scraped.
 */
const requestSeries = new Map<string, RequestSeries>();

/**
 * Times a request on `PORT` and counts it under its route pattern, method
 * and status once the answer is sent, in `jamjet_http_request_duration_seconds`
 * (a histogram: `_count` is the number of requests). `path` is the URL path
 * without query. A request whose client went away before the answer is not counted.
 */
export function observeRequest(req: IncomingMessage, res: ServerResponse, path: string): void {
  const started = performance.now();
  res.once('finish', () => {
    const seconds = (performance.now() - started) / 1000;
    const route = routePattern(path);
    const key = `${route} ${req.method} ${res.statusCode}`;
    let series = requestSeries.get(key);
    if (!series) {
      const labels = { route, method: methodLabel(req.method), status: String(res.statusCode) };
      series = { labels, count: 0, sum: 0, buckets: new Array<number>(REQUEST_BUCKETS.length + 1).fill(0) };
      requestSeries.set(key, series);
    }
    series.count++;
    series.sum += seconds;
    let i = 0;
    while (i < REQUEST_BUCKETS.length && seconds > REQUEST_BUCKETS[i]!) i++;
    series.buckets[i]!++;
  });
}

registry.registerMetric({
  name: REQUEST_METRIC,
  help: REQUEST_HELP,
  type: 'histogram',
  aggregator: 'sum',
  get: () => {
    const values: { metricName: string; labels: Record<string, string | number>; value: number }[] = [];
    for (const { labels, count, sum, buckets } of requestSeries.values()) {
      let cumulative = 0;
      REQUEST_BUCKETS.forEach((le, i) => {
        cumulative += buckets[i]!;
        values.push({ metricName: `${REQUEST_METRIC}_bucket`, labels: { ...labels, le }, value: cumulative });
      });
      values.push({ metricName: `${REQUEST_METRIC}_bucket`, labels: { ...labels, le: '+Inf' }, value: count });
      values.push({ metricName: `${REQUEST_METRIC}_sum`, labels, value: sum });
      values.push({ metricName: `${REQUEST_METRIC}_count`, labels, value: count });
    }
    return { name: REQUEST_METRIC, help: REQUEST_HELP, type: 'histogram', aggregator: 'sum', values };
  },
  reset: () => requestSeries.clear(),
} as unknown as Parameters<Registry['registerMetric']>[0]);

/** Each HTTP request to Slack's Web API (each attempt of a retried call), by method and outcome. */
export const slackApiCalls = new Counter({
  name: 'jamjet_slack_api_calls_total',
  help: 'Slack Web API requests by method and outcome: ok, the Slack error code, rate_limited (HTTP 429), http_<status> or network_error.',
  labelNames: ['method', 'outcome'] as const,
  registers: [registry],
});

/** Job runs by kind and outcome: done, retry (failed, tried again after a backoff), deferred (told to come back later: Slack's Retry-After), dead (given up). */
export const jobRuns = new Counter({
  name: 'jamjet_jobs_total',
  help: 'Durable job runs by kind and outcome: done, retry, deferred (Slack said to come back later), dead.',
  labelNames: ['kind', 'outcome'] as const,
  registers: [registry],
});

/** API key checks of SDK requests: valid, missing (no Bearer key), invalid (unknown, malformed or revoked). */
export const keyChecks = new Counter({
  name: 'jamjet_key_checks_total',
  help: 'API key checks by result: valid, missing, invalid (unknown, malformed or revoked).',
  labelNames: ['result'] as const,
  registers: [registry],
});

/** GitHub Actions secret writes by outcome: ok, or the failure code (forbidden, not_found, unavailable, ...). */
export const githubWrites = new Counter({
  name: 'jamjet_github_secret_writes_total',
  help: 'GitHub Actions secret writes by outcome: ok, not_configured, unauthorized, forbidden, not_found, invalid, unavailable.',
  labelNames: ['outcome'] as const,
  registers: [registry],
});

/** What the database says at scrape time. */
export interface StateSnapshot {
  /** Due jobs per kind: how many, and the earliest due time (epoch ms). */
  readonly jobs: readonly { readonly kind: string; readonly due: number; readonly oldestDueAt: number }[];
  /** Pending jobs, due now or later. */
  readonly pendingJobs: number;
  readonly pendingApprovals: number;
  /** Epoch ms the snapshot was taken at. */
  readonly at: number;
}

let stateSource: (() => StateSnapshot) | null = null;

/**
 * Installs what the state gauges read at scrape time (the last one installed
 * wins); returns what removes it again, if it is still the one installed.
 */
export function setStateSource(source: () => StateSnapshot): () => void {
  stateSource = source;
  return () => {
    if (stateSource === source) stateSource = null;
  };
}

/** One snapshot per scrape, shared by the gauges of that scrape. */
let scrape: StateSnapshot | null = null;
const snapshot = (): StateSnapshot | null => (scrape ??= stateSource?.() ?? null);

new Gauge({
  name: 'jamjet_jobs_queue_depth',
  help: 'Pending jobs that are due now (the backlog), by kind.',
  labelNames: ['kind'] as const,
  registers: [registry],
  collect() {
    this.reset();
    for (const j of snapshot()?.jobs ?? []) this.set({ kind: j.kind }, j.due);
  },
});

new Gauge({
  name: 'jamjet_jobs_pending',
  help: 'Pending jobs, due now or scheduled later (reminders, expiries).',
  registers: [registry],
  collect() {
    this.set(snapshot()?.pendingJobs ?? 0);
  },
});

new Gauge({
  name: 'jamjet_jobs_oldest_due_age_seconds',
  help: 'How long the oldest due job has been waiting, in seconds; 0 when none is due.',
  registers: [registry],
  collect() {
    const s = snapshot();
    const oldest = Math.min(...(s?.jobs ?? []).map((j) => j.oldestDueAt));
    this.set(s && Number.isFinite(oldest) ? Math.max(0, (s.at - oldest) / 1000) : 0);
  },
});

new Gauge({
  name: 'jamjet_approvals_pending',
  help: 'Approval requests waiting for a decision.',
  registers: [registry],
  collect() {
    this.set(snapshot()?.pendingApprovals ?? 0);
  },
});

let defaultMetrics = false;

/** The Prometheus text exposition of every series (content type `registry.contentType`). */
export async function renderMetrics(): Promise<string> {
  scrape = null;
  try {
    return await registry.metrics();
  } finally {
    scrape = null;
  }
}

/** Web API method names are `family.method`; anything else is not a label value. */
const METHOD = /^[A-Za-z0-9_.]{1,64}$/;
/** Slack error codes are short snake_case words. */
const ERROR_CODE = /^[a-z0-9_]{1,64}$/;

/** The Web API method of a request URL (`https://slack.com/api/chat.postMessage` gives `chat.postMessage`). */
export function slackMethodOf(url: string): string {
  const last = url.split('?')[0]!.replace(/\/+$/, '').split('/').pop() ?? '';
  return METHOD.test(last) ? last : 'unknown';
}

/**
 * A `fetch` for the Web API client that counts each request in
 * `jamjet_slack_api_calls_total`: HTTP 429 is `rate_limited`, another non-200
 * status `http_<status>`, a 200 is `ok` or the `error` of Slack's JSON body,
 * a request that never got an answer `network_error`. The response itself
 * is handed on untouched. Calls the global fetch at request time (so test
 * interceptors installed later still apply).
 */
export function countingFetch(): typeof fetch {
  return async (input, init) => {
    const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
    const method = slackMethodOf(url);
    let response: Response;
    try {
      response = await globalThis.fetch(input, init);
    } catch (error) {
      slackApiCalls.inc({ method, outcome: 'network_error' });
      throw error;
    }
    let outcome: string;
    if (response.status === 429) outcome = 'rate_limited';
    else if (response.status !== 200) outcome = `http_${response.status}`;
    else {
      try {
        const body = (await response.clone().json()) as { ok?: boolean; error?: unknown };
        outcome = body.ok ? 'ok' : typeof body.error === 'string' && ERROR_CODE.test(body.error) ? body.error : 'error';
      } catch {
        outcome = 'invalid_response';
      }
    }
    slackApiCalls.inc({ method, outcome });
    return response;
  };
}

export interface MetricsServerOptions {
  readonly port: number;
  readonly host: string;
}

/**
 * Serves `GET /metrics` (Prometheus text format) on its own port; every
 * other path is 404. Also starts prom-client's process metrics (memory, CPU,
 * event loop lag, ...). Resolves once listening; rejects with the listen
 * error (`EADDRINUSE`, `EADDRNOTAVAIL`).
 */
export async function createMetricsServer(options: MetricsServerOptions): Promise<{ server: Server; port: number }> {
  if (!defaultMetrics) {
    collectDefaultMetrics({ register: registry });
    defaultMetrics = true;
  }
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (path !== '/metrics' || (req.method !== 'GET' && req.method !== 'HEAD')) {
      res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' }).end('Not found: metrics are at GET /metrics.\n');
      return;
    }
    renderMetrics().then(
      (text) => res.writeHead(200, { 'content-type': registry.contentType }).end(req.method === 'HEAD' ? undefined : text),
      () => res.writeHead(500, { 'content-type': 'text/plain; charset=utf-8' }).end('Metrics could not be collected.\n'),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return { server, port: (server.address() as AddressInfo).port };
}
