import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { ConfigError, parseConfig } from '../../src/config.ts';

const HTTP = { SLACK_BOT_TOKEN: 'xoxb-1-2-abc', SLACK_SIGNING_SECRET: '0123456789abcdef0123456789abcdef' };

const refusal = (env: Record<string, string>) => {
  try {
    parseConfig(env);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as Error).message;
  }
  throw new Error('accepted');
};

describe('configuration', () => {
  it('has the documented defaults', () => {
    const config = parseConfig(HTTP);
    expect(config).toMatchObject({
      port: 3000,
      host: '0.0.0.0',
      metricsPort: null,
      database: { engine: 'sqlite', path: 'data/jamjet.db' },
      jobsPollSeconds: 15,
      logLevel: 'info',
      adminUsers: [],
      slack: { apiUrl: 'https://slack.com/api/', appToken: undefined },
      github: { apiUrl: 'https://api.github.com', auth: null },
    });
  });

  it('reads Socket Mode, GitHub App auth, admins and sqlite::memory:', () => {
    const config = parseConfig({
      SLACK_BOT_TOKEN: 'xoxb-1',
      SLACK_APP_TOKEN: 'xapp-1-A1-abc',
      DATABASE_URL: 'sqlite::memory:',
      JAMJET_ADMIN_USERS: 'U012ABC, W0987XYZ',
      GITHUB_APP_ID: '42',
      GITHUB_APP_PRIVATE_KEY: '-----BEGIN RSA PRIVATE KEY-----\\nabc\\n-----END RSA PRIVATE KEY-----',
      GITHUB_APP_INSTALLATION_ID: '123',
      GITHUB_API_URL: 'https://ghe.example.com/api/v3/',
    });
    expect(config.slack.appToken).toBe('xapp-1-A1-abc');
    expect(config.database).toEqual({ engine: 'sqlite', path: ':memory:' });
    expect(config.adminUsers).toEqual(['U012ABC', 'W0987XYZ']);
    expect(config.github.apiUrl).toBe('https://ghe.example.com/api/v3');
    expect(config.github.auth).toMatchObject({ kind: 'app', appId: '42', installationId: '123' });
  });

  it.each([
    [{}, 'SLACK_BOT_TOKEN is required; it should look like xoxb-'],
    [{ SLACK_BOT_TOKEN: 'xoxp-user-token' }, 'SLACK_BOT_TOKEN should look like xoxb-'],
    [{ SLACK_BOT_TOKEN: 'xoxb-1' }, 'SLACK_SIGNING_SECRET is required in HTTP mode'],
    [{ ...HTTP, SLACK_APP_TOKEN: 'nope' }, 'SLACK_APP_TOKEN should look like xapp-'],
    [{ ...HTTP, PORT: 'eighty' }, 'PORT should be a port number'],
    [{ ...HTTP, PORT: '70000' }, 'PORT should be a port number'],
    [{ ...HTTP, DATABASE_URL: 'postgres://jamjet:s3cret-pass@db:5432' }, 'DATABASE_URL names no database'],
    [{ ...HTTP, DATABASE_URL: 'postgres://jamjet:s3cret-pass@:5432/jamjet' }, 'DATABASE_URL is not a valid PostgreSQL URL'],
    [{ ...HTTP, DATABASE_URL: 'postgresql:///jamjet' }, 'DATABASE_URL names no host'],
    [{ ...HTTP, DATABASE_URL: 'postgres://db/jamjet', DATABASE_POOL_SIZE: '1' }, 'DATABASE_POOL_SIZE should be a whole number of connections from 2 to 100'],
    [{ ...HTTP, DATABASE_URL: 'postgres://db/jamjet', DATABASE_POOL_SIZE: 'ten' }, 'DATABASE_POOL_SIZE should be a whole number of connections from 2 to 100'],
    [{ ...HTTP, DATABASE_URL: 'mysql://db/jamjet' }, 'DATABASE_URL should look like sqlite:'],
    [{ ...HTTP, DATABASE_URL: 'sqlite:' }, 'DATABASE_URL should look like sqlite:'],
    [{ ...HTTP, DATABASE_URL: 'sqlite:~/jamjet.db' }, 'DATABASE_URL starts its path with ~, which is not expanded here'],
    [{ ...HTTP, DATABASE_URL: 'sqlite: data/jamjet.db' }, 'DATABASE_URL has spaces around its path'],
    [{ ...HTTP, DATABASE_URL: 'sqlite:data/jamjet.db ' }, 'DATABASE_URL has spaces around its path'],
    [{ ...HTTP, SLACK_API_URL: 'not a url' }, 'SLACK_API_URL should be a URL'],
    [{ ...HTTP, JAMJET_ADMIN_USERS: 'alice' }, 'JAMJET_ADMIN_USERS should be comma-separated Slack user ids'],
    [{ ...HTTP, JOBS_POLL_SECONDS: '0' }, 'JOBS_POLL_SECONDS should be a whole number of seconds'],
    [{ ...HTTP, LOG_LEVEL: 'verbose' }, 'LOG_LEVEL should be one of debug, info, warn, error'],
    [{ ...HTTP, HOST: 'http://0.0.0.0' }, 'HOST should be an address to bind'],
    [{ ...HTTP, HOST: '10.0.0.1 ' }, 'HOST should be an address to bind'],
    [{ ...HTTP, METRICS_PORT: 'metrics' }, 'METRICS_PORT should be a port number'],
    [{ ...HTTP, METRICS_PORT: '-1' }, 'METRICS_PORT should be a port number'],
    [{ ...HTTP, METRICS_PORT: '3000' }, 'METRICS_PORT should differ from PORT'],
    [{ ...HTTP, PORT: '8080', METRICS_PORT: '8080' }, 'METRICS_PORT should differ from PORT'],
    [{ ...HTTP, GITHUB_APP_ID: '42' }, 'GITHUB_APP_PRIVATE_KEY is required when any GITHUB_APP_* variable is set'],
  ] as [Record<string, string>, string][])('refuses %j with one line naming the variable', (env, expected) => {
    const message = refusal(env);
    expect(message).toContain(expected);
    expect(message.split('\n')).toHaveLength(1);
    expect(message).toMatch(/^Configuration error: [A-Z_]+ /);
  });

  it('takes a PostgreSQL DATABASE_URL with its pool size, and refuses a broken one without repeating its password', () => {
    expect(parseConfig({ ...HTTP, DATABASE_URL: 'postgres://jamjet:s3cret-pass@db:5432/jamjet' }).database).toEqual({
      engine: 'postgres',
      url: 'postgres://jamjet:s3cret-pass@db:5432/jamjet',
      poolSize: 10,
    });
    expect(parseConfig({ ...HTTP, DATABASE_URL: 'postgresql://db/jamjet?sslmode=require', DATABASE_POOL_SIZE: '25' }).database).toMatchObject({
      engine: 'postgres',
      poolSize: 25,
    });
    for (const url of ['postgres://jamjet:s3cret-pass@db:5432', 'postgres://jamjet:s3cret-pass@:5432/jamjet', 'postgres://jamjet:s3cret-pass@db:99999/jamjet']) {
      const message = refusal({ ...HTTP, DATABASE_URL: url });
      expect(message).toMatch(/^Configuration error: DATABASE_URL /);
      expect(message).not.toContain('s3cret');
    }
  });

  it.each([
    ['127.0.0.1', '127.0.0.1'],
    ['::', '::'],
    ['::1', '::1'],
    ['localhost', 'localhost'],
    ['jamjet.internal.example.com', 'jamjet.internal.example.com'],
  ])('binds HOST=%s', (host, expected) => {
    expect(parseConfig({ ...HTTP, HOST: host }).host).toBe(expected);
  });

  it('serves metrics on METRICS_PORT when set', () => {
    expect(parseConfig({ ...HTTP, METRICS_PORT: '9464' }).metricsPort).toBe(9464);
    expect(parseConfig({ ...HTTP, PORT: '0', METRICS_PORT: '0' }).metricsPort).toBe(0);
    expect(parseConfig({ ...HTTP, METRICS_PORT: '' }).metricsPort).toBeNull();
  });

  it('stops npm start with that one line and exit code 1', () => {
    const root = fileURLToPath(new URL('../../', import.meta.url));
    // Run from an empty folder, so no developer's .env takes part; tsx by path, as that folder has no node_modules.
    const tsx = pathToFileURL(join(root, 'node_modules/tsx/dist/loader.mjs')).href;
    const result = spawnSync(process.execPath, ['--import', tsx, join(root, 'src/main.ts')], {
      cwd: mkdtempSync(join(tmpdir(), 'jamjet-config-')),
      env: { PATH: process.env.PATH ?? '', SLACK_BOT_TOKEN: 'xoxb-1', PORT: 'abc' },
      encoding: 'utf8',
      timeout: 20_000,
    });
    expect(result.status).toBe(1);
    expect(result.stderr.trim()).toBe('Configuration error: PORT should be a port number such as 3000.');
  });
});

describe('empty values', () => {
  it('count as unset, the way .env.example leaves them', () => {
    const config = parseConfig({ ...HTTP, SLACK_APP_TOKEN: '', GITHUB_TOKEN: '', PORT: '', JAMJET_ADMIN_USERS: '' });
    expect(config.slack.appToken).toBeUndefined();
    expect(config.github.auth).toBeNull();
    expect(config.port).toBe(3000);
    expect(refusal({ SLACK_BOT_TOKEN: '' })).toBe(
      'Configuration error: SLACK_BOT_TOKEN is required; it should look like xoxb-... (the Bot User OAuth Token of the Slack app).',
    );
  });
});
