import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import BetterSqlite3 from 'better-sqlite3';
import nock from 'nock';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { StartupError } from '../../src/app.ts';
import { startTestApp } from '../helpers/app.ts';
import { FakeSlack } from '../helpers/slack.ts';

afterEach(() => {
  nock.cleanAll();
});

describe('start-up', () => {
  it('stops with one clear sentence when Slack refuses the bot token', async () => {
    const slack = new FakeSlack().on('auth.test', () => ({ ok: false, error: 'invalid_auth' }));
    await expect(startTestApp({ slack })).rejects.toThrow(
      "Slack refused SLACK_BOT_TOKEN (invalid_auth); copy the Bot User OAuth Token from the app's OAuth & Permissions page.",
    );
  });

  it('stops with one clear sentence when PORT is taken', async () => {
    const taken = createServer();
    await new Promise<void>((resolve) => taken.listen(0, resolve));
    const port = (taken.address() as AddressInfo).port;
    try {
      await expect(startTestApp({ env: { PORT: String(port) } })).rejects.toThrow(`PORT ${port} is already in use`);
    } finally {
      taken.close();
    }
  });
});

describe('start-up with a database that cannot be used', () => {
  const dir = mkdtempSync(join(tmpdir(), 'jamjet-startup-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const refusal = async (databaseUrl: string): Promise<string> => {
    const error: unknown = await startTestApp({ env: { DATABASE_URL: databaseUrl } }).then(
      async (running) => {
        await running.stop();
        throw new Error('the app started');
      },
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(StartupError);
    const message = (error as Error).message;
    expect(message.split('\n')).toHaveLength(1);
    return message;
  };

  it('creates the folder and the database readable by their owner only', async () => {
    const file = join(dir, 'new-folder', 'jamjet.db');
    const t = await startTestApp({ env: { DATABASE_URL: `sqlite:${file}` } });
    await t.stop();
    expect(statSync(join(dir, 'new-folder')).mode & 0o777).toBe(0o700);
    expect(statSync(file).mode & 0o777).toBe(0o600);
  });

  it('names DATABASE_URL when the folder cannot be created', async () => {
    // /sys refuses new folders, even to root.
    const message = await refusal('sqlite:/sys/jamjet-nowhere/jamjet.db');
    expect(message).toMatch(
      /^Cannot open the database of DATABASE_URL \(sqlite:\/sys\/jamjet-nowhere\/jamjet\.db\): the folder \/sys\/jamjet-nowhere cannot be created \((permission denied|not permitted|ENOENT)\)\.$/,
    );
  });

  it('names DATABASE_URL when the path runs through a file', async () => {
    const file = join(dir, 'a-file');
    writeFileSync(file, 'not a folder');
    const message = await refusal(`sqlite:${file}/jamjet.db`);
    expect(message).toBe(`Cannot open the database of DATABASE_URL (sqlite:${file}/jamjet.db): a part of the folder ${file} is a file, not a folder.`);
  });

  it('names DATABASE_URL when the file is not a database, and leaves the file as it was', async () => {
    const file = join(dir, 'notes.txt');
    const text = 'These are notes, not an SQLite database.\n'.repeat(200);
    writeFileSync(file, text, { mode: 0o644 });
    const message = await refusal(`sqlite:${file}`);
    expect(message).toBe(`Cannot open the database of DATABASE_URL (sqlite:${file}): the file exists but is not an SQLite database.`);
    expect(readFileSync(file, 'utf8')).toBe(text);
    expect(statSync(file).mode & 0o777).toBe(0o644);
    expect(existsSync(`${file}-wal`)).toBe(false);
  });

  it('names DATABASE_URL when the path is a folder or a device, and leaves it as it was', async () => {
    expect(await refusal(`sqlite:${dir}`)).toBe(`Cannot open the database of DATABASE_URL (sqlite:${dir}): that path is a folder, not a database file.`);
    const mode = statSync('/dev/null').mode;
    expect(await refusal('sqlite:/dev/null')).toBe(
      'Cannot open the database of DATABASE_URL (sqlite:/dev/null): that path is a device, pipe or socket, not a database file.',
    );
    expect(statSync('/dev/null').mode).toBe(mode);
  });

  it('names the migration that failed', async () => {
    // A table in the way of 003_approvals: 001 and 002 apply, 003 cannot.
    const file = join(dir, 'in-the-way.db');
    const sqlite = new BetterSqlite3(file);
    sqlite.exec('CREATE TABLE approvals (id INTEGER PRIMARY KEY)');
    sqlite.close();
    const message = await refusal(`sqlite:${file}`);
    expect(message).toMatch(/^Migration 003_approvals failed: .*approvals.* already exists \(DATABASE_URL sqlite:/);
    expect(message).toContain("none of this start's migrations was applied");
    // 001 and 002 rolled back with 003: the file is as it was, and a fixed file migrates from the start.
    const after = new BetterSqlite3(file, { readonly: true });
    const tables = after.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name").all();
    after.close();
    expect(tables).toEqual([{ name: 'approvals' }]);
  });

  it('stops npm start with that one line and exit code 1', () => {
    const root = fileURLToPath(new URL('../../', import.meta.url));
    const file = join(dir, 'also-notes.txt');
    writeFileSync(file, 'plain text');
    // From an empty folder, so no developer's .env takes part; tsx by path, as that folder has no node_modules.
    const tsx = pathToFileURL(join(root, 'node_modules/tsx/dist/loader.mjs')).href;
    const result = spawnSync(process.execPath, ['--import', tsx, join(root, 'src/main.ts')], {
      cwd: dir,
      env: { PATH: process.env.PATH ?? '', SLACK_BOT_TOKEN: 'xoxb-1', SLACK_SIGNING_SECRET: 'ab'.repeat(16), DATABASE_URL: `sqlite:${file}` },
      encoding: 'utf8',
      timeout: 20_000,
    });
    expect(result.status).toBe(1);
    const lines = result.stdout.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(JSON.parse(lines[0]!)).toMatchObject({
      level: 'error',
      msg: `Cannot open the database of DATABASE_URL (sqlite:${file}): the file exists but is not an SQLite database.`,
    });
    expect(result.stderr).toBe('');
  });
});

describe('npm start when something unexpected happens', () => {
  const dir = mkdtempSync(join(tmpdir(), 'jamjet-unexpected-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const root = fileURLToPath(new URL('../../', import.meta.url));
  const tsx = pathToFileURL(join(root, 'node_modules/tsx/dist/loader.mjs')).href;
  const start = (cwd: string, env: Record<string, string>, imports: string[] = []) =>
    spawnSync(process.execPath, ['--import', tsx, ...imports.flatMap((i) => ['--import', i]), join(root, 'src/main.ts')], {
      cwd,
      env: { PATH: process.env.PATH ?? '', SLACK_BOT_TOKEN: 'xoxb-1', SLACK_SIGNING_SECRET: 'ab'.repeat(16), ...env },
      encoding: 'utf8',
      timeout: 20_000,
    });

  it('names .env in one line when it cannot be read', () => {
    const cwd = join(dir, 'env-is-a-folder');
    mkdirSync(join(cwd, '.env'), { recursive: true });
    const result = start(cwd, {});
    expect(result.status).toBe(1);
    expect(result.stderr).toBe(
      'Configuration error: .env cannot be read (it is not a readable file of NAME=value lines); fix or remove it, or set the variables in the environment.\n',
    );
    expect(result.stdout).toBe('');
  });

  it('writes an uncaught error as one redacted JSON line with its stack and cause, and exits 1', async () => {
    // Slack's API accepts the connection and never answers (spawnSync blocks this process), so start-up is still waiting when the error is thrown.
    const silentSlack = createServer();
    await new Promise<void>((resolve) => silentSlack.listen(0, '127.0.0.1', resolve));
    const slackPort = (silentSlack.address() as AddressInfo).port;
    const silent = join(dir, 'throws.mjs');
    writeFileSync(
      silent,
      "setTimeout(() => { throw new Error('boom with xoxb-1234-5678-abcdefghijkl', { cause: new Error('deeper ' + 'jj_' + 'ab'.repeat(16)) }); }, 2000);\n",
    );
    const result = start(dir, { SLACK_API_URL: `http://127.0.0.1:${slackPort}/api/`, DATABASE_URL: `sqlite:${join(dir, 'j.db')}` }, [
      pathToFileURL(silent).href,
    ]);
    silentSlack.close();
    expect(result.status).toBe(1);
    expect(result.stderr).toBe('');
    const lines = result.stdout.trim().split('\n');
    const last = JSON.parse(lines.at(-1)!) as { level: string; msg: string; error: { message: string; stack: string; cause: { message: string } } };
    expect(last).toMatchObject({ level: 'error', msg: 'unexpected error; stopping' });
    expect(last.error.stack).toContain('throws.mjs');
    expect(last.error.cause.message).toMatch(/^deeper /);
    expect(result.stdout).not.toContain('xoxb-1234');
    expect(result.stdout).not.toContain('ab'.repeat(16));
  });
});
