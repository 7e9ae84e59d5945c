/**
 * The product as it runs in production (src/app.ts), in this process, with
 * Slack's Web API answered by the local fake and its database in a file.
 */
import { join } from 'node:path';
import { startApp, type RunningApp } from '../../src/app.ts';
import { parseConfig } from '../../src/config.ts';
import { createLogger } from '../../src/logger.ts';
import type { Cleanup } from './cleanup.ts';
import { SIGNING_SECRET, startFakeSlack, type RunningFakeSlack } from './fake-slack.ts';
import { LOOPBACK } from './loopback.ts';

/** Error lines of the product; not printed while a benchmark runs, shown at the end. */
export const productErrors: string[] = [];
const MAX_KEPT_ERRORS = 20;

export interface Product extends RunningFakeSlack {
  readonly app: RunningApp;
  /** `http://127.0.0.1:<port>` of the product. */
  readonly base: string;
}

/** The environment of the product, as main.ts would read it. */
export function productEnv(slackUrl: string, databasePath: string, port = 0): Record<string, string> {
  return {
    SLACK_BOT_TOKEN: 'xoxb-bench',
    SLACK_SIGNING_SECRET: SIGNING_SECRET,
    SLACK_API_URL: `${slackUrl}/api/`,
    PORT: String(port),
    HOST: LOOPBACK,
    DATABASE_URL: `sqlite:${databasePath}`,
    LOG_LEVEL: 'error',
    JOBS_POLL_SECONDS: '1',
  };
}

export async function startProduct(cleanup: Cleanup, dir: string, name: string, env: Record<string, string> = {}): Promise<Product> {
  const fake = await startFakeSlack(cleanup);
  const config = parseConfig({ ...productEnv(fake.url, join(dir, `${name}.db`)), ...env });
  const log = createLogger('error', (line) => {
    if (productErrors.length < MAX_KEPT_ERRORS) productErrors.push(line);
  });
  const app = await startApp(config, { log });
  cleanup.add(() => app.stop());
  return { ...fake, app, base: `http://${LOOPBACK}:${app.port}` };
}
