/**
 * The running product: database, services, Slack, the HTTP server. Built by
 * main.ts from the configuration; tests build it the same way with Slack's
 * Web API pointed at nock.
 */
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { dirname } from 'node:path';
import { WebClient, type WebClientOptions } from '@slack/web-api';
import { COMMANDS } from '../commands/index.ts';
import { createHttpServer } from './api/server.ts';
import { createApiHandler } from './api/v1.ts';
import { createGitHubSecretStore } from './github/index.ts';
import { registerApprovalHandlers } from './jobs/approval-handlers.ts';
import { registerJobHandlers } from './jobs/handlers.ts';
import { JobQueue } from './jobs/queue.ts';
import { JobTicker } from './jobs/ticker.ts';
import { verifyChain } from './services/audit.ts';
import { UsageRecorder } from './services/key-auth.ts';
import type { Config } from './config.ts';
import { openDb, type Db } from './db/database.ts';
import { migrateToLatest } from './db/migrate.ts';
import { boltLogger, createLogger, type Logger } from './logger.ts';
import type { ServiceContext } from './services/context.ts';
import { createSlackApp, type SlackApp, type SlackIdentity } from './slack/app.ts';

export interface AppOptions {
  readonly log?: Logger;
  readonly now?: () => number;
  /** Extra Web API client options (tests turn retries off). */
  readonly slackClientOptions?: WebClientOptions;
  /** Extra Octokit options. */
  readonly githubOctokitOptions?: Record<string, unknown>;
}

/** How often the batched last-use times of API keys are written. */
const USAGE_FLUSH_MS = 5_000;

export interface RunningApp {
  readonly port: number;
  readonly db: Db;
  readonly services: ServiceContext;
  readonly slack: SlackApp;
  readonly jobs: JobQueue;
  readonly usage: UsageRecorder;
  stop(): Promise<void>;
}

export class StartupError extends Error {
  override name = 'StartupError';
}

async function whoAmI(client: WebClient): Promise<SlackIdentity> {
  try {
    const auth = await client.auth.test();
    return {
      teamId: auth.team_id ?? '',
      enterpriseId: auth.is_enterprise_install ? (auth.enterprise_id ?? null) : null,
      botUserId: auth.user_id ?? '',
      botId: auth.bot_id ?? '',
    };
  } catch (error) {
    const code = (error as { data?: { error?: string } }).data?.error;
    throw new StartupError(
      code
        ? `Slack refused SLACK_BOT_TOKEN (${code}); copy the Bot User OAuth Token from the app's OAuth & Permissions page.`
        : `Cannot reach Slack at SLACK_API_URL: ${(error as Error).message}.`,
    );
  }
}

/**
 * Opens the database of `DATABASE_URL`; any failure (a folder that cannot be
 * created, a path under a file, a file that is not a database) becomes one
 * StartupError sentence naming DATABASE_URL and the path.
 */
function openDatabase(path: string): Db {
  try {
    return openDb(path);
  } catch (error) {
    throw new StartupError(`Cannot open the database of DATABASE_URL (sqlite:${path}): ${databaseReason(error, path)}.`);
  }
}

const FILE_SYSTEM_REASONS: Record<string, string> = {
  EACCES: 'permission denied',
  EPERM: 'not permitted',
  EROFS: 'read-only file system',
  ENOSPC: 'no space left',
};

/** Why opening failed, in words: the file system's codes (`syscall` mkdir, chmod) and SQLite's. */
function databaseReason(error: unknown, path: string): string {
  const { code, message, syscall } = error as { code?: string; message?: string; syscall?: string };
  const folder = dirname(path);
  if (code === 'ENOTDIR' || (code === 'EEXIST' && syscall === 'mkdir')) return `a part of the folder ${folder} is a file, not a folder`;
  if (syscall === 'mkdir') return `the folder ${folder} cannot be created (${FILE_SYSTEM_REASONS[code ?? ''] ?? code})`;
  if (syscall) return `${syscall} failed on the file (${FILE_SYSTEM_REASONS[code ?? ''] ?? code})`;
  switch (code) {
    case 'SQLITE_NOTADB':
      return 'the file exists but is not an SQLite database';
    case 'SQLITE_CANTOPEN':
      return 'SQLite cannot open that path (is it a folder, or a folder without write permission?)';
    default:
      return `${code ? `${code}: ` : ''}${message ?? String(error)}`;
  }
}

export async function startApp(config: Config, options: AppOptions = {}): Promise<RunningApp> {
  const log = options.log ?? createLogger(config.logLevel);
  const now = options.now ?? Date.now;
  const db = openDatabase(config.databasePath);
  let server: Server | null = null;
  try {
    const applied = await migrateToLatest(db.kysely).catch((error: unknown) => {
      // migrateToLatest names the failing migration; the ones before it stay applied.
      const failure = (error as Error).message.split('\n')[0]!.replace(/\.$/, '');
      throw new StartupError(
        `${failure} (DATABASE_URL sqlite:${config.databasePath}); the migrations before it stay applied: fix the database or restore its backup, then start again.`,
      );
    });
    if (applied.length > 0) log.info('database migrated', { applied });
    const jobs = new JobQueue(db, now, log.child({ component: 'jobs' }));
    const services: ServiceContext = { db, now, jobs };
    const usage = new UsageRecorder(db);
    const secrets = createGitHubSecretStore({
      apiUrl: config.github.apiUrl,
      auth: config.github.auth,
      octokitOptions: options.githubOctokitOptions,
    });

    const clientOptions: WebClientOptions = {
      slackApiUrl: config.slack.apiUrl,
      // A few quick retries only: a rate limit or an outage goes back to the job
      // queue (which honours Retry-After) or to the person, instead of blocking.
      retryConfig: { retries: 2, factor: 2, minTimeout: 500, maxTimeout: 2000 },
      rejectRateLimitedCalls: true,
      logger: boltLogger(log, config.logLevel),
      ...options.slackClientOptions,
    };
    // The same quick retries: a wrong token or URL stops start-up within seconds.
    const identity = await whoAmI(new WebClient(config.slack.botToken, clientOptions));
    const slack = createSlackApp({
      config,
      services,
      secrets,
      usage,
      kick: () => jobs.kick(),
      log,
      identity,
      commands: COMMANDS,
      clientOptions,
    });
    registerJobHandlers(jobs, { services, chat: slack.surface, usage, log });
    registerApprovalHandlers(jobs, { services, chat: slack.surface, usage, log });

    server = createHttpServer(
      {
        slack: slack.receiver ? slack.receiver.requestListener : null,
        api: createApiHandler({ services, usage, kick: () => jobs.kick() }),
        healthy: () => {
          try {
            db.sqlite.prepare('SELECT 1').get();
            return true;
          } catch {
            return false;
          }
        },
      },
      log,
    );
    const listening = server;
    await new Promise<void>((resolve, reject) => {
      listening.once('error', (error: NodeJS.ErrnoException) =>
        reject(error.code === 'EADDRINUSE' ? new StartupError(`PORT ${config.port} is already in use; stop what uses it or set another PORT.`) : error),
      );
      listening.listen(config.port, () => resolve());
    });
    const port = (listening.address() as AddressInfo).port;
    if (!slack.receiver) await slack.app.start();
    const ticker = new JobTicker(jobs, config.jobsPollSeconds, log);
    await ticker.start();
    const flusher = setInterval(() => usage.flush(), USAGE_FLUSH_MS);
    flusher.unref();
    // Check the audit trail in the background: a broken chain means someone edited the file.
    void verifyChain(db).then(
      ({ brokenAt, checked }) =>
        brokenAt === null
          ? log.info('audit trail verified', { events: checked })
          : log.error('audit trail broken: an event was changed, removed or inserted outside the bot', { event: brokenAt }),
      (error: unknown) => log.warn('audit trail not verified', { error }),
    );
    log.info('jamjet is running', {
      port,
      mode: slack.receiver ? 'http' : 'socket',
      team: identity.teamId,
      database: config.databasePath,
    });

    let stopped = false;
    return {
      port,
      db,
      services,
      slack,
      jobs,
      usage,
      async stop() {
        if (stopped) return;
        stopped = true;
        await ticker.stop();
        clearInterval(flusher);
        await jobs.runDue().catch(() => 0);
        if (!slack.receiver) await slack.app.stop();
        await new Promise<void>((resolve) => {
          listening.close(() => resolve());
          listening.closeAllConnections();
        });
        usage.flush();
        await db.close();
      },
    };
  } catch (error) {
    server?.close();
    await db.close();
    throw error;
  }
}
