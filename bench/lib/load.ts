/**
 * HTTP load with autocannon, run in a worker thread: on this 2-core machine
 * the load generator must not share the event loop of the server it
 * measures, or both would be slowed alike and the latencies inflated.
 */
import { Worker } from 'node:worker_threads';

export interface LoadPlan {
  /** Full URL on 127.0.0.1, path included. */
  readonly url: string;
  readonly method: 'GET' | 'POST';
  readonly headers: Record<string, string>;
  readonly body?: string;
  readonly connections: number;
  readonly seconds: number;
  /** A run before the measured one, not recorded: JIT and connection set-up. */
  readonly warmupSeconds: number;
  /** Requests per second over all connections; unset means as fast as possible. */
  readonly overallRate?: number;
  /**
   * Signs each request anew with this Slack signing secret, its body given
   * its own `trigger_id`, as Slack sends them: the product accepts a signed
   * request once.
   */
  readonly slackSigningSecret?: string;
  /** Authorization headers used in turn, one per request (per-key rate limits). */
  readonly authorizations?: readonly string[];
  /** Keep the `id` of every 2xx JSON answer. */
  readonly collectIds?: boolean;
}

export interface LoadResult {
  readonly seconds: number;
  readonly requests: number;
  readonly ok: number;
  /** 2xx answers per second. */
  readonly rps: number;
  readonly medianMs: number;
  readonly p99Ms: number;
  readonly non2xx: number;
  readonly errors: number;
  readonly ids: string[];
}

/** A worker can only start from JavaScript: boot tsx in it, then load the TypeScript worker. */
const WORKER = new URL('./load-worker.ts', import.meta.url).href;
const BOOT = `import(${JSON.stringify(import.meta.resolve('tsx/esm/api'))})
  .then((tsx) => { tsx.register(); return import(${JSON.stringify(WORKER)}); });`;

/** Slack for the worker to start, finish and report, beyond the planned run time. */
const GRACE_MS = 40_000;

export async function runLoad(plan: LoadPlan): Promise<LoadResult> {
  const worker = new Worker(BOOT, { eval: true, workerData: plan });
  const limitMs = (plan.seconds + plan.warmupSeconds) * 1000 + GRACE_MS;
  let timer: NodeJS.Timeout | undefined;
  try {
    return await new Promise<LoadResult>((resolve, reject) => {
      timer = setTimeout(() => reject(new Error(`load on ${plan.url} did not finish within ${limitMs} ms`)), limitMs);
      worker.once('message', resolve);
      worker.once('error', reject);
      worker.once('exit', (code) => reject(new Error(`load worker exited with code ${code} before reporting`)));
    });
  } finally {
    clearTimeout(timer);
    await worker.terminate();
  }
}

/**
 * Runs the baseline's and the product's plans in turn, `rounds` times, and
 * keeps each one's fastest round: other work on the machine (tests, builds)
 * only ever slows a round down, so the fastest is the least disturbed.
 */
export async function alternate(rounds: number, baseline: LoadPlan, product: LoadPlan): Promise<{ baseline: LoadResult; product: LoadResult }> {
  const baselines: LoadResult[] = [];
  const products: LoadResult[] = [];
  for (let round = 0; round < rounds; round++) {
    baselines.push(await runLoad(baseline));
    products.push(await runLoad(product));
  }
  const fastest = (results: LoadResult[]) => results.reduce((a, b) => (b.rps > a.rps ? b : a));
  return { baseline: fastest(baselines), product: fastest(products) };
}

/** Two or more loads at once (one per replica); each result as its worker reported it. */
export async function concurrently(plans: readonly LoadPlan[]): Promise<LoadResult[]> {
  return await Promise.all(plans.map((plan) => runLoad(plan)));
}

/**
 * The loads of `concurrently` as one: answers summed, per second over the
 * longest run; median and p99 of the slower side (the raw latencies stay in
 * the workers), ids of all.
 */
export function combined(results: readonly LoadResult[]): LoadResult {
  const seconds = Math.max(...results.map((r) => r.seconds));
  const ok = results.reduce((sum, r) => sum + r.ok, 0);
  return {
    seconds,
    requests: results.reduce((sum, r) => sum + r.requests, 0),
    ok,
    rps: Math.round((ok / seconds) * 10) / 10,
    medianMs: Math.max(...results.map((r) => r.medianMs)),
    p99Ms: Math.max(...results.map((r) => r.p99Ms)),
    non2xx: results.reduce((sum, r) => sum + r.non2xx, 0),
    errors: results.reduce((sum, r) => sum + r.errors, 0),
    ids: results.flatMap((r) => r.ids),
  };
}
