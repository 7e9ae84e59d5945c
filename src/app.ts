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
import { createTokenSealer } from './github/token-seal.ts';
import { createGitHubUsers } from './github/users.ts';
import { registerGitHubHandlers } from './jobs/github-handlers.ts';
import type { GitHubPorts } from './services/github-connections.ts';
import { pauseUnbackedTargets } from './services/github-targets.ts';
import { forgetFormerAdminVotes } from './services/approvals.ts';
import { registerApprovalHandlers } from './jobs/approval-handlers.ts';
import { registerJobHandlers } from './jobs/handlers.ts';
import { registerPolicyEventHandlers } from './jobs/policy-event-handlers.ts';
import { registerPolicyHandlers } from './jobs/policy-handlers.ts';
import { JobQueue } from './jobs/queue.ts';
import { SlackPacer } from './jobs/slack-pace.ts';
import { JobTicker } from './jobs/ticker.ts';
import { countingFetch, createMetricsServer, githubWrites, setStateSource } from './metrics.ts';
import { observeAuditEvents, verifyChain } from './services/audit.ts';
import { operationalState } from './services/state.ts';
import { UsageRecorder } from './services/key-auth.ts';
import type { Config, DatabaseConfig } from './config.ts';
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
  /** Port of the Prometheus `/metrics` endpoint; null without `METRICS_PORT`. */
  readonly metricsPort: number | null;
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

/** A listen failure as one sentence naming the setting, or the error itself when it is not one we can explain. */
function listenError(error: NodeJS.ErrnoException, setting: 'PORT' | 'METRICS_PORT', port: number, host: string): Error {
  if (error.code === 'EADDRINUSE') return new StartupError(`${setting} ${port} is already in use; stop what uses it or set another ${setting}.`);
  if (error.code === 'EADDRNOTAVAIL' || error.code === 'ENOTFOUND' || error.code === 'EAI_AGAIN') {
    return new StartupError(`HOST ${host} is not an address of this machine; set HOST to one of its addresses, or 0.0.0.0 for all.`);
  }
  if (error.code === 'EACCES') return new StartupError(`${setting} ${port} needs privileges this process does not have; set a ${setting} above 1023.`);
  return error;
}

/** The scope an app-level token needs to open Socket Mode connections. */
const SOCKET_SCOPE = 'connections:write';

/**
 * Checks SLACK_APP_TOKEN before Socket Mode starts: Slack's
 * `apps.connections.open` (https://api.slack.com/methods/apps.connections.open)
 * answers `invalid_auth`, `not_authed` or `missing_scope` (with `needed`) for a
 * token that can never connect, where the Socket Mode client would retry
 * forever. Throws a StartupError naming SLACK_APP_TOKEN and what is missing.
 */
async function checkAppToken(appToken: string, options: WebClientOptions): Promise<void> {
  if (!appToken.startsWith('xapp-')) {
    throw new StartupError(
      `SLACK_APP_TOKEN is not an app-level token (it should start with xapp-); create one with the ${SOCKET_SCOPE} scope under Basic Information, App-Level Tokens.`,
    );
  }
  try {
    await new WebClient(appToken, { ...options, retryConfig: { retries: 0 } }).apps.connections.open();
  } catch (error) {
    const data = (error as { data?: { error?: string; needed?: string } }).data;
    if (data?.error === 'missing_scope') {
      throw new StartupError(
        `SLACK_APP_TOKEN lacks the ${data.needed ?? SOCKET_SCOPE} scope; add it to the app-level token under Basic Information, App-Level Tokens.`,
      );
    }
    throw new StartupError(
      data?.error
        ? `Slack refused SLACK_APP_TOKEN (${data.error}); create an app-level token with the ${SOCKET_SCOPE} scope under Basic Information, App-Level Tokens.`
        : `Cannot reach Slack at SLACK_API_URL to open Socket Mode with SLACK_APP_TOKEN: ${(error as Error).message}.`,
    );
  }
}

/**
 * Opens the database of `DATABASE_URL`; any failure (a folder that cannot be
 * created, a path under a file, a file that is not a database) becomes one
 * StartupError sentence naming DATABASE_URL and the path.
 */
/**
 * Opens the database `DATABASE_URL` names. SQLite is opened in process; the
 * PostgreSQL driver is loaded only for a PostgreSQL URL. Throws
 * StartupError with one line naming the variable (never the password).
 */
async function openDatabase(config: DatabaseConfig, log: Logger): Promise<Db> {
  if (config.engine === 'sqlite') {
    // Two processes opening a new file at once: switching it to WAL needs a lock SQLite does not
    // wait for (SQLITE_BUSY at once), so the second tries again for a few seconds.
    for (let attempt = 1; ; attempt++) {
      try {
        return openDb(config.path);
      } catch (error) {
        if ((error as { code?: string }).code === 'SQLITE_BUSY' && attempt < OPEN_ATTEMPTS) {
          await new Promise((resolve) => setTimeout(resolve, 50 * attempt));
          continue;
        }
        throw new StartupError(`Cannot open the database of DATABASE_URL (sqlite:${config.path}): ${databaseReason(error, config.path)}.`);
      }
    }
  }
  const { openPostgres } = await import('./db/postgres.ts');
  const dbLog = log.child({ component: 'database' });
  try {
    return await openPostgres(config.url, {
      poolSize: config.poolSize,
      log: { warn: ({ err, ...details }, message) => dbLog.warn(message, { ...details, error: err }) },
    });
  } catch (error) {
    throw new StartupError(`Cannot reach the PostgreSQL database of DATABASE_URL (${describeDatabase(config)}): ${postgresReason(error)}.`);
  }
}

/** How often opening an SQLite file another process holds busy is tried (about 5 s in all). */
const OPEN_ATTEMPTS = 15;

/** Where a database is, for messages and logs: the SQLite path, or PostgreSQL's host, port and database without user or password. */
export function describeDatabase(config: DatabaseConfig): string {
  if (config.engine === 'sqlite') return `sqlite:${config.path}`;
  const url = new URL(config.url);
  return `postgres://${url.host || url.searchParams.get('host') || 'localhost'}${url.pathname}`;
}

/** Why PostgreSQL did not answer, in words: the socket's codes and the server's SQLSTATEs that an operator can act on. */
function postgresReason(error: unknown): string {
  const { code, message } = error as { code?: string; message?: string };
  switch (code) {
    case 'ECONNREFUSED':
      return 'the connection was refused (is the server running, and is that its port?)';
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return 'that host name does not resolve';
    case 'ETIMEDOUT':
      return 'the server did not answer in time';
    case '28P01':
    case '28000':
      return 'the server refused the user name or password';
    case '3D000':
      return 'there is no such database on that server (create it first)';
    case '42501':
      return 'that user may not connect to or use the database';
    default:
      // pg's messages name hosts and databases, never the password.
      return `${code ? `${code}: ` : ''}${(message ?? String(error)).split('\n')[0]}`;
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
  const { code, message, syscall, what } = error as { code?: string; message?: string; syscall?: string; what?: string };
  const folder = dirname(path);
  if (code === 'ENOTFILE') return `that path is ${what}, not a database file`;
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
  const db = await openDatabase(config.database, log);
  let server: Server | null = null;
  let metricsServer: Server | null = null;
  let startedTicker: JobTicker | null = null;
  let removeStateSource = () => {};
  try {
    const applied = await migrateToLatest(db.kysely).catch((error: unknown) => {
      // migrateToLatest names the failing migration; the migrations of this start roll back together.
      const failure = (error as Error).message.split('\n')[0]!.replace(/\.$/, '');
      throw new StartupError(
        `${failure} (DATABASE_URL ${describeDatabase(config.database)}); none of this start's migrations was applied: fix the database or restore its backup, then start again.`,
      );
    });
    if (applied.length > 0) log.info('database migrated', { applied });
    const jobs = new JobQueue(db, now, log.child({ component: 'jobs' }));
    const services: ServiceContext = { db, now, jobs };
    const usage = new UsageRecorder(db);
    // Each audit event is also one log line, for log shippers: enough to check its hash without the database.
    const auditLog = log.child({ component: 'audit', audit: true });
    observeAuditEvents(db, (e) =>
      auditLog.info('audit event', {
        event_id: e.id,
        project_id: e.projectId,
        actor: e.actor,
        action: e.action,
        details: e.details,
        at: e.at,
        prev_hash: e.prevHash,
        hash: e.hash,
      }),
    );
    // Someone taken out of JAMJET_ADMIN_USERS no longer backs the targets they linked as one.
    const unbacked = await pauseUnbackedTargets(db, now(), config.adminUsers);
    if (unbacked.length > 0) log.warn('github targets paused: their linker is no longer Admin or Owner', { targets: unbacked.map((t) => t.id) });
    // Likewise their approvals of pending requests count only by the role they hold in the project (withdrawn without one).
    const formerAdminVotes = await forgetFormerAdminVotes(db, config.adminUsers, jobs, now());
    if (formerAdminVotes > 0) log.warn('approvals by people no longer in JAMJET_ADMIN_USERS count by their project role or are withdrawn', { votes: formerAdminVotes });
    const store = createGitHubSecretStore({
      apiUrl: config.github.apiUrl,
      auth: config.github.auth,
      octokitOptions: options.githubOctokitOptions,
    });
    const secrets = {
      ...store,
      write: async (...args: Parameters<typeof store.write>) => {
        const result = await store.write(...args);
        githubWrites.inc({ outcome: result.ok ? 'ok' : result.code });
        return result;
      },
    };
    // User tokens are sealed under a key derived from the bot token, which the database does not hold.
    const github: GitHubPorts = {
      store: secrets,
      users: createGitHubUsers({ webUrl: config.github.webUrl, apiUrl: config.github.apiUrl, clientId: config.github.clientId }),
      sealer: createTokenSealer(config.slack.botToken),
    };

    const clientOptions: WebClientOptions = {
      slackApiUrl: config.slack.apiUrl,
      // A few quick retries only: a rate limit or an outage goes back to the job
      // queue (which honours Retry-After) or to the person, instead of blocking.
      retryConfig: { retries: 2, factor: 2, minTimeout: 500, maxTimeout: 2000 },
      rejectRateLimitedCalls: true,
      logger: boltLogger(log, config.logLevel),
      // Counts every Web API request by method and outcome (jamjet_slack_api_calls_total).
      fetch: countingFetch(),
      ...options.slackClientOptions,
    };
    // The same quick retries: a wrong token or URL stops start-up within seconds.
    const identity = await whoAmI(new WebClient(config.slack.botToken, clientOptions));
    if (config.slack.appToken) await checkAppToken(config.slack.appToken, clientOptions);
    const slack = createSlackApp({
      config,
      services,
      secrets,
      github,
      usage,
      kick: () => jobs.kick(),
      log,
      identity,
      commands: COMMANDS,
      clientOptions,
    });
    const pacer = new SlackPacer(db, now, log.child({ component: 'slack-pace' }));
    registerJobHandlers(jobs, { services, chat: slack.surface, usage, log, pacer });
    registerApprovalHandlers(jobs, { services, chat: slack.surface, channels: slack.surface, usage, log, pacer });
    registerPolicyEventHandlers(jobs, { services, chat: slack.surface, channels: slack.surface, log, pacer });
    const stopGitHubTimers = registerGitHubHandlers(jobs, { services, chat: slack.surface, github, log, pacer });
    registerPolicyHandlers(jobs, { services, chat: slack.surface, channels: slack.surface, log, pacer });

    server = createHttpServer(
      {
        slack: slack.events,
        api: createApiHandler({ services, usage, kick: () => jobs.kick() }),
        healthy: () => db.ping().then(
          () => true,
          () => false,
        ),
        // In Socket Mode the bot receives nothing until Slack's hello: not healthy before.
        slackReady: () => slack.ready(),
      },
      log,
    );
    const listening = server;
    await new Promise<void>((resolve, reject) => {
      listening.once('error', (error: NodeJS.ErrnoException) => reject(listenError(error, 'PORT', config.port, config.host)));
      listening.listen(config.port, config.host, () => resolve());
    });
    const port = (listening.address() as AddressInfo).port;
    let metricsPort: number | null = null;
    if (config.metricsPort !== null) {
      const metrics = await createMetricsServer({ port: config.metricsPort, host: config.host }).catch((error: NodeJS.ErrnoException) => {
        throw listenError(error, 'METRICS_PORT', config.metricsPort!, config.host);
      });
      metricsServer = metrics.server;
      metricsPort = metrics.port;
      removeStateSource = setStateSource(async () => await operationalState(db, now()));
    }
    // Jobs do not wait for Socket Mode: expiries and reminders go on while Slack's hello is late (the Web API is separate).
    const ticker = new JobTicker(jobs, config.jobsPollSeconds, log);
    startedTicker = ticker;
    await ticker.start();
    if (!slack.receiver) {
      log.info('opening the Socket Mode connection; /healthz answers 503 until Slack says hello');
      await slack.app.start();
    }
    const flusher = setInterval(() => {
      usage.flush().catch((error: unknown) => log.warn('key last-use times not saved; trying again', { error }));
    }, USAGE_FLUSH_MS);
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
      host: config.host,
      port,
      metrics_port: metricsPort,
      mode: slack.receiver ? 'http' : 'socket',
      team: identity.teamId,
      database: describeDatabase(config.database),
    });

    let stopped = false;
    const metricsListening = metricsServer;
    return {
      port,
      metricsPort,
      db,
      services,
      slack,
      jobs,
      usage,
      async stop() {
        if (stopped) return;
        stopped = true;
        await ticker.stop();
        stopGitHubTimers();
        clearInterval(flusher);
        await jobs.runDue().catch(() => 0);
        jobs.close();
        if (!slack.receiver) await slack.app.stop();
        await new Promise<void>((resolve) => {
          listening.close(() => resolve());
          listening.closeAllConnections();
        });
        // Commands already answered may still be sending their DMs or writing to GitHub.
        await slack.settled();
        if (metricsListening) {
          removeStateSource();
          await new Promise<void>((resolve) => {
            metricsListening.close(() => resolve());
            metricsListening.closeAllConnections();
          });
        }
        await usage.flush();
        observeAuditEvents(db, null);
        await db.close();
      },
    };
  } catch (error) {
    await startedTicker?.stop();
    server?.close();
    metricsServer?.close();
    removeStateSource();
    await db.close();
    throw error;
  }
}
