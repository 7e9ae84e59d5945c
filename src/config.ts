/**
 * The one reader of process.env. Read once at start-up, validated with zod;
 * a bad variable stops start-up with one line that names it.
 */
import { existsSync } from 'node:fs';
import { z } from 'zod';

/**
 * A whole number read from the environment's text, from `min` to `max`
 * inclusive. Every failure says `message` (a value above `max` may say
 * `aboveMax` instead), so one bad variable gives one sentence.
 */
function wholeNumber(min: number, max: number, message: string, aboveMax: string = message) {
  return z.coerce
    .number({ error: message })
    .int({ error: message })
    .min(min, { error: message })
    .max(max, { error: aboveMax });
}

const schema = z
  .object({
    SLACK_BOT_TOKEN: z.string().regex(/^xoxb-[\w-]+$/, {
      error: 'should look like xoxb-...',
    }),
    SLACK_APP_TOKEN: z.string().regex(/^xapp-[\w-]+$/, { error: 'should look like xapp-...' }).optional(),
    SLACK_SIGNING_SECRET: z.string().regex(/^[0-9a-f]{16,}$/i, { error: 'should be the hex signing secret from the Slack app settings' }).optional(),
    SLACK_API_URL: z
      .url({ error: 'should be a URL such as https://slack.com/api/' })
      .default('https://slack.com/api/')
      .transform((u) => (u.endsWith('/') ? u : `${u}/`)),
    PORT: wholeNumber(0, 65535, 'should be a port number such as 3000').default(3000),
    HOST: z
      .string()
      .regex(/^(?:[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*|[0-9A-Fa-f:.]*:[0-9A-Fa-f:.]*)$/, {
        error: 'should be an address to bind such as 0.0.0.0, 127.0.0.1, :: or a host name',
      })
      .default('0.0.0.0'),
    METRICS_PORT: wholeNumber(0, 65535, 'should be a port number such as 9464').optional(),
    DATABASE_URL: z
      .string()
      // The URL itself is never repeated: a PostgreSQL URL carries its password.
      .refine((url) => !/^postgres(?:ql)?:/i.test(url) || postgresProblem(url) === null, {
        error: (issue) => postgresProblem(String(issue.input)) ?? 'is not a valid PostgreSQL URL',
        abort: true,
      })
      .regex(/^(?:sqlite:.+|postgres(?:ql)?:.+)$/i, {
        error: 'should look like sqlite:data/jamjet.db, sqlite::memory: or postgres://user:password@host:5432/jamjet',
        abort: true,
      })
      .refine((url) => !url.startsWith('sqlite:~'), {
        error: 'starts its path with ~, which is not expanded here; write the full path such as sqlite:/home/jamjet/data/jamjet.db',
        abort: true,
      })
      .refine((url) => !/^sqlite:\s|\s$/.test(url), { error: 'has spaces around its path; remove them' })
      .default('sqlite:data/jamjet.db'),
    DATABASE_POOL_SIZE: wholeNumber(2, 100, 'should be a whole number of connections from 2 to 100, such as 10').default(10),
    GITHUB_TOKEN: z.string().min(1).optional(),
    GITHUB_APP_ID: z.string().regex(/^\d+$/, { error: 'should be the numeric GitHub App id' }).optional(),
    GITHUB_APP_PRIVATE_KEY: z.string().includes('PRIVATE KEY', { error: 'should be the PEM private key of the GitHub App' }).optional(),
    GITHUB_APP_INSTALLATION_ID: z.string().regex(/^\d+$/, { error: 'should be the numeric installation id of the GitHub App' }).optional(),
    GITHUB_API_URL: z
      .url({ error: 'should be a URL such as https://api.github.com' })
      .default('https://api.github.com')
      .transform((u) => u.replace(/\/+$/, '')),
    GITHUB_CLIENT_ID: z
      .string()
      .regex(/^[\w.-]{1,100}$/, { error: 'should be the Client ID of a GitHub App or OAuth App with device flow enabled' })
      .optional(),
    GITHUB_WEB_URL: z
      .url({ error: 'should be a URL such as https://github.com' })
      .transform((u) => u.replace(/\/+$/, ''))
      .optional(),
    JAMJET_ADMIN_USERS: z
      .string()
      .default('')
      .transform((s) => s.split(/[\s,]+/).filter(Boolean))
      .pipe(
        z.array(z.string().regex(/^[UW][A-Z0-9]{2,}$/, { error: 'should be comma-separated Slack user ids such as U012ABC' })),
      ),
    JOBS_POLL_SECONDS: wholeNumber(1, 3600, 'should be a whole number of seconds such as 15', 'should be at most 3600').default(15),
    LOG_LEVEL: z
      .enum(['debug', 'info', 'warn', 'error'], { error: 'should be one of debug, info, warn, error' })
      .default('info'),
  })
  .superRefine((env, ctx) => {
    if (env.METRICS_PORT !== undefined && env.METRICS_PORT !== 0 && env.METRICS_PORT === env.PORT) {
      ctx.addIssue({
        code: 'custom',
        path: ['METRICS_PORT'],
        message: 'should differ from PORT: metrics are served on their own port, kept off the public one',
      });
    }
    if (!env.SLACK_APP_TOKEN && !env.SLACK_SIGNING_SECRET) {
      ctx.addIssue({
        code: 'custom',
        path: ['SLACK_SIGNING_SECRET'],
        message: 'is required in HTTP mode (set SLACK_APP_TOKEN=xapp-... for Socket Mode instead)',
      });
    }
    const app = [env.GITHUB_APP_ID, env.GITHUB_APP_PRIVATE_KEY, env.GITHUB_APP_INSTALLATION_ID];
    if (app.some(Boolean) && !app.every(Boolean)) {
      const missing = ['GITHUB_APP_ID', 'GITHUB_APP_PRIVATE_KEY', 'GITHUB_APP_INSTALLATION_ID'].filter((_, i) => !app[i]);
      ctx.addIssue({
        code: 'custom',
        path: [missing[0]!],
        message: 'is required when any GITHUB_APP_* variable is set (a GitHub App needs all three)',
      });
    }
  });

const REQUIRED_HINTS: Record<string, string> = {
  SLACK_BOT_TOKEN: '; it should look like xoxb-... (the Bot User OAuth Token of the Slack app)',
};

export type GitHubAuthConfig =
  | { readonly kind: 'token'; readonly token: string }
  | { readonly kind: 'app'; readonly appId: string; readonly privateKey: string; readonly installationId: string };

export interface Config {
  readonly slack: {
    readonly botToken: string;
    readonly appToken: string | undefined;
    readonly signingSecret: string | undefined;
    readonly apiUrl: string;
  };
  readonly port: number;
  /** Address the HTTP server (and the metrics server) binds. */
  readonly host: string;
  /** Port of the Prometheus `/metrics` endpoint; null: no endpoint. */
  readonly metricsPort: number | null;
  readonly database: DatabaseConfig;
  readonly github: {
    readonly apiUrl: string;
    readonly auth: GitHubAuthConfig | null;
    /** Turns on `github connect` (GitHub's OAuth device flow); null: only JAMJET_ADMIN_USERS link targets. */
    readonly clientId: string | null;
    /** Where the device flow runs: https://github.com, or the GHES host. No trailing slash. */
    readonly webUrl: string;
  };
  readonly adminUsers: readonly string[];
  readonly jobsPollSeconds: number;
  readonly logLevel: 'debug' | 'info' | 'warn' | 'error';
}

export class ConfigError extends Error {
  override name = 'ConfigError';
}

/** Validates an environment; throws ConfigError with one line naming the variable. */
export function parseConfig(env: Record<string, string | undefined>): Config {
  // `NAME=` in .env or the environment means "not set", as .env.example writes it.
  const given = Object.fromEntries(Object.entries(env).filter(([, value]) => value !== undefined && value !== ''));
  const parsed = schema.safeParse(given);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const variable = String(issue.path[0] ?? 'environment');
    const missing = issue.code === 'invalid_type' && given[variable] === undefined;
    const message = missing ? `is required${REQUIRED_HINTS[variable] ?? ''}` : issue.message;
    throw new ConfigError(`Configuration error: ${variable} ${message}.`);
  }
  const e = parsed.data;
  const github: GitHubAuthConfig | null = e.GITHUB_APP_ID
    ? {
        kind: 'app',
        appId: e.GITHUB_APP_ID,
        privateKey: e.GITHUB_APP_PRIVATE_KEY!.replace(/\\n/g, '\n'),
        installationId: e.GITHUB_APP_INSTALLATION_ID!,
      }
    : e.GITHUB_TOKEN
      ? { kind: 'token', token: e.GITHUB_TOKEN }
      : null;
  return {
    slack: {
      botToken: e.SLACK_BOT_TOKEN,
      appToken: e.SLACK_APP_TOKEN,
      signingSecret: e.SLACK_SIGNING_SECRET,
      apiUrl: e.SLACK_API_URL,
    },
    port: e.PORT,
    host: e.HOST,
    metricsPort: e.METRICS_PORT ?? null,
    database: databaseConfig(e.DATABASE_URL, e.DATABASE_POOL_SIZE),
    github: {
      apiUrl: e.GITHUB_API_URL,
      auth: github,
      clientId: e.GITHUB_CLIENT_ID ?? null,
      webUrl: e.GITHUB_WEB_URL ?? webUrlFor(e.GITHUB_API_URL),
    },
    adminUsers: e.JAMJET_ADMIN_USERS,
    jobsPollSeconds: e.JOBS_POLL_SECONDS,
    logLevel: e.LOG_LEVEL,
  };
}

/**
 * Where the data lives: an SQLite file (the embedded default; `:memory:` for
 * tests), or a PostgreSQL server that several replicas share, reached with a
 * pool of at most `poolSize` connections per replica.
 */
export type DatabaseConfig =
  | { readonly engine: 'sqlite'; readonly path: string }
  | { readonly engine: 'postgres'; readonly url: string; readonly poolSize: number };

function databaseConfig(url: string, poolSize: number): DatabaseConfig {
  return /^postgres(?:ql)?:/i.test(url) ? { engine: 'postgres', url, poolSize } : { engine: 'sqlite', path: url.slice('sqlite:'.length) };
}

/**
 * What is wrong with a PostgreSQL URL (`postgres://user:password@host:port/database`,
 * as libpq and node-postgres read it), in words that never repeat the URL
 * or its password; null when it can be used.
 */
function postgresProblem(url: string): string | null {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return 'is not a valid PostgreSQL URL; it should look like postgres://user:password@host:5432/jamjet (special characters in the password percent-encoded)';
  }
  if (!parsed.hostname && !parsed.searchParams.get('host')) return 'names no host; it should look like postgres://user:password@host:5432/jamjet';
  if (parsed.pathname.replace(/^\//, '') === '') return 'names no database; add it after the host, as in postgres://user:password@host:5432/jamjet';
  return null;
}

/**
 * GitHub's web address for an API base: https://github.com for
 * https://api.github.com, and the same host without `/api/v3` for GitHub
 * Enterprise Server (https://ghe.example.com/api/v3 -> https://ghe.example.com).
 */
export function webUrlFor(apiUrl: string): string {
  const url = new URL(apiUrl);
  if (url.hostname === 'api.github.com') return 'https://github.com';
  return `${url.origin}${url.pathname.replace(/\/api\/v3\/?$/, '').replace(/\/+$/, '')}`;
}

/**
 * Reads `envFile` into process.env when it exists (the real environment
 * wins); a file that cannot be read (a folder, no permission) throws
 * ConfigError with one line naming it.
 */
function readEnvFile(envFile: string): void {
  if (!existsSync(envFile)) return;
  try {
    process.loadEnvFile(envFile);
  } catch (error) {
    const { code } = error as { code?: string };
    const reason = code === 'EACCES' || code === 'EPERM' ? 'permission denied' : 'it is not a readable file of NAME=value lines';
    throw new ConfigError(`Configuration error: ${envFile} cannot be read (${reason}); fix or remove it, or set the variables in the environment.`);
  }
}

/** Reads `.env` when present (without overriding the real environment), then validates. */
export function loadConfig(envFile = '.env'): Config {
  readEnvFile(envFile);
  return parseConfig(process.env);
}

/**
 * `DATABASE_URL` alone (the environment, then `.env` when present), for the
 * operator's scripts (backup, audit:verify) that need no Slack settings.
 * Returns the SQLite path (`:memory:` for `sqlite::memory:`); throws
 * ConfigError with one line naming the variable.
 */
export function loadDatabasePath(envFile = '.env'): string {
  readEnvFile(envFile);
  const parsed = schema.shape.DATABASE_URL.safeParse(process.env.DATABASE_URL || undefined);
  if (!parsed.success) throw new ConfigError(`Configuration error: DATABASE_URL ${parsed.error.issues[0]!.message}.`);
  if (/^postgres(?:ql)?:/i.test(parsed.data)) {
    throw new ConfigError(
      'Configuration error: DATABASE_URL is a PostgreSQL database; this script works on SQLite files. Back up and check PostgreSQL with its own tools (pg_dump, pg_restore).',
    );
  }
  return parsed.data.slice('sqlite:'.length);
}
