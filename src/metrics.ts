/**
 * Prometheus metrics, served on their own port by `createMetricsServer`
 * when `METRICS_PORT` is set. The work is counted in plain numbers by
 * one-line calls where it happens (`keyChecks.inc({ result: 'valid' })`),
 * which cost a Map lookup; prom-client is loaded only with the metrics
 * server, and writes those numbers, prom-client's process metrics and the
 * state gauges in Prometheus' text format when scraped. The state gauges
 * (job backlog, pending approvals) are read from the database at scrape
 * time, through the source that `setStateSource` installs.
 *
 * Labels hold only bounded, non-secret values: route patterns (never a raw
 * path with ids), Web API method names, Slack error codes, job kinds and
 * fixed outcome words. The series and what they mean are listed in
 * docs/OPERATIONS.md, "Monitoring and alerts".
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';
import { methodLabel, routePattern } from './api/routes.ts';

/** One series' value as prom-client's registry writes it. */
interface Sample {
  readonly metricName?: string;
  readonly labels: Record<string, string | number>;
  readonly value: number;
}

/** What prom-client's registry needs of a metric: its name, help, type and current samples. */
interface CollectedMetric {
  readonly name: string;
  readonly help: string;
  readonly type: 'counter' | 'gauge' | 'histogram';
  samples(): Sample[];
}

/** Every metric of this process, in the order they are written. */
const metrics: CollectedMetric[] = [];

/** A Prometheus counter kept in plain numbers, one per combination of label values. */
export class PlainCounter<L extends string> implements CollectedMetric {
  readonly type = 'counter';
  private readonly values = new Map<string, { labels: Record<L, string>; value: number }>();

  constructor(
    readonly name: string,
    readonly help: string,
    private readonly labelNames: readonly L[],
  ) {
    metrics.push(this);
  }

  /** Adds `by` (default 1) to the series of these label values. */
  inc(labels: Record<L, string>, by = 1): void {
    let key = '';
    for (const name of this.labelNames) key += `${labels[name]}\u0000`;
    const entry = this.values.get(key);
    if (entry) entry.value += by;
    else this.values.set(key, { labels: { ...labels }, value: by });
  }

  samples(): Sample[] {
    return [...this.values.values()].map(({ labels, value }) => ({ labels, value }));
  }
}

/** A gauge read when scraped. */
function gauge(name: string, help: string, read: () => Sample[]): void {
  metrics.push({ name, help, type: 'gauge', samples: read });
}

const REQUEST_METRIC = 'jamjet_http_request_duration_seconds';
/** Upper bounds (seconds) of the request duration buckets. */
const REQUEST_BUCKETS = [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5] as const;

interface RequestSeries {
  readonly labels: { readonly route: string; readonly method: string; readonly status: string };
  count: number;
  sum: number;
  /** Requests per bucket, not cumulative; the last slot is past the largest bound. */
  readonly buckets: number[];
}

/** Requests by `route method status`. */
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

metrics.push({
  name: REQUEST_METRIC,
  help: 'HTTP requests on PORT by route pattern (/v1/approvals/{id}, ...), method and status code, in seconds.',
  type: 'histogram',
  samples() {
    const out: Sample[] = [];
    for (const { labels, count, sum, buckets } of requestSeries.values()) {
      let cumulative = 0;
      REQUEST_BUCKETS.forEach((le, i) => {
        cumulative += buckets[i]!;
        out.push({ metricName: `${REQUEST_METRIC}_bucket`, labels: { ...labels, le }, value: cumulative });
      });
      out.push({ metricName: `${REQUEST_METRIC}_bucket`, labels: { ...labels, le: '+Inf' }, value: count });
      out.push({ metricName: `${REQUEST_METRIC}_sum`, labels, value: sum });
      out.push({ metricName: `${REQUEST_METRIC}_count`, labels, value: count });
    }
    return out;
  },
});

/** Each HTTP request to Slack's Web API (each attempt of a retried call), by method and outcome. */
export const slackApiCalls = new PlainCounter(
  'jamjet_slack_api_calls_total',
  'Slack Web API requests by method and outcome: ok, the Slack error code, rate_limited (HTTP 429), http_<status> or network_error.',
  ['method', 'outcome'],
);

/** Job runs by kind and outcome: done, retry (failed, tried again after a backoff), deferred (told to come back later: Slack's Retry-After), dead (given up). */
export const jobRuns = new PlainCounter(
  'jamjet_jobs_total',
  'Durable job runs by kind and outcome: done, retry, deferred (Slack said to come back later), dead.',
  ['kind', 'outcome'],
);

/** API key checks of SDK requests: valid, missing (no Bearer key), invalid (unknown, malformed or revoked). */
export const keyChecks = new PlainCounter(
  'jamjet_key_checks_total',
  'API key checks by result: valid, missing, invalid (unknown, malformed or revoked).',
  ['result'],
);

/** GitHub Actions secret writes by outcome: ok, or the failure code (forbidden, not_found, unavailable, ...). */
export const githubWrites = new PlainCounter(
  'jamjet_github_secret_writes_total',
  'GitHub Actions secret writes by outcome: ok, not_configured, unauthorized, forbidden, not_found, invalid, unavailable.',
  ['outcome'],
);

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

let stateSource: (() => Promise<StateSnapshot>) | null = null;

/**
 * Installs what the state gauges read at scrape time (the last one installed
 * wins); returns what removes it again, if it is still the one installed.
 */
export function setStateSource(source: () => Promise<StateSnapshot>): () => void {
  stateSource = source;
  return () => {
    if (stateSource === source) stateSource = null;
  };
}

/** One snapshot per scrape, read before the gauges collect and shared by them. */
let scrape: StateSnapshot | null = null;
const snapshot = (): StateSnapshot | null => scrape;

gauge('jamjet_jobs_queue_depth', 'Pending jobs that are due now (the backlog), by kind.', () =>
  (snapshot()?.jobs ?? []).map((j) => ({ labels: { kind: j.kind }, value: j.due })),
);

gauge('jamjet_jobs_pending', 'Pending jobs, due now or scheduled later (reminders, expiries).', () => [
  { labels: {}, value: snapshot()?.pendingJobs ?? 0 },
]);

gauge('jamjet_jobs_oldest_due_age_seconds', 'How long the oldest due job has been waiting, in seconds; 0 when none is due.', () => {
  const s = snapshot();
  const oldest = Math.min(...(s?.jobs ?? []).map((j) => j.oldestDueAt));
  return [{ labels: {}, value: s && Number.isFinite(oldest) ? Math.max(0, (s.at - oldest) / 1000) : 0 }];
});

gauge('jamjet_approvals_pending', 'Approval requests waiting for a decision.', () => [
  { labels: {}, value: snapshot()?.pendingApprovals ?? 0 },
]);

let registry: Promise<Registry> | null = null;

/** prom-client's registry with our metrics and its process metrics; loaded on first use. */
function promRegistry(): Promise<Registry> {
  registry ??= import('prom-client').then(({ Registry, collectDefaultMetrics }) => {
    const r = new Registry();
    collectDefaultMetrics({ register: r });
    for (const metric of metrics) {
      const { name, help, type } = metric;
      r.registerMetric({
        name,
        help,
        type,
        aggregator: 'sum',
        get: () => ({ name, help, type, aggregator: 'sum', values: metric.samples() }),
        reset: () => {},
      } as unknown as Parameters<Registry['registerMetric']>[0]);
    }
    return r;
  });
  return registry;
}

/** The Prometheus text exposition (version 0.0.4) of every series. */
export async function renderMetrics(): Promise<{ contentType: string; text: string }> {
  const r = await promRegistry();
  scrape = stateSource ? await stateSource() : null;
  try {
    return { contentType: r.contentType, text: await r.metrics() };
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
  await promRegistry();
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (path !== '/metrics' || (req.method !== 'GET' && req.method !== 'HEAD')) {
      res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' }).end('Not found: metrics are at GET /metrics.\n');
      return;
    }
    renderMetrics().then(
      ({ contentType, text }) => res.writeHead(200, { 'content-type': contentType }).end(req.method === 'HEAD' ? undefined : text),
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
