import nock from 'nock';
import { startApp, type RunningApp } from '../../src/app.ts';
import { parseConfig } from '../../src/config.ts';
import { createLogger } from '../../src/logger.ts';
import { freshDatabaseUrl } from './engine.ts';
import { FakeSlack, SIGNING_SECRET, SLACK_HOST } from './slack.ts';

export interface TestApp {
  readonly app: RunningApp;
  readonly slack: FakeSlack;
  readonly logs: string[];
  readonly port: number;
  stop(): Promise<void>;
}

export interface TestAppOptions {
  readonly env?: Record<string, string>;
  readonly slack?: FakeSlack;
  readonly now?: () => number;
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
  const app = await startApp(config, {
    log: createLogger('debug', (line) => logs.push(line)),
    now: options.now,
    slackClientOptions: { retryConfig: { retries: 0 } },
  });
  return {
    app,
    slack,
    logs,
    port: app.port,
    async stop() {
      await app.stop();
      nock.cleanAll();
      slack.assertNoRefusals();
    },
  };
}
