import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import nock from 'nock';
import { startApp, type RunningApp } from '../../src/app.ts';
import { parseConfig } from '../../src/config.ts';
import { PostgresDb } from '../../src/db/postgres.ts';
import { createLogger } from '../../src/logger.ts';
import { freshDatabaseUrl, TEST_ENGINE } from './engine.ts';
import { FakeSlack, SIGNING_SECRET, SLACK_HOST } from './slack.ts';

export interface TestApp {
  /** The replica the test reads state through (its database, services and job queue are shared with the others). */
  readonly app: RunningApp;
  /**
   * Every replica serving the test: one on SQLite; on PostgreSQL two, both
   * on the same database, with `port` spreading requests between them.
   */
  readonly replicas: readonly RunningApp[];
  readonly slack: FakeSlack;
  readonly logs: string[];
  readonly port: number;
  /**
   * Runs the due jobs on every replica and waits for any run already under
   * way on one of them (a poll, a kick after a request, a wake-up timer): on
   * PostgreSQL the other replica may have claimed a job first, and one
   * replica's `runDue()` would return before that job ends. Resolves to the
   * number of jobs the calls ran.
   */
  runDue(): Promise<number>;
  stop(): Promise<void>;
}

export interface TestAppOptions {
  readonly env?: Record<string, string>;
  readonly slack?: FakeSlack;
  readonly now?: () => number;
  /**
   * One process even on PostgreSQL: for drills that time each retry against
   * a clock the test moves, where a second replica running a job while the
   * clock moves would blur the timing. Replicas have their own drills.
   */
  readonly single?: boolean;
}

/** The real app in HTTP mode on an ephemeral port, Slack's Web API answered by nock. */
export async function startTestApp(options: TestAppOptions = {}): Promise<TestApp> {
  nock.disableNetConnect();
  nock.enableNetConnect('127.0.0.1');
  const slack = (options.slack ?? new FakeSlack()).install();
  const config = parseConfig({
    SLACK_BOT_TOKEN: 'xoxb-test-token',
    SLACK_SIGNING_SECRET: SIGNING_SECRET,
    SLACK_API_URL: `${SLACK_HOST}/api/`,
    PORT: '0',
    DATABASE_URL: options.env?.DATABASE_URL ?? (await freshDatabaseUrl()),
    LOG_LEVEL: 'debug',
    ...options.env,
  });
  const logs: string[] = [];
  const start = () =>
    startApp(config, {
      log: createLogger('debug', (line) => logs.push(line)),
      now: options.now,
      slackClientOptions: { retryConfig: { retries: 0 } },
    });
  const app = await start();
  const replicas = [app];
  let balancer: Server | null = null;
  // On PostgreSQL the suite runs against two replicas behind a balancer, as production teams run it
  // (Socket Mode and tests that bind their own ports or database keep one process).
  const replicated = TEST_ENGINE === 'postgres' && !options.single && !options.env?.DATABASE_URL && !config.slack.appToken && config.metricsPort === null && config.port === 0;
  if (replicated) {
    try {
      replicas.push(await start());
      balancer = await startBalancer(replicas);
    } catch (error) {
      for (const replica of replicas) await replica.stop();
      throw error;
    }
  }
  const port = balancer ? (balancer.address() as AddressInfo).port : app.port;
  return {
    app,
    replicas,
    slack,
    logs,
    port,
    async runDue() {
      const ran = await Promise.all(replicas.map((replica) => replica.jobs.runDue()));
      return ran.reduce((sum, n) => sum + n, 0);
    },
    async stop() {
      if (balancer) await new Promise<void>((resolve) => balancer.close(() => resolve()));
      // The second replica first: the first is the one tests drive, and may still be finishing jobs.
      for (const replica of [...replicas].reverse()) await replica.stop();
      nock.cleanAll();
      slack.assertNoRefusals();
    },
  };
}

/**
 * A round-robin load balancer on 127.0.0.1: each request goes to the next
 * replica, whole (method, path, headers, body), and its answer comes back
 * as it was. Before handing a request over it waits until that replica has
 * heard of every change committed so far (`PostgresDb.settled`), so a
 * test's next request never races the notice of its previous one; the
 * replicas themselves get no such help.
 */
async function startBalancer(replicas: readonly RunningApp[]): Promise<Server> {
  let next = 0;
  const server = createServer((req, res) => {
    const target = replicas[next++ % replicas.length]!;
    const body: Buffer[] = [];
    req.on('data', (chunk: Buffer) => body.push(chunk));
    req.on('end', () => {
      void (async () => {
        if (target.db instanceof PostgresDb) await target.db.settled();
        const forwarded = request(
          { host: '127.0.0.1', port: target.port, method: req.method, path: req.url, headers: req.headers },
          (answer) => {
            res.writeHead(answer.statusCode ?? 502, answer.headers);
            answer.pipe(res);
          },
        );
        forwarded.on('error', () => {
          if (!res.headersSent) res.writeHead(502).end();
          else res.destroy();
        });
        forwarded.end(Buffer.concat(body));
      })();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  return server;
}
